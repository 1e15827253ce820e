"""Nothing broken is committed: a seed whose tree would fail `validate` is refused; old breakage does not block."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.seed import builtin_catalog_dir
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)


def _broken_catalog(tmp_path: Path) -> str:
    """A user catalog whose one app lists a file its folder does not have (kustomize cannot build it)."""
    source = next((builtin_catalog_dir() / "metallb").iterdir())
    folder = tmp_path / "mycatalog" / "lb-broken" / source.name
    shutil.copytree(source, folder)
    kustomization = folder / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - forgotten.yaml\n")
    return "lb-broken"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    app = _broken_catalog(tmp_path)
    text = reproducible_spec_text().replace("catalog:\n", "catalog:\n  paths:\n    - mycatalog\n", 1)
    return write_example(tmp_path, text.replace("apps:\n", f"apps:\n  - {{app: {app}, workspace: management}}\n", 1))


def test_a_seed_that_would_commit_a_broken_kustomization_is_refused(spec: Path, tmp_path: Path) -> None:
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 1
    assert result.err.startswith("error: refusing to commit: the change introduces 1 error(s)")
    assert "[kustomize-missing-path] resources[2]: 'forgotten.yaml'" in result.err
    assert "pass --no-verify to commit anyway" in result.err
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    assert git.head_of(repo, "main").commit is None  # nothing committed


def test_no_verify_commits_anyway(spec: Path, tmp_path: Path) -> None:
    result = run_cli("seed", "-c", str(spec), "--no-verify")
    assert result.code == 0, result.err
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    assert git.head_of(repo, "main").commit is not None


def test_breakage_already_on_the_branch_does_not_block_an_unrelated_seed(tmp_path: Path) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    assert run_cli("seed", "-c", str(spec)).code == 0
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    head = git.head_of(repo, "main")
    files = dict(git.read_tree(repo, head.tree))
    # a human breaks one cluster's kustomization by hand
    path = "clusters/team-a-dev/kustomization.yaml"
    files[path] = files[path] + b"  - not-there.yaml\n"
    commit = git.create_commit(repo, git.write_tree(repo, files), [head.commit or ""], "oops", HUMAN)
    git.move_branch(repo, "main", commit, head.commit, "human")
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 45d"))
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 0, result.err
    assert git.head_of(repo, "main").commit != commit
