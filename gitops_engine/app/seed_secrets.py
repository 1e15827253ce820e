"""Secrets for seed: the age key, where each Secret's values come from, and encryption that keeps unchanged files.

Values come only from environment variables or files named in platform.yaml, or are generated (the Gitea admin
password) once; they exist in plaintext only in memory and leave it encrypted for the recipients of `.sops.yaml`.
"""

from __future__ import annotations

import os
import secrets as token_source
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters import agekeys as keyfiles
from gitops_engine.core.errors import GitopsError, InputError
from gitops_engine.model.platform import Platform, ValueSource
from gitops_engine.render.secrets import SecretNeed, secret_manifest
from gitops_engine.secrets.agekeys import parse_identities, recipient_of
from gitops_engine.secrets.sopsfile import encrypt_yaml, same_plaintext


@dataclass(frozen=True)
class AgeKey:
    """The age key seed encrypts for: recipients, the identity file (if ours), and whether it is new."""

    recipients: tuple[str, ...]
    key_file: Path | None
    generated: bool = False
    would_generate: bool = False


@dataclass(frozen=True)
class PendingSecret:
    """A Secret the fleet needs but the engine cannot write yet, and why."""

    path: str
    name: str
    namespace: str
    purpose: str
    reason: str


def default_key_file(platform_name: str) -> Path:
    """Outside any repository: `$XDG_CONFIG_HOME/gitops-engine/age/<platform>.agekey`."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gitops-engine" / "age" / f"{platform_name}.agekey"


def resolve_age_key(platform: Platform, key_file: Path | None, *, create: bool) -> AgeKey:
    """Recipients from the spec, else the key file's (generated on first use when `create`)."""
    if platform.age_recipients:
        return AgeKey(platform.age_recipients, None)
    path = key_file or default_key_file(platform.name)
    if path.exists():
        identities = parse_identities(path.read_text())
        if not identities:
            raise InputError(f"{path}:1: no AGE-SECRET-KEY line in this key file")
        return AgeKey(tuple(recipient_of(i) for i in identities[:1]), path)
    if not create:
        return AgeKey((), path, would_generate=True)
    return AgeKey((keyfiles.write_identity(path),), path, generated=True)


def identities_for(key: AgeKey) -> list[str]:
    """Identities that can open existing files: our key file plus whatever sops itself would find."""
    found = parse_identities(key.key_file.read_text()) if key.key_file and key.key_file.exists() else []
    return found + keyfiles.all_identities()


def secret_inputs(
    platform: Platform,
    needs: list[SecretNeed],
    existing: Mapping[str, str],
    spec_file: Path,
    key: AgeKey,
) -> tuple[dict[str, bytes | None], list[PendingSecret]]:
    """For each needed Secret: its plaintext manifest, None (keep the encrypted file there), or pending."""
    inputs: dict[str, bytes | None] = {}
    pending: list[PendingSecret] = []
    generated: dict[tuple[str, str], bytes] = {}
    for need in needs:
        sources = _sources_of(platform, need)
        if sources:
            data = {k: _read_value(v, k, spec_file) for k, v in sources.items()}
        elif need.path in existing:
            inputs[need.path] = None
            continue
        elif need.origin == "gitea-admin":
            # generated once and shared by every cluster that runs Gitea in this namespace
            password = generated.setdefault((need.namespace, need.name), token_source.token_urlsafe(24).encode())
            data = {"username": b"gitea-admin", "password": password}
        else:
            pending.append(_pending(need, "give git.credentials (env or file) in platform.yaml"))
            continue
        if not key.recipients:
            pending.append(_pending(need, f"no age key yet: seed generates {key.key_file}"))
            continue
        inputs[need.path] = secret_manifest(need, data)
    return inputs, pending


def encrypt_secrets(
    secrets: Mapping[str, bytes | None], existing_files: Mapping[str, bytes], key: AgeKey
) -> dict[str, bytes]:
    """Encrypted files: the existing ciphertext when its plaintext is unchanged (so no diff), else fresh."""
    identities: list[str] | None = None
    out: dict[str, bytes] = {}
    for path, manifest in secrets.items():
        current = existing_files.get(path)
        if manifest is None:
            if current is not None:
                out[path] = current
            continue
        if current is not None:
            identities = identities if identities is not None else identities_for(key)
            if _unchanged(current, manifest, identities):
                out[path] = current
                continue
        out[path] = encrypt_yaml(manifest, key.recipients, where=path)
    return out


def _unchanged(current: bytes, manifest: bytes, identities: list[str]) -> bool:
    if not identities:
        return False
    try:
        return same_plaintext(current, manifest, identities)
    except GitopsError:
        return False  # not ours to open, or damaged: write a fresh file


def _sources_of(platform: Platform, need: SecretNeed) -> Mapping[str, ValueSource]:
    if need.origin == "git-credentials":
        return platform.git.credentials
    if need.origin == "spec" and need.spec_index is not None:
        return platform.secrets[need.spec_index].data
    return {}


def _read_value(source: ValueSource, key: str, spec_file: Path) -> bytes:
    where = f"{spec_file}:{source.line}: {key}"
    if source.kind == "env":
        value = os.environ.get(source.ref)
        if value is None:
            raise InputError(f"{where}: environment variable {source.ref} is not set (export it, or use file:)")
        return value.encode()
    path = (spec_file.parent / source.ref).resolve()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: cannot read {source.ref} ({exc.strerror})") from exc


def _pending(need: SecretNeed, reason: str) -> PendingSecret:
    return PendingSecret(need.path, need.name, need.namespace, need.purpose, reason)
