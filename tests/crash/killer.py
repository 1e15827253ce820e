"""Run the gitops-engine CLI and kill -9 it at a chosen point: the Nth call of a chosen function.

Test-only: the function is wrapped here, before the CLI starts; nothing of this is in the package.

    CRASH_KILL_AT="module:attribute:N:when[:match]"  python -m tests.crash.killer seed -c platform.yaml ...

`attribute` may name a method (`Path.replace`). Only calls whose arguments' repr contains `match` are counted.
`when`: `before` — killed instead of making the Nth call; `after` — killed as it returns; `during` — the call
runs in a thread and the kill comes once the file named by CRASH_MARKER exists (a server hook writes it when
the exchange is half done). Without CRASH_KILL_AT the CLI simply runs.

The kill takes the whole process group when this process leads one (the tests start it with
start_new_session), as the end of a container takes the git children with it; otherwise only this process.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "CRASH_KILL_AT"
MARKER_ENV = "CRASH_MARKER"
_MARKER_WAIT = 30.0


def die() -> None:
    """SIGKILL: no cleanup, no flush, no finally blocks."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    """Wrap the function `point` names so that its Nth matching call kills the process."""
    module_name, attribute, count, when, *rest = point.split(":", 4)
    match = rest[0] if rest else ""
    owner: Any = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original: Callable[..., Any] = getattr(owner, name)
    wanted = int(count)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if match and match not in repr(args) + repr(kwargs):
            return original(*args, **kwargs)
        calls += 1
        if calls != wanted:
            return original(*args, **kwargs)
        if when == "before":
            die()
        if when == "during":
            worker = threading.Thread(target=original, args=args, kwargs=kwargs, daemon=True)
            worker.start()
            _wait_for_marker()
            die()
        result = original(*args, **kwargs)
        die()
        return result

    setattr(owner, name, wrapper)


def _wait_for_marker() -> None:
    marker = Path(os.environ[MARKER_ENV])
    deadline = time.monotonic() + _MARKER_WAIT
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def main() -> int:
    """Install the kill point (if any) and run the CLI with this process's arguments."""
    point = os.environ.get(ENV)
    if point:
        install(point)
    from gitops_engine.cli.main import main as cli

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
