"""A dry run answers for the tree, the policy and the chart repositories as they are now, however often it is run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.cli.main import main
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import commit_tree


def index(*versions: str) -> bytes:
    rows = "".join(
        f"  - name: traefik\n    version: {v}\n    created: '2026-0{i + 1}-01T00:00:00Z'\n    urls: [traefik-{v}.tgz]\n"
        for i, v in enumerate(versions)
    )
    return f"apiVersion: v1\nentries:\n  traefik:\n{rows}".encode()


def fleet(url: str, version: str = "25.0.0") -> dict[str, bytes]:
    return {
        "clusters/a/flux-system/repos.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n"
            f"  namespace: flux-system\nspec:\n  interval: 1h\n  url: {url}\n"
        ).encode(),
        "clusters/a/apps/traefik.yaml": (
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: traefik\n"
            "  namespace: traefik\nspec:\n  interval: 30m\n  chart:\n    spec:\n      chart: traefik\n"
            f"      version: {version}\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n"
            "        namespace: flux-system\n"
        ).encode(),
    }


@pytest.fixture
def server() -> Iterator[RepoServer]:
    with serving() as running:
        running.routes["/index.yaml"] = Route(body=index("25.0.0", "25.0.1", "26.0.0"), etag='"one"')
        yield running


def dry_run(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    code = main(["bump", "--repo", str(repo), "--dry-run", "--json", *extra])
    answer: dict[str, object] = json.loads(capsys.readouterr().out)
    assert code == (1 if answer.get("lookupFailures") else 0)
    return answer


def proposed(answer: dict[str, object]) -> list[str]:
    rows = answer["proposals"]
    assert isinstance(rows, list)
    return sorted(row["proposed"] for row in rows)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_a_new_upstream_release_is_proposed_on_the_next_run(
    tmp_path: Path, server: RepoServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "fleet.git"
    commit_tree(repo, fleet(server.url))
    assert proposed(dry_run(repo, capsys)) == ["25.0.1", "26.0.0"]
    assert proposed(dry_run(repo, capsys)) == ["25.0.1", "26.0.0"]
    server.routes["/index.yaml"] = Route(body=index("25.0.0", "25.0.1", "26.0.0", "27.1.0"), etag='"two"')
    assert proposed(dry_run(repo, capsys)) == ["25.0.1", "27.1.0"]


def test_a_new_commit_or_another_policy_file_is_a_new_question(
    tmp_path: Path, server: RepoServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "fleet.git"
    commit_tree(repo, fleet(server.url))
    assert proposed(dry_run(repo, capsys)) == ["25.0.1", "26.0.0"]
    commit_tree(repo, fleet(server.url, version="26.0.0"), time=1_700_000_100)
    assert proposed(dry_run(repo, capsys)) == []
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults: {update_types: [patch]}\n")
    commit_tree(repo, fleet(server.url), time=1_700_000_200)
    assert proposed(dry_run(repo, capsys, "--policy", str(policy))) == ["25.0.1"]
    policy.write_text("defaults: {update_types: [patch, minor, major]}\n")
    assert proposed(dry_run(repo, capsys, "--policy", str(policy))) == ["25.0.1", "26.0.0"]
