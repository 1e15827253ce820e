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
    """Every regular file below `root` as relative POSIX path → bytes (hidden entries skipped).

    Whatever is read here is committed and pushed, so a symbolic link (to a file or a folder) is followed only
    when its target lies inside `root`; one that leads out is refused, naming the link and not its target.
    Linked folders are not descended into (a link to an ancestor would never end).
    """
    if not root.is_dir():
        raise InputError(f"{root}: catalog directory not found")
    real_root = root.resolve()
    files: dict[str, bytes] = {}
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and _inside(here / d, real_root, problems))
        for name in sorted(filenames):
            full = here / name
            if name.startswith(".") or not _inside(full, real_root, problems):
                continue
            files[full.relative_to(root).as_posix()] = full.read_bytes()
    if problems:
        raise InputError(problems)
    return files


def _inside(path: Path, real_root: Path, problems: list[str]) -> bool:
    """True unless `path` is a symbolic link leading out of `real_root` (then the problem is recorded)."""
    if not path.is_symlink():
        return True
    target = path.resolve()
    if target == real_root or real_root in target.parents:
        return True
    problems.append(
        f"{path}:1: a symbolic link leading out of its catalog folder; only files inside the folder are read "
        "(copy the file in instead of linking it)"
    )
    return False


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
