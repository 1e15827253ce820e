"""CPU-bound pure work on a second core: a forked child computes, the parent collects the pickled result.

A fork shares the parent's memory copy-on-write, so the child reads the data it needs (a repository tree of
thousands of files) without it being sent; only the result travels back, through a pipe. Used only where it is
safe and pays: a platform with fork, more than one usable core, and no other thread in the process (a fork
copies only the calling thread, so a lock another thread held would stay locked in the child). Otherwise, and
whenever the child fails, the work runs in the calling process instead, where any error surfaces as usual.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def second_core_available() -> bool:
    """True when forking a worker can actually run beside this process."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not Linux: the core count is the best guess
        return (os.cpu_count() or 1) > 1


class Pending(Generic[T]):
    """A result being computed by a child (or, when no child could be used, to be computed on demand)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pid: int | None = None
        self._pipe: int | None = None
        if second_core_available():
            self._start()

    def _start(self) -> None:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            log.info("no worker process (%s): working in this one", exc)
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            status = 0
            try:
                os.close(read_end)
                payload = pickle.dumps(self._work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(payload)
            except BaseException:  # the parent redoes the work, and reports any error itself
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        self._pid, self._pipe = pid, read_end

    def result(self) -> T:
        """The child's result; the work done here instead if there was no child or it failed."""
        if self._pid is None or self._pipe is None:
            return self._work()
        with os.fdopen(self._pipe, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = self._pipe = None
        if status == 0 and payload:
            value: T = pickle.loads(payload)  # written by our own forked child
            return value
        log.info("worker process failed (status %d): working in this one", status)
        return self._work()

    def cancel(self) -> None:
        """Stop a child whose result is no longer wanted."""
        if self._pid is not None and self._pipe is not None:
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            os.close(self._pipe)
            self._pid = self._pipe = None


@contextmanager
def in_child(work: Callable[[], T]) -> Iterator[Pending[T]]:
    """`work()` started in a forked child for the duration of the block; `.result()` collects it."""
    pending = Pending(work)
    try:
        yield pending
    finally:
        pending.cancel()
