"""Chart repositories and registries that fail: each faulty source fails alone, with its reason, in bounded time.

Every case runs the real CLI (`bump`, some also `report`) on a fleet with one good Helm repository and one faulty
source served by tests/faults/servers.py on 127.0.0.1. The good source must still be proposed, the faulty one
listed as failed with the reason written here, the exit code must be 1, nothing the server sent may reach the
terminal unescaped, and the run must end well inside a generous time bound.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import ChartSource, LookupFailure, LookupOptions, fetch_indexes
from gitops_engine.cli.main import main
from tests.faults.fleet import CHART, NEWER, PINNED, fleet
from tests.faults.servers import FaultServer, fault_server, gzip_bomb, helm_index

LIMIT = 64 << 20  # the default body limit, as the messages spell it
TIMEOUT, DEADLINE = 1, 3
# generous: a fault that is handled ends within about DEADLINE seconds
BOUND = 30.0


@dataclass(frozen=True)
class Case:
    """A fault, the words its failure must carry, and how many requests the server may see for it."""

    fault: str
    reason: str
    requests: int | None  # None: depends on timing, at most the three attempts

    def __str__(self) -> str:
        return self.fault


HELM_CASES = [
    Case("status-500", "HTTP 500 (gave up after 3 attempts)", 3),
    Case("hang", "timed out after 1 s", None),
    Case("trickle-headers", f"no complete answer within the time allowed ({DEADLINE} s)", 1),
    Case("trickle-body", f"no complete answer within the time allowed ({DEADLINE} s)", 1),
    Case("cut-without-length", "has no Content-Length and is not chunked", 1),
    Case("cut-short-of-length", "incomplete body (", 3),
    Case("cut-chunked", "incomplete body (IncompleteRead", 3),
    Case("cut-gzip", "incomplete body (the gzip stream stops before its end)", 3),
    Case("malformed-status", "malformed HTTP answer (", 1),
    Case("too-many-headers", "malformed HTTP answer (got more than 100 headers)", 1),
    Case("garbage", "index.yaml is not UTF-8 text", 1),
    Case("endless", f"the body is larger than the limit of {LIMIT} bytes", 1),
    Case("huge-announced", f"the body announces {200 << 20} bytes, more than the limit of {LIMIT}", 1),
    Case("huge-chunked", f"the body is larger than the limit of {LIMIT} bytes", 1),
    Case("gzip-bomb", f"the body is larger than the limit of {LIMIT} bytes un-gzipped", 1),
    Case("redirect-loop", "more than 5 redirects", 6),
    Case("redirect-ping-pong", "more than 5 redirects", 6),
    Case("redirect-to-file", "file:///etc/passwd is not http(s); redirects are followed to http(s) only", 1),
    Case("redirect-with-escapes", "URL can't contain control characters", 1),
]
OCI_CASES = [
    Case("status-500", "HTTP 500 (gave up after 3 attempts)", 3),
    Case("hang", "timed out after 1 s", None),
    Case("trickle-headers", f"no complete answer within the time allowed ({DEADLINE} s)", 1),
    Case("trickle-body", f"no complete answer within the time allowed ({DEADLINE} s)", 1),
    Case("cut-short-of-length", "incomplete body (", 3),
    Case("malformed-status", "malformed HTTP answer (", 1),
    Case("garbage", "the tag list is not JSON", 1),
    Case("endless", f"the body is larger than the limit of {LIMIT} bytes", 1),
    Case("gzip-bomb", f"the body is larger than the limit of {LIMIT} bytes un-gzipped", 1),
    Case("redirect-loop", "more than 5 redirects", 6),
    Case("redirect-to-file", "file:///etc/passwd is not http(s)", 1),
    Case("challenge-with-escapes", "HTTP 401 without a usable challenge (Negotiate \\x1b[31mred\\x1b[0m\\x00tail)", 1),
    Case("endless-pages", "the tag list did not end after 200 pages", 200),
]
REPORTED = {"status-500", "hang", "trickle-body", "cut-without-length", "gzip-bomb", "redirect-to-file"}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """The fault server, offering chart `demo` at 1.0.0 and 1.1.0 as an index and as tags."""
    gzip_bomb()  # built before any client waits for it: building takes longer than the test's read timeout
    with fault_server(helm_index({CHART: [NEWER, PINNED]}), [PINNED, NEWER]) as running:
        yield running


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lookups cache into the test's own directory."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object], str, float]:
    """Exit code, JSON answer, stderr and seconds taken by one in-process CLI run with short lookup limits."""
    limits = ["--lookup-timeout", str(TIMEOUT), "--lookup-deadline", str(DEADLINE)]
    started = time.monotonic()
    code = main([*argv, *limits])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x00" not in captured.out + captured.err
    answer: dict[str, object] = json.loads(captured.out)
    return code, answer, captured.err, elapsed


def check_bump(repo: Path, bad_url: str, case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    """`bump` proposes the good source's update, lists the bad one with its reason and exits 1 in time."""
    code, answer, err, elapsed = run_cli(["bump", "--repo", str(repo), "--dry-run", "--json"], capsys)
    assert code == 1
    proposals = answer["proposals"]
    assert isinstance(proposals, list)
    assert [(p["file"], p["current"], p["proposed"]) for p in proposals] == [
        ("clusters/c/apps/good-app.yaml", PINNED, NEWER)
    ]
    failures = answer["lookupFailures"]
    assert isinstance(failures, dict) and list(failures) == [bad_url]
    assert case.reason in failures[bad_url]
    assert "proxy" not in failures[bad_url]
    assert err.startswith(f"lookup failed: {failures[bad_url]}\n")  # the message names the URL: said once
    assert elapsed < BOUND


def check_report(repo: Path, bad_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`report` rates the good source, marks the bad one's row and exits 1 in time."""
    code, answer, err, elapsed = run_cli(["report", "--repo", str(repo), "--json"], capsys)
    assert code == 1
    rows = answer["rows"]
    assert isinstance(rows, list)
    failures = answer["lookupFailures"]
    assert isinstance(failures, dict) and list(failures) == [bad_url]
    assert sorted((r["file"], r["newest_minor"], r["note"]) for r in rows) == [
        ("clusters/c/apps/bad-app.yaml", None, f"lookup failed: {failures[bad_url]}"),
        ("clusters/c/apps/good-app.yaml", NEWER, ""),
    ]
    assert f"lookup failed: {failures[bad_url]}\n" in err
    assert elapsed < BOUND


def requests_seen(server: FaultServer, case: Case) -> int:
    if case.fault == "redirect-ping-pong":
        return server.requests["redirect-ping-pong"] + server.requests["redirect-pong-ping"]
    return server.requests[case.fault]


@pytest.mark.parametrize("case", HELM_CASES, ids=str)
def test_a_failing_helm_repository_fails_alone_with_its_reason(
    case: Case, server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_url = server.helm(case.fault)
    repo = fleet(tmp_path / "fleet.git", {"good": server.helm("ok"), "bad": bad_url})

    check_bump(repo, bad_url, case, capsys)

    seen = requests_seen(server, case)
    assert seen == case.requests if case.requests is not None else 1 <= seen <= 3, seen
    if case.fault in REPORTED:
        check_report(repo, bad_url, capsys)


@pytest.mark.parametrize("case", OCI_CASES, ids=str)
def test_a_failing_oci_registry_fails_alone_with_its_reason(
    case: Case, server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_url = server.oci(case.fault)
    repo = fleet(tmp_path / "fleet.git", {"good": server.helm("ok"), "bad": bad_url})

    check_bump(repo, bad_url, case, capsys)

    seen = requests_seen(server, case)
    assert seen == case.requests if case.requests is not None else 1 <= seen <= 3, seen
    if case.fault == "hang":
        check_report(repo, bad_url, capsys)


def test_a_refused_connection_fails_alone(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        bad_url = f"http://127.0.0.1:{unused.getsockname()[1]}"  # bound, never listening: connections are refused
        repo = fleet(tmp_path / "fleet.git", {"good": server.helm("ok"), "bad": bad_url})
        check_bump(repo, bad_url, Case("refused", "connection failed (", None), capsys)


def test_cut_short_indexes_are_never_cached(
    server: FaultServer, tmp_path: Path, private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fault in ("cut-without-length", "cut-short-of-length", "cut-chunked", "cut-gzip"):
        repo = fleet(tmp_path / f"{fault}.git", {"good": server.helm("ok"), "bad": server.helm(fault)})
        run_cli(["bump", "--repo", str(repo), "--dry-run", "--json"], capsys)
    # only the good index was recorded (once: the same content every time) and parsed
    assert len(list((private_cache / "gitops-engine" / "http-v1").iterdir())) == 1
    assert len(list((private_cache / "gitops-engine").glob("parsed-*/*/*.json"))) == 1


def test_the_run_deadline_leaves_no_source_waiting_for_ever(server: FaultServer, tmp_path: Path) -> None:
    # one worker and four trickling sources: the first uses the run's time, the others are not even started
    slow = [ChartSource(f"{server.helm('trickle-body')}?{n}") for n in range(4)]
    options = LookupOptions(cache_dir=tmp_path, workers=1, timeout=TIMEOUT, source_deadline=3, run_deadline=2)

    started = time.monotonic()
    results = fetch_indexes(slow, options)
    elapsed = time.monotonic() - started

    messages = [result.message for result in results.values() if isinstance(result, LookupFailure)]
    assert len(messages) == 4
    assert "no complete answer within the time allowed (2 s)" in messages[0]
    assert all("not looked up: other sources used up the 2 s all lookups may take" in m for m in messages[1:])
    assert server.requests["trickle-body"] == 1
    assert elapsed < 10


def test_bodies_that_never_end_keep_memory_bounded(server: FaultServer, tmp_path: Path) -> None:
    # a separate process, so that its peak memory is its own: three sources each try to make it hold 200 MB+
    faults = ("endless", "huge-chunked", "gzip-bomb")
    sources = {"good": server.helm("ok")} | {fault: server.helm(fault) for fault in faults}
    repo = fleet(tmp_path / "fleet.git", sources)
    code = "from gitops_engine.cli.main import entry; entry()"
    argv = [sys.executable, "-c", code, "bump", "--repo", str(repo), "--dry-run", "--json"]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out, err = tmp_path / "out", tmp_path / "err"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr)
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    while not pid and time.monotonic() - started < 120:
        time.sleep(0.05)
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if not pid:
        child.kill()
        pytest.fail("the bump did not end within 120 s")
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started

    assert child.returncode == 1, err.read_text()
    assert sorted(json.loads(out.read_bytes())["lookupFailures"]) == sorted(server.helm(f) for f in faults)
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < 400, f"peak memory {peak_mb:.0f} MB"
    assert elapsed < 60


def test_reconcile_counts_a_failed_lookup_as_a_failure_and_leaves_no_lock_behind(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_url = server.helm("status-500")
    repo = fleet(tmp_path / "fleet.git", {"good": server.helm("ok"), "bad": bad_url})
    for _ in range(2):  # the second pass runs too: nothing was left locked
        started = time.monotonic()
        assert main(["reconcile", "--repo", str(repo)]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert time.monotonic() - started < BOUND
        assert f"  lookup failed: GET {bad_url}/index.yaml: HTTP 500 (gave up after 3 attempts)" in lines
        assert any(line.startswith("bump: failed — ") and line.endswith(", 1 failed") for line in lines)
        assert any(line.startswith("bump: gitops-engine/demo-1: ") for line in lines)
