"""Where a repository is published: a local bare repository, a plain git remote, or a Gitea server.

Targets are named by URL (`--repo`, `repository:` in the spec) or by a `gitea:` block. Tokens are never
part of a target: the block names an environment variable or a file, read only when the token is needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gitops_engine.adapters import command
from gitops_engine.core.errors import InputError
from gitops_engine.core.urls import CREDENTIALS_FIX, has_credentials, redacted

# `user@host:path` (scp-like ssh); a Windows drive letter is not a host, and `host:path` with a `/` before the
# colon is a local path, the same rule git applies.
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?[^@/:]{2,}:(?!//)")


@dataclass(frozen=True)
class LocalTarget:
    """A bare repository on this machine, written directly through pygit2."""

    path: Path


@dataclass(frozen=True)
class RemoteTarget:
    """Any git remote reached through the system `git` and the user's own credentials."""

    url: str


@dataclass(frozen=True)
class SecretSource:
    """Where a secret comes from: an environment variable or a file; `origin` is the spec's file:line."""

    origin: str
    env: str | None = None
    file: Path | None = None

    def read(self) -> str:
        """The secret value (stripped); InputError naming `origin` when it is unset or unreadable."""
        if self.env is not None:
            command.withhold(self.env)
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise InputError(f"{self.origin}: environment variable {self.env} is not set (export it and rerun)")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"{self.origin}: cannot read {self.file} ({exc.strerror}); point it at a token file"
            ) from exc
        if not value:
            raise InputError(f"{self.origin}: {self.file} is empty; write the token into it")
        return value


@dataclass(frozen=True)
class GiteaUser:
    """A user the admin credentials create when missing (the Kommander flow's Gitea admin user)."""

    username: str
    email: str
    password: SecretSource


@dataclass(frozen=True)
class GiteaTarget:
    """A repository on a Gitea server, created (with its owner) when missing."""

    server: str
    owner: str
    repository: str
    token: SecretSource
    admin_token: SecretSource | None = None
    create_user: GiteaUser | None = None

    @property
    def clone_url(self) -> str:
        """The smart-HTTP URL git pushes to."""
        return f"{self.server}/{self.owner}/{self.repository}.git"


Target = LocalTarget | RemoteTarget | GiteaTarget


def parse_target(value: str, origin: str = "--repo") -> LocalTarget | RemoteTarget:
    """Classify a repository URL or path; `origin` (a flag or file:line) is named in errors."""
    text = value.strip()
    if not text:
        raise InputError(f"{origin}: the repository is empty; give a path, file://, https://, ssh:// or user@host:path")
    if "://" not in text and _SCP_LIKE.match(text):
        return RemoteTarget(text)
    scheme = urlsplit(text).scheme.lower()
    if scheme == "file":
        path = unquote(urlsplit(text).path)
        if not path:
            raise InputError(f"{origin}: {text!r} has no path; write file:///absolute/path/repo.git")
        return LocalTarget(Path(path))
    if scheme in ("http", "https", "ssh", "git"):
        parts = urlsplit(text)
        if not parts.hostname:
            raise InputError(f"{origin}: {redacted(text)!r} has no host; write {scheme}://host/owner/repo.git")
        if has_credentials(text):
            raise InputError(f"{origin}: {CREDENTIALS_FIX}")
        return RemoteTarget(text)
    if "://" in text:
        raise InputError(f"{origin}: unsupported URL scheme {scheme!r}; use a path, file://, https:// or ssh://")
    return LocalTarget(Path(text).expanduser())


def gitea_target(block: Mapping[str, object], origin: str) -> GiteaTarget:
    """Read a spec's `gitea:` block (url, owner, repository, tokenEnv | tokenFile, optional admin)."""
    # `token` is accepted here only to be refused with a better message by _secret
    allowed = {"url", "owner", "repository", "token", "tokenEnv", "tokenFile", "admin"}
    _reject_unknown(block, allowed, "gitea", origin)
    server = _text(block, "url", "gitea", origin).rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{origin}: gitea.url {server!r} must be http(s)://host[:port][/path]")
    if parts.username or parts.password:
        raise InputError(f"{origin}: gitea.url must not carry credentials; use gitea.tokenEnv or gitea.tokenFile")
    admin_token: SecretSource | None = None
    create_user: GiteaUser | None = None
    admin = block.get("admin")
    if admin is not None:
        if not isinstance(admin, Mapping):
            raise InputError(f"{origin}: gitea.admin must be a mapping with tokenEnv | tokenFile and user")
        _reject_unknown(admin, {"token", "tokenEnv", "tokenFile", "user"}, "gitea.admin", origin)
        admin_token = _secret(admin, "token", "gitea.admin", origin)
        user = admin.get("user")
        if user is not None:
            if not isinstance(user, Mapping):
                raise InputError(f"{origin}: gitea.admin.user must be a mapping with username, email, passwordEnv")
            _reject_unknown(
                user, {"username", "email", "password", "passwordEnv", "passwordFile"}, "gitea.admin.user", origin
            )
            create_user = GiteaUser(
                username=_text(user, "username", "gitea.admin.user", origin),
                email=_text(user, "email", "gitea.admin.user", origin),
                password=_secret(user, "password", "gitea.admin.user", origin),
            )
    return GiteaTarget(
        server=server,
        owner=_text(block, "owner", "gitea", origin),
        repository=_text(block, "repository", "gitea", origin).removesuffix(".git"),
        token=_secret(block, "token", "gitea", origin),
        admin_token=admin_token,
        create_user=create_user,
    )


def _reject_unknown(block: Mapping[str, object], allowed: set[str], where: str, origin: str) -> None:
    unknown = sorted(str(k) for k in block if k not in allowed)
    if unknown:
        raise InputError(f"{origin}: unknown key {where}.{unknown[0]}; allowed: {', '.join(sorted(allowed))}")


def _text(block: Mapping[str, object], key: str, where: str, origin: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{origin}: {where}.{key} is required and must be a non-empty string")
    return value.strip()


def _secret(block: Mapping[str, object], stem: str, where: str, origin: str) -> SecretSource:
    env_key, file_key = f"{stem}Env", f"{stem}File"
    if stem in block:
        raise InputError(
            f"{origin}: {where}.{stem} must not hold the secret itself; name it with {env_key} or {file_key}"
        )
    has_env, has_file = env_key in block, file_key in block
    if has_env == has_file:
        raise InputError(f"{origin}: {where} needs exactly one of {env_key} and {file_key}")
    if has_env:
        return SecretSource(origin, env=_text(block, env_key, where, origin))
    return SecretSource(origin, file=Path(_text(block, file_key, where, origin)).expanduser())


def gitea_repository(url: str, token: SecretSource, origin: str = "--repo") -> GiteaTarget:
    """A Gitea repository named by its clone URL (`https://host[/prefix]/owner/repo.git`), reached with `token`."""
    parsed = parse_target(url, origin)
    parts = urlsplit(url.strip())
    segments = [s for s in parts.path.split("/") if s]
    if not isinstance(parsed, RemoteTarget) or parts.scheme not in ("http", "https") or len(segments) < 2:
        raise InputError(
            f"{origin}: {url!r} is not a Gitea repository URL; write http(s)://host[/prefix]/owner/repository.git"
        )
    prefix = "/".join(segments[:-2])
    server = f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    return GiteaTarget(server, segments[-2], segments[-1].removesuffix(".git"), token)
