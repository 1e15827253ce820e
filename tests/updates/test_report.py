"""The currency report: windows per seed 004, JSON/text CLI, and the HTML page as Chromium shows it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gitops_engine.cli.main import main
from gitops_engine.updates.policy import Policy, parse_policy
from gitops_engine.updates.report import Status, build_report, render_html
from gitops_engine.updates.scan import scan_tree
from tests.updates.support import NOW, commit_tree, synthetic_index
from tests.updates.test_policy import REPO, URL, release


def report_for(version: str, versions: dict[str, int], policy: Policy | None = None) -> tuple[Status, int, str]:
    files = {"clusters/c/repo.yaml": REPO, "clusters/c/app.yaml": release("app", version)}
    index = synthetic_index(URL, "app", {v: NOW - timedelta(days=d) for v, d in versions.items()})
    (row,) = build_report(scan_tree(files), {URL: index}, policy or Policy(), NOW)
    return row.status, row.days_behind, f"{row.newest_patch}/{row.newest_minor}/{row.newest_major}"


def test_currency_windows() -> None:
    assert report_for("1.2.0", {"1.2.0": 90}) == (Status.OK, 0, "None/None/None")
    assert report_for("1.2.0", {"1.2.0": 90, "1.2.1": 40}) == (Status.OK, 40, "1.2.1/None/None")
    assert report_for("1.2.0", {"1.2.0": 90, "1.3.0": 20}) == (Status.DUE, 20, "None/1.3.0/None")
    assert report_for("1.2.0", {"1.2.0": 90, "1.3.0": 31}) == (Status.OVERDUE, 31, "None/1.3.0/None")
    assert report_for("1.2.0", {"1.2.0": 90, "2.0.0": 59}) == (Status.DUE, 59, "None/None/2.0.0")
    assert report_for("1.2.0", {"1.2.0": 90, "2.0.0": 61, "2.1.0-beta.1": 1})[0] is Status.OVERDUE
    strict = parse_policy(b"windows: {minor_days: 7}\n", "p.yaml")
    assert report_for("1.2.0", {"1.3.0": 10}, strict)[0] is Status.OVERDUE


class _Visible(HTMLParser):
    """The text a person sees: everything outside <head>, <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.cells: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("head", "style", "script")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("head", "style", "script")

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.text.append(data.strip())


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian chromium is not installed: apt-get install chromium (bash scripts/test installs it)")
    return found


def headless(args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    command = [chromium(), *flags, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def test_html_report_as_chromium_renders_it(tmp_path: Path) -> None:
    files = {
        "clusters/c/repo.yaml": REPO,
        "clusters/c/app.yaml": release("app", "1.2.0"),
        "clusters/c/late.yaml": release("late", "1.0.0"),
    }
    index = synthetic_index(URL, "app", {"1.2.0": NOW - timedelta(days=90), "1.3.0": NOW - timedelta(days=5)})
    late = synthetic_index(URL, "late", {"1.0.0": NOW - timedelta(days=300), "2.0.0": NOW - timedelta(days=100)})
    merged = type(index)(URL, {**index.charts, **late.charts})
    rows = build_report(scan_tree(files), {URL: merged}, Policy(), NOW)
    page = tmp_path / "report.html"
    page.write_text(render_html(rows, Policy(), NOW))
    assert not re.search(r"(src|href)=", page.read_text()), "the page must not load anything"

    dom = headless(["--dump-dom", page.as_uri()], tmp_path / "profile").stdout.decode()
    seen = _Visible()
    seen.feed(dom)
    text = " ".join(seen.text)
    assert "Chart currency report — 2026-11-22" in text
    assert "a new minor within 30 days, a new major within 60 days" in text
    assert "ok: 0 due: 1 overdue: 1 unknown: 0" in text
    assert "app app c clusters/c/app.yaml:8 1.2.0 - 1.3.0 - 5 due" in text
    assert "late late c clusters/c/late.yaml:8 1.0.0 - - 2.0.0 100 overdue" in text

    shot = tmp_path / "report.png"
    headless([f"--screenshot={shot}", "--window-size=1200,600", page.as_uri()], tmp_path / "profile2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_report_cli_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # nothing listens on port 9 of the loopback: the lookup fails, the row says so, and the exit code too
    repo = tmp_path / "fleet.git"
    commit_tree(
        repo,
        {
            "clusters/c/repo.yaml": REPO.replace(URL.encode(), b"http://127.0.0.1:9"),
            "clusters/c/app.yaml": release("app", "1.2.0"),
        },
    )
    out = tmp_path / "r.html"
    assert main(["report", "--repo", str(repo), "--json", "--html", str(out)]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    rows = report["rows"]
    assert rows[0]["status"] == "unknown" and rows[0]["note"].startswith("lookup failed: GET http://127.0.0.1:9/index")
    assert list(report["lookupFailures"]) == ["http://127.0.0.1:9"]
    assert captured.err.startswith("lookup failed: http://127.0.0.1:9: ")
    assert "<table>" in out.read_text()
