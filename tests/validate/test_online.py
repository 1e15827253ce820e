"""`validate --online`: HelmRelease chart versions are looked up in a real Helm repository on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.app.validate import validate_repository
from gitops_engine.cli.main import main
from gitops_engine.model.finding import Severity
from gitops_engine.validate.engine import Report
from tests.conftest import DATA
from tests.lookups.servers import RepoServer, Route, serving
from tests.validate.fixtures import BASE, RELEASE, REPOSITORY, line_of, write_tree

PODINFO_INDEX = DATA / "helm-indexes" / "podinfo-index.yaml"
UPSTREAM = "https://stefanprodan.github.io/podinfo"


@pytest.fixture
def server() -> Iterator[RepoServer]:
    """The real podinfo index served at /podinfo/index.yaml."""
    with serving() as repo:
        repo.routes["/podinfo/index.yaml"] = Route(body=PODINFO_INDEX.read_bytes())
        yield repo


@pytest.fixture
def lookups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LookupOptions:
    """Fast retries and private caches (the CLI uses XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return LookupOptions(cache_dir=tmp_path / "lookups", timeout=5, attempts=2, backoff=0.01)


def _repo(root: Path, url: str, version: str = "6.5.4", extra: dict[str, str] | None = None) -> Path:
    write_tree(
        root,
        {
            **BASE,
            "apps/repository.yaml": REPOSITORY.replace(UPSTREAM, url),
            "apps/release.yaml": RELEASE.replace("version: 6.5.4", f"version: {version}"),
            **(extra or {}),
        },
    )
    return root


def _validate(root: Path, lookups: LookupOptions, *, online: bool = True) -> Report:
    report, _ = validate_repository(str(root), cache_dir=root.parent / "builds", online=online, lookups=lookups)
    return report


def test_published_version_passes(tmp_path: Path, server: RepoServer, lookups: LookupOptions) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo")
    assert _validate(root, lookups).findings == ()
    assert [seen.status for seen in server.requests_for("/podinfo/index.yaml")] == [200]


def test_unpublished_version_is_an_error_at_its_line(
    tmp_path: Path, server: RepoServer, lookups: LookupOptions
) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo", version="6.5.99")
    (finding,) = _validate(root, lookups).findings
    release = (root / "apps/release.yaml").read_text()
    assert (finding.rule, finding.file, finding.line, finding.severity) == (
        "chart-version-missing",
        "apps/release.yaml",
        line_of(release, "version: 6.5.99"),
        Severity.ERROR,
    )
    assert "6.5.99" in finding.message and "podinfo" in finding.message
    # the hint offers versions the index really lists
    offered = finding.hint.split("e.g. ", 1)[1].split(", ")
    assert offered and all(f"version: {v}\n" in PODINFO_INDEX.read_text() for v in offered)


def test_without_online_nothing_is_fetched(tmp_path: Path, server: RepoServer, lookups: LookupOptions) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo", version="6.5.99")
    assert _validate(root, lookups, online=False).findings == ()
    assert server.requests_for("/podinfo/index.yaml") == []


def test_unknown_chart_is_reported(tmp_path: Path, server: RepoServer, lookups: LookupOptions) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo")
    release = RELEASE.replace("chart: podinfo", "chart: podinf0")
    write_tree(root, {"apps/release.yaml": release})
    (finding,) = _validate(root, lookups).findings
    assert (finding.rule, finding.line) == ("chart-not-in-repository", line_of(release, "chart: podinf0"))


def test_unreachable_repository_is_a_warning_naming_it(tmp_path: Path, lookups: LookupOptions) -> None:
    with serving() as gone:
        url = f"{gone.url}/charts"
    root = _repo(tmp_path / "repo", url, version="6.5.99")
    (finding,) = _validate(root, lookups).findings
    repository = (root / "apps/repository.yaml").read_text()
    assert (finding.rule, finding.file, finding.line, finding.severity) == (
        "chart-repository-unreachable",
        "apps/repository.yaml",
        line_of(repository, "url:"),
        Severity.WARNING,
    )
    assert gone.url.removeprefix("http://") in finding.message


def test_ranges_are_left_to_flux(tmp_path: Path, server: RepoServer, lookups: LookupOptions) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo", version='"6.5.x"')
    assert _validate(root, lookups).findings == ()
    assert server.requests_for("/podinfo/index.yaml") == []


def test_cli_online_flag(
    tmp_path: Path, server: RepoServer, lookups: LookupOptions, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path / "repo", f"{server.url}/podinfo", version="6.5.99")
    assert main(["validate", "--repo", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["validate", "--repo", str(root), "--online", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert [(f["rule"], f["file"]) for f in findings] == [("chart-version-missing", "apps/release.yaml")]
