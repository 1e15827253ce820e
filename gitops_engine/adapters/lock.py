"""An exclusive flock on a file, so two scheduled runs on one repository never interleave (taken or refused at
once), and two runs never write one local object store at the same time (waited for).

The kernel drops an flock when its holder exits, however it exits, so a crashed run never leaves a stale lock.
The file itself stays in place: deleting it would let a third run lock a new inode while the second holds the old.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitops_engine.core.errors import LockedError

_POLL = 0.05  # seconds between tries while waiting for a holder


@contextmanager
def exclusive(path: Path, what: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock at `path` for the block, waiting up to `wait` seconds while another process has it; raise
    LockedError naming the holder when it still has it then."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while not _taken(fd):
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                held_for = _held_for(holder)
                message = f"{what} is locked by {holder or 'another process'} ({path}); nothing done"
                raise LockedError(message, held_for) from None
            time.sleep(_POLL)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp} ({int(now)})\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _taken(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _held_for(holder: str) -> float | None:
    """Seconds since the holder took the lock, read from its stamp (None when it has none)."""
    found = re.search(r"\((\d+)\)\s*$", holder)
    return time.time() - int(found.group(1)) if found else None
