"""The flock of adapters.lock held by another process: refused at once, or waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_engine.adapters import lock
from gitops_engine.core.errors import LockedError
from tests.conftest import ROOT

HOLD = """
import sys, time
from pathlib import Path
from gitops_engine.adapters import lock
with lock.exclusive(Path(sys.argv[1]), "test"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    Path(sys.argv[1] + ".done").touch()  # the last thing done while holding it
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_held_lock_is_refused_at_once_naming_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "store.store-lock"
    holder = _holder(path, 30)
    try:
        with pytest.raises(LockedError, match=rf"locked by pid {holder.pid} on .* since"), lock.exclusive(path, "it"):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_lock_is_taken_once_its_holder_ends(tmp_path: Path) -> None:
    path = tmp_path / "store.store-lock"
    holder = _holder(path, 0.3)
    with lock.exclusive(path, "it", wait=30):
        assert Path(f"{path}.done").exists(), "taken while the holder still had it"
        assert path.read_text().startswith(f"pid {os.getpid()} on ")
    holder.wait()


def test_a_waiting_lock_gives_up_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "store.store-lock"
    holder = _holder(path, 30)
    started = time.monotonic()
    try:
        with pytest.raises(LockedError, match="nothing done"), lock.exclusive(path, "it", wait=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert time.monotonic() - started < 10
