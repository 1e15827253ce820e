"""Work on a second core through a forked child: same result as in-process, failures redone here, no strays."""

from __future__ import annotations

import os
import threading
import time

import pytest

from gitops_engine.adapters import forked


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-xdist workers run helper threads, which (rightly) turn forking off; these tests fork pure work only
    monkeypatch.setattr(forked, "second_core_available", lambda: True)


def test_the_result_comes_back_from_another_process(two_cores: None) -> None:
    parent = os.getpid()
    with forked.in_child(lambda: (os.getpid(), [{"n": i, "s": str(i) * 50} for i in range(20000)])) as pending:
        pid, rows = pending.result()
    assert pid != parent
    assert rows == [{"n": i, "s": str(i) * 50} for i in range(20000)]  # far more than a pipe buffer holds


def test_a_child_that_fails_is_redone_here_where_errors_surface(two_cores: None) -> None:
    parent = os.getpid()

    def only_here() -> int:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return 42

    with forked.in_child(only_here) as pending:
        assert pending.result() == 42

    def always() -> int:
        raise ValueError("a real error")

    with pytest.raises(ValueError, match="a real error"), forked.in_child(always) as pending:
        pending.result()


def test_leaving_the_block_stops_the_child(two_cores: None) -> None:
    start = time.monotonic()
    with forked.in_child(lambda: time.sleep(60)) as pending:
        pid = pending._pid
    assert pid is not None
    assert time.monotonic() - start < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left behind


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert forked.second_core_available() is False
        with forked.in_child(os.getpid) as pending:
            assert pending.result() == os.getpid()
    finally:
        stop.set()
        helper.join()
