"""Local files: read a directory into memory, read a text file with a user-facing error, write atomically."""

from __future__ import annotations

import os
import stat
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


# A catalog folder is a few hundred small files (the built-in one: 65 files, 400 KB); these bound what a path
# named by mistake (a home folder, `/`, `/proc/self`) can make a run read
MAX_FILES = 10_000
MAX_TOTAL_BYTES = 64 * 1024 * 1024


class FolderTooLargeError(InputError):
    """A folder holds more files or bytes than a catalog folder may; `reason` says which limit."""

    def __init__(self, root: Path, reason: str) -> None:
        super().__init__(f"{root}: {reason}")
        self.reason = reason


def read_directory(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` as relative POSIX path → bytes (hidden entries skipped).

    Whatever is read here is committed and pushed, so a symbolic link (to a file or a folder) is followed only
    when its target lies inside `root`; one that leads out is refused, naming the link and not its target.
    Linked folders are not descended into (a link to an ancestor would never end). Anything but a regular file
    (a FIFO would block the read, a device never end) is refused, and the walk stops at MAX_FILES files or
    MAX_TOTAL_BYTES bytes (FolderTooLargeError).
    """
    if not root.is_dir():
        raise InputError(f"{root}: catalog directory not found")
    real_root = root.resolve()
    files: dict[str, bytes] = {}
    problems: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and _inside(here / d, real_root, problems))
        for name in sorted(filenames):
            full = here / name
            if name.startswith(".") or not _inside(full, real_root, problems):
                continue
            if len(files) == MAX_FILES:
                raise FolderTooLargeError(root, f"holds more than {MAX_FILES:,} files")
            data = _read_regular(full, MAX_TOTAL_BYTES - total, problems)
            if data is None:
                continue
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise FolderTooLargeError(root, f"holds more than {MAX_TOTAL_BYTES // 2**20} MiB")
            files[full.relative_to(root).as_posix()] = data
    if problems:
        raise InputError(problems)
    return files


def _read_regular(path: Path, room: int, problems: list[str]) -> bytes | None:
    """The bytes of `path` (at most `room` + 1 of them), or None when it is not a regular file we may read (then
    the problem is recorded)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            problems.append(f"{path}:1: is not a regular file (a catalog folder holds plain files only)")
            return None
        with path.open("rb") as handle:
            return handle.read(room + 1)  # a file of /proc says its size is 0 whatever it holds
    except OSError as exc:
        problems.append(f"{path}:1: cannot be read: {exc.strerror} (a catalog folder holds plain files only)")
        return None


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
