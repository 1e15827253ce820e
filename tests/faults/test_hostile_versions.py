"""Versions of thousands of digits, in an index or in the repository, cost one result, never the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_engine.cli.main import main
from tests.faults.fleet import NEWER, PINNED, helm_release, helm_repository
from tests.faults.servers import FaultServer, fault_server, helm_index
from tests.updates.support import commit_tree

HUGE = "1" + "0" * 5000


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    """Chart `demo` at 1.0.0 and 1.1.0 and at versions with a 5,000-digit part, one a bare (unquoted) number."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    index = helm_index({"demo": [f"{HUGE}.0.0", NEWER, f"1.{HUGE}.0", PINNED, f"1.0.0-rc.{HUGE}", HUGE]})
    with fault_server(index, [PINNED, f"{HUGE}.0.0", NEWER]) as running:
        yield running


def test_huge_versions_in_an_index_are_not_versions_and_the_rest_is_kept(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "clusters/c/sources/charts.yaml": helm_repository("charts", server.helm("ok")),
        "clusters/c/sources/registry.yaml": helm_repository("registry", server.oci("ok").removesuffix("/demo")),
        "clusters/c/apps/from-index.yaml": helm_release("from-index", "charts"),
        "clusters/c/apps/from-registry.yaml": helm_release("from-registry", "registry"),
    }
    repo = tmp_path / "fleet.git"
    commit_tree(repo, files)

    assert main(["bump", "--repo", str(repo), "--dry-run", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert sorted((p["file"], p["proposed"]) for p in answer["proposals"]) == [
        ("clusters/c/apps/from-index.yaml", NEWER),
        ("clusters/c/apps/from-registry.yaml", NEWER),
    ]
    assert main(["report", "--repo", str(repo), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert sorted((r["file"], r["newest_minor"]) for r in rows) == [
        ("clusters/c/apps/from-index.yaml", NEWER),
        ("clusters/c/apps/from-registry.yaml", NEWER),
    ]


def test_a_huge_version_in_the_repository_is_one_skip_with_a_short_reason(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, answer = _bump_beside_a_fine_release(server, tmp_path, capsys, {"huge": f"{HUGE}.0.0", "unquoted": HUGE})
    skips = {s["file"]: s["reason"] for s in answer["skips"]}
    assert sorted(skips) == ["clusters/c/apps/huge.yaml", "clusters/c/apps/unquoted.yaml"]
    assert all(r.endswith("more characters)' is not a version or range") and len(r) < 200 for r in skips.values())
    assert main(["report", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "clusters/c/apps/fine.yaml" in out and max(len(line) for line in out.splitlines()) < 400


def test_a_version_that_only_looks_like_a_range_is_one_skip_not_a_crash(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an `x` or a `*` made these count as ranges, and the range parser then raised out of the bot
    repo, answer = _bump_beside_a_fine_release(server, tmp_path, capsys, {"path": "../x", "word": "xenial"})
    assert sorted((s["file"], s["reason"]) for s in answer["skips"]) == [
        ("clusters/c/apps/path.yaml", "'../x' is not a version or range"),
        ("clusters/c/apps/word.yaml", "'xenial' is not a version or range"),
    ]
    assert main(["report", "--repo", str(repo)]) == 0


def _bump_beside_a_fine_release(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], versions: dict[str, str]
) -> tuple[Path, dict[str, Any]]:
    """A fleet with one release per (name, version) and a fine one: the dry run's answer, which proposes the
    fine release's update alone."""
    files = {
        "clusters/c/sources/charts.yaml": helm_repository("charts", server.helm("ok")),
        "clusters/c/apps/fine.yaml": helm_release("fine", "charts"),
        **{f"clusters/c/apps/{name}.yaml": helm_release(name, "charts", version=v) for name, v in versions.items()},
    }
    repo = tmp_path / "fleet.git"
    commit_tree(repo, files)
    assert main(["bump", "--repo", str(repo), "--dry-run", "--json"]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert [(p["file"], p["proposed"]) for p in answer["proposals"]] == [("clusters/c/apps/fine.yaml", NEWER)]
    return repo, answer
