"""Local files: read a directory into memory, read a text file with a user-facing error, write atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gitops_engine.core.errors import InputError


def read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes, or an InputError saying which file is missing and what it is for."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: {what} not found (check the path)") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, expected {what}") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: cannot read {what}: permission denied") from exc


def read_directory(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` as relative POSIX path → bytes (hidden entries skipped)."""
    if not root.is_dir():
        raise InputError(f"{root}: catalog directory not found")
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            files[full.relative_to(root).as_posix()] = full.read_bytes()
    return files


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
