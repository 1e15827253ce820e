"""Credentials for private chart repositories, read from the Secret a source names in `spec.secretRef`.

The scan finds the Secret in the source's cluster and namespace (updates.scan); here its file is read from the
repository and, when SOPS-encrypted (as a fleet repository keeps Secrets), decrypted with the identities of the
one discovery order (adapters.agekeys: the --age-key file first). Flux reads `username` and `password` from the
Secret; a `kubernetes.io/dockerconfigjson` Secret (what `flux create secret oci` writes for an OCIRepository) gives the
`auths` entry of the registry's host. The values stay in memory and go to the lookup's Authorization header
only: never to argv, a log line, a message or a cache.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitops_engine.adapters import git
from gitops_engine.adapters.agekeys import all_identities
from gitops_engine.core.errors import GitopsError
from gitops_engine.model.credentials import Credentials
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import to_plain
from gitops_engine.updates.uses import ChartSource, SecretRef

DOCKER_CONFIG = ".dockerconfigjson"


class _UnusableSecretError(GitopsError):
    """A Secret that holds no credentials this lookup can use (the message names what is missing, no value)."""


def with_credentials(
    sources: Sequence[ChartSource],
    repo: git.Repository,
    tree: str,
    age_key: Path | None = None,
) -> tuple[tuple[ChartSource, ...], dict[str, str]]:
    """`sources` with the credentials of their Secrets attached, and why each source left out could not get
    them (by URL): such a source is not looked up, since an anonymous request would only be refused. `age_key` is
    the identity file tried first."""
    found: list[ChartSource] = []
    failures: dict[str, str] = {}
    known: list[str] | None = None

    def keys() -> list[str]:
        nonlocal known
        if known is None:  # discovered once, and only when some source has a Secret
            known = all_identities(key_file=age_key)
        return known

    for source in sources:
        secret = source.secret
        if secret is None:
            found.append(source)
            continue
        try:
            auth = _credentials(secret, git.read_file(repo, tree, secret.path) if secret.path else None, source, keys)
        except GitopsError as exc:
            failures[source.url] = f"no credentials from {secret.name}: {exc}"
            continue
        found.append(replace(source, auth=auth))
    return tuple(found), failures


def _credentials(
    secret: SecretRef, data: bytes | None, source: ChartSource, identities: Callable[[], Iterable[str]]
) -> Credentials:
    if data is None:
        raise _UnusableSecretError("the cluster does not define this Secret in the repository (add it, SOPS-encrypted)")
    meta = sopsfile.read_metadata(data, Format.YAML, secret.path)
    if meta is None:
        documents = sopsfile.parse_plain(data, Format.YAML, secret.path)
    else:
        documents = sopsfile.open_encrypted(data, Format.YAML, identities(), secret.path).documents
    document = to_plain(documents[secret.doc]) if secret.doc < len(documents) else None
    if not isinstance(document, dict):
        raise _UnusableSecretError(f"{secret.path}: document {secret.doc + 1} is not the Secret")
    values = _values(document, secret.path)
    if DOCKER_CONFIG in values:
        return _from_docker_config(values[DOCKER_CONFIG], source.url, secret.path)
    username, password = values.get("username"), values.get("password")
    if not username or password is None:
        raise _UnusableSecretError(f"{secret.path}: the Secret has no username and password (the keys Flux reads)")
    return Credentials(username, password)


def _values(document: Mapping[str, Any], path: str) -> dict[str, str]:
    """The Secret's values as the API server stores them: `data` base64-decoded, `stringData` over it."""
    values: dict[str, str] = {}
    data = document.get("data")
    for key, encoded in data.items() if isinstance(data, dict) else ():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _UnusableSecretError(f"{path}: data.{key} is not base64 of UTF-8 text") from None
    string_data = document.get("stringData")
    for key, text in string_data.items() if isinstance(string_data, dict) else ():
        values[str(key)] = str(text)
    return values


def _from_docker_config(text: str, url: str, path: str) -> Credentials:
    """The `auths` entry of the registry `url` is on, as Docker and Flux pick it (the host, with or without a
    scheme or a path)."""
    try:
        auths = json.loads(text).get("auths")
    except (ValueError, AttributeError):
        auths = None
    if not isinstance(auths, dict):
        raise _UnusableSecretError(f"{path}: {DOCKER_CONFIG} is not a Docker config with `auths`")
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
        raise _UnusableSecretError(f"{path}: the {DOCKER_CONFIG} entry for {host} has no username and password")
    raise _UnusableSecretError(f"{path}: {DOCKER_CONFIG} has no entry for {host}")
