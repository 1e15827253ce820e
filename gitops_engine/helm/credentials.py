"""How Flux reads a chart source's credentials from the Secret its `spec.secretRef` names.

`username` and `password`, or, in a `kubernetes.io/dockerconfigjson` Secret (what `flux create secret oci`
writes), the `auths` entry of the registry's host. One reading for the bot's lookups (app.chart_credentials) and
for rendering (validate.helmreleases), so a chart the bot can look up is one it can render. Errors name what is
missing, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gitops_engine.model.credentials import Credentials

DOCKER_CONFIG = ".dockerconfigjson"


class CredentialsError(ValueError):
    """The Secret holds no credentials for the source; the message says what is missing."""


def secret_values(document: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values as the API server stores them: `data` base64-decoded, `stringData` over it."""
    values: dict[str, str] = {}
    data = document.get("data")
    for key, encoded in data.items() if isinstance(data, Mapping) else ():
        try:
            values[str(key)] = base64.b64decode(str(encoded or ""), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"data.{key} is not base64 of UTF-8 text") from None
    string_data = document.get("stringData")
    for key, text in string_data.items() if isinstance(string_data, Mapping) else ():
        values[str(key)] = "" if text is None else str(text)
    return values


def source_credentials(values: Mapping[str, str], url: str) -> Credentials:
    """The credentials the Secret's `values` hold for the source at `url`."""
    if DOCKER_CONFIG in values:
        return _from_docker_config(values[DOCKER_CONFIG], url)
    username, password = values.get("username"), values.get("password")
    if not username or password is None:
        raise CredentialsError("the Secret has no username and password (the keys Flux reads)")
    return Credentials(username, password)


def _from_docker_config(text: str, url: str) -> Credentials:
    """The `auths` entry of the registry `url` is on, as Docker and Flux pick it (the host, with or without a
    scheme or a path)."""
    try:
        auths = json.loads(text).get("auths")
    except (ValueError, AttributeError):
        auths = None
    if not isinstance(auths, dict):
        raise CredentialsError(f"{DOCKER_CONFIG} is not a Docker config with `auths`")
    host = urlsplit(url).netloc.rpartition("@")[2]
    for key, entry in auths.items():
        name = str(key).split("://", 1)[-1].split("/", 1)[0]
        if name != host or not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password") is not None:
            return Credentials(str(entry["username"]), str(entry["password"]))
        try:
            pair = base64.b64decode(str(entry.get("auth", "")), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pair = ""
        username, colon, password = pair.partition(":")
        if username and colon:
            return Credentials(username, password)
        raise CredentialsError(f"the {DOCKER_CONFIG} entry for {host} has no username and password")
    raise CredentialsError(f"{DOCKER_CONFIG} has no entry for {host}")
