"""Age identities in one documented order, key generation, and `.sops.yaml` discovery.

Every command that opens encrypted files (`secrets decrypt/updatekeys/rotate`, and `seed` and `reconcile` when
they check whether a Secret changed) tries identities in this order, all of them, until one opens the file:

1. the file given with `--age-key` (or `GITOPS_ENGINE_AGE_KEY`);
2. sops's own sources, in sops 3.13's order (`loadIdentities`, age part): `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
   `SOPS_AGE_KEY_CMD` (run through the command adapter), then `$XDG_CONFIG_HOME/sops/age/keys.txt`;
3. the keys `seed` generates: `$XDG_CONFIG_HOME/gitops-engine/age/*.agekey`, by name.

`$XDG_CONFIG_HOME` defaults to `~/.config`. Identities are never logged.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters.command import Command, run, withhold
from gitops_engine.core.errors import InputError
from gitops_engine.secrets.agekeys import generate_identity, parse_identities

_MAX_LEVELS = 100


@dataclass(frozen=True)
class IdentitySource:
    """Where a group of identities came from (shown to users; never the keys themselves)."""

    origin: str
    identities: tuple[str, ...]


def _config_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".config"))


def user_keys_file(env: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`."""
    return _config_home(env) / "sops" / "age" / "keys.txt"


def engine_keys_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where `seed` keeps the identities it generates: `$XDG_CONFIG_HOME/gitops-engine/age/`."""
    return _config_home(os.environ if env is None else env) / "gitops-engine" / "age"


def discover_identities(env: Mapping[str, str] | None = None, key_file: Path | None = None) -> list[IdentitySource]:
    """Every identity to try, in the order of the module docstring, grouped by source."""
    env = os.environ if env is None else env
    sources: list[IdentitySource] = []
    if key_file is not None:
        sources.append(IdentitySource(f"--age-key {key_file}", tuple(_read_key_file(key_file, "--age-key"))))
    if env.get("SOPS_AGE_KEY"):
        withhold("SOPS_AGE_KEY")
        sources.append(IdentitySource("SOPS_AGE_KEY", tuple(env["SOPS_AGE_KEY"].split())))
    if env.get("SOPS_AGE_KEY_FILE"):
        path = Path(env["SOPS_AGE_KEY_FILE"]).expanduser()
        sources.append(IdentitySource(f"SOPS_AGE_KEY_FILE={path}", tuple(_read_key_file(path, "SOPS_AGE_KEY_FILE"))))
    if env.get("SOPS_AGE_KEY_CMD"):
        completed = run(Command(("sh", "-c", env["SOPS_AGE_KEY_CMD"]), timeout=60.0))
        sources.append(IdentitySource("SOPS_AGE_KEY_CMD", tuple(parse_identities(completed.stdout.decode()))))
    default = user_keys_file(env)
    if default.is_file():
        sources.append(IdentitySource(str(default), tuple(_read_key_file(default, str(default)))))
    engine_keys = engine_keys_dir(env)
    for path in sorted(engine_keys.glob("*.agekey")) if engine_keys.is_dir() else ():
        sources.append(IdentitySource(str(path), tuple(_read_key_file(path, str(path)))))
    return sources


def all_identities(env: Mapping[str, str] | None = None, key_file: Path | None = None) -> list[str]:
    """The identities of `discover_identities`, flattened in order, each once (the key seed wrote may also be
    named by --age-key or SOPS_AGE_KEY_FILE)."""
    found = [identity for source in discover_identities(env, key_file) for identity in source.identities]
    return list(dict.fromkeys(found))


def _read_key_file(path: Path, origin: str) -> list[str]:
    try:
        return parse_identities(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}:1: cannot read age key file named by {origin} ({exc.strerror})") from exc


def write_identity(path: Path, pair: tuple[str, str] | None = None) -> str:
    """Write the (identity, recipient) `pair` (a new one when None) to `path` with mode 0600; return its recipient.

    An existing key is never overwritten; an empty file (what a crash while writing a key used to leave) holds no
    key and is replaced. The key is written whole to a temporary file, flushed to disk and only then linked into
    place, so a crash at any moment leaves either no key file or a complete one.
    """
    if _holds_something(path):
        raise InputError(f"{path}: already exists (choose another path; an existing key is never overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    identity, recipient = pair or generate_identity()
    # created 0600 from the start, so the key is never readable by others even for a moment
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# public key: {recipient}\n{identity}\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            if _holds_something(path):
                raise InputError(f"{path}: another run wrote a key here meanwhile; it is kept, run again") from None
            Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    _sync_directory(path.parent)
    return recipient


def _holds_something(path: Path) -> bool:
    try:
        return bool(path.read_bytes().strip())
    except FileNotFoundError:
        return False


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def find_config(start: Path) -> Path | None:
    """The nearest `.sops.yaml` from `start` upward (at most 100 levels), as sops searches."""
    current = start.resolve()
    if current.is_file():
        current = current.parent
    for _ in range(_MAX_LEVELS):
        candidate = current / ".sops.yaml"
        if candidate.is_file():
            return candidate
        if current.parent == current:
            return None
        current = current.parent
    return None
