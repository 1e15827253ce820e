"""The currency report: windows per seed 004, JSON/text CLI, and the HTML page as Chromium shows it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gitops_engine.cli.main import main
from gitops_engine.updates.policy import Policy, parse_policy
from gitops_engine.updates.report import Row, Status, build_report, render_html
from gitops_engine.updates.scan import scan_tree
from tests.lookups.servers import Route, serving
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
    assert captured.err.startswith("lookup failed: GET http://127.0.0.1:9/index.yaml: ")
    assert "<table>" in out.read_text()


def test_report_text_has_a_header_a_cluster_column_and_a_line_per_source_that_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one chart served on the loopback (a minor release 20 days old), one repository where nothing listens
    now = datetime.now(UTC)
    index = f"""apiVersion: v1
entries:
  app:
  - {{name: app, version: 1.3.0, created: "{(now - timedelta(days=20, hours=1)).isoformat()}", urls: [a.tgz]}}
  - {{name: app, version: 1.2.0, created: "{(now - timedelta(days=100)).isoformat()}", urls: [a.tgz]}}
""".encode()
    with serving() as charts:
        charts.routes["/index.yaml"] = Route(body=index)
        served, down = (
            REPO.replace(URL.encode(), charts.url.encode()),
            REPO.replace(URL.encode(), b"http://127.0.0.1:9"),
        )
        repo = tmp_path / "fleet.git"
        commit_tree(repo, {
            "clusters/east/repo.yaml": served, "clusters/east/app.yaml": release("app", "1.2.0"),
            "clusters/west/repo.yaml": served, "clusters/west/app.yaml": release("app", "1.2.0"),
            "clusters/lab/repo.yaml": down, "clusters/lab/tool.yaml": release("tool", "0.1.0"),
        })  # fmt: skip

        code = main(["report", "--repo", str(repo)])

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert code == 1
    assert lines[0].split() == ["STATUS", "APP", "CLUSTERS", "CURRENT", "PATCH", "MINOR", "MAJOR", "BEHIND", "FILE"]
    assert [line.split()[:8] for line in lines[1:]] == [
        ["due", "app", "east", "1.2.0", "-", "1.3.0", "-", "20d"],
        ["due", "app", "west", "1.2.0", "-", "1.3.0", "-", "20d"],
        ["unknown", "tool", "lab", "0.1.0", "-", "-", "-", "0d"],
    ]
    assert [line.split()[8] for line in lines[1:]] == [
        "clusters/east/app.yaml:8", "clusters/west/app.yaml:8", "clusters/lab/tool.yaml:8"
    ]  # fmt: skip
    # the cells line up under their heading
    assert lines[0].index("CLUSTERS") == lines[1].index("east") == lines[2].index("west") == lines[3].index("lab")
    assert lines[0].index("FILE") == lines[1].index("clusters/east/") == lines[3].index("clusters/lab/")
    assert err.startswith("lookup failed: GET http://127.0.0.1:9/index.yaml: ") and err.count("\n") == 1


def test_a_row_with_an_open_bot_pull_request_links_it_in_the_html_and_only_over_http() -> None:
    row = Row("app", "app", ("c",), "clusters/c/app.yaml", 8, "1.2.0", None, "1.3.0", None, 5, Status.DUE)
    linked = replace(row, pull_number=3, pull_url='https://gitea.example.invalid/o/r/pulls/3?a=1&b="2"')
    odd = replace(row, app="odd", pull_number=4, pull_url="javascript:alert(1)")
    page = render_html((row, linked, odd), Policy(), NOW)
    assert '<td><a href="https://gitea.example.invalid/o/r/pulls/3?a=1&amp;b=&quot;2&quot;">#3</a></td>' in page
    assert "<td>#4</td></tr>" in page and "javascript:" not in page
    assert "<th>Pull request (rendered impact)</th>" in page and page.count("<td>-</td></tr>") == 1
