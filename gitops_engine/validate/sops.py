"""Shape checks for SOPS-encrypted documents, without decrypting them (the key is not ours to hold)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gitops_engine.core.regexes import regex_problem
from gitops_engine.core.yamlio import LocatedDocument

ENCRYPTED_VALUE = re.compile(
    r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,"
    r"type:(str|int|float|bool|bytes|comment)\]$"
)
_KEY_SOURCES = ("age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "key_groups")
_REQUIRED = ("mac", "lastmodified", "version")

# (path inside the document, message, hint)
Problem = tuple[tuple[str | int, ...], str, str]


def is_sops_document(data: Any) -> bool:
    """True when the document carries a SOPS metadata block."""
    return isinstance(data, Mapping) and isinstance(data.get("sops"), Mapping)


def sops_problems(doc: LocatedDocument) -> Iterator[Problem]:
    """What is wrong with the SOPS metadata and encrypted values of `doc` (nothing for a sound file)."""
    data = doc.data
    meta = data["sops"]
    for key in _REQUIRED:
        if not meta.get(key):
            yield ("sops",), f"SOPS metadata has no {key}", "re-encrypt the file with sops; do not edit the sops block"
    mac = meta.get("mac")
    if mac and not ENCRYPTED_VALUE.match(str(mac)):
        yield ("sops", "mac"), "SOPS mac is not an ENC[AES256_GCM,...] value", "re-encrypt the file with sops"
    if not any(meta.get(source) for source in _KEY_SOURCES):
        yield ("sops",), "SOPS metadata lists no key group (age, pgp, kms, ...)", "encrypt for at least one recipient"
    if data.get("kind") == "Secret":
        yield from _plaintext_values(data, meta)


def _plaintext_values(data: Mapping[str, Any], meta: Mapping[str, Any]) -> Iterator[Problem]:
    encrypted_regex = meta.get("encrypted_regex")
    unencrypted_regex = meta.get("unencrypted_regex")
    suffix = meta.get("unencrypted_suffix") or ("_unencrypted" if not (encrypted_regex or unencrypted_regex) else None)
    for name, pattern in (("encrypted_regex", encrypted_regex), ("unencrypted_regex", unencrypted_regex)):
        problem = regex_problem(str(pattern)) if pattern else None
        if problem is not None:
            yield ("sops", name), f"sops.{name} {str(pattern)!r} {problem}", "re-encrypt the file with sops"
            return
    for field in ("data", "stringData"):
        values = data.get(field)
        if not isinstance(values, Mapping):
            continue
        if encrypted_regex and not re.search(str(encrypted_regex), field):
            continue
        if unencrypted_regex and re.search(str(unencrypted_regex), field):
            continue
        for key, value in values.items():
            if suffix and str(key).endswith(str(suffix)):
                continue
            if not ENCRYPTED_VALUE.match(str(value)):
                yield (
                    (field, key),
                    f"{field}.{key} is not encrypted although the file is a SOPS file",
                    "encrypt the file again with sops instead of editing values by hand",
                )
