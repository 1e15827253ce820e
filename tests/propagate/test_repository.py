"""Propagation and the scheduled pass against real bare repositories, through the CLI and real subprocesses."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pygit2
import pytest

from gitops_engine.adapters import git, lock
from gitops_engine.adapters.command import Command, run, which
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.reconcile import lock_path
from gitops_engine.cli.main import main
from gitops_engine.core.yamlio import load
from gitops_engine.model.tree import Tree
from gitops_engine.propagate import plan_propagation
from tests.conftest import ROOT
from tests.propagate.fleet import PROJECT_DEFAULT, WS_DEFAULT, fleet, source, workspace

AUTHOR = git.Signature("seed", "seed@example.invalid", 1_700_000_000)
SOURCES = {
    "dkp-catalog": source("dkp-catalog", {WS_DEFAULT: "true", PROJECT_DEFAULT: "true"}),
    "team-catalog": source("team-catalog", {WS_DEFAULT: "true"}),
}


def _seed(path: Path, tree: Tree) -> str:
    repo = git.open_repository(path)
    commit = git.create_commit(repo, git.write_tree(repo, tree), [], "seed", AUTHOR)
    git.move_branch(repo, "main", commit, None, "seed")
    return commit


def _fleet(count: int = 2) -> Tree:
    workspaces: dict[str, bytes] = {}
    for n in range(count):
        workspaces.update(workspace(f"w{n:03}", projects=("p1",)))
    return fleet(SOURCES, workspaces)


def _parents(repo: pygit2.Repository, head: git.BranchHead) -> list[str]:
    assert head.commit is not None
    commit = repo.revparse_single(head.commit).peel(pygit2.Commit)
    return [str(p) for p in commit.parent_ids]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_propagate_commits_once_and_a_rerun_writes_no_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = _fleet()
    seeded = _seed(tmp_path / "fleet.git", tree)
    code, out, _ = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"))
    assert code == 0
    assert "6 added, 0 updated, 0 removed, 0 unchanged, 0 blocked; committed" in out
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    head = git.head_of(repo, "main")
    assert _parents(repo, head) == [seeded]
    assert dict(git.read_tree(repo, head.tree)) == dict(plan_propagation(tree).after)

    objects = set(repo.odb)
    code, out, _ = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"))
    assert (code, out.strip().splitlines()[-1]) == (
        0,
        "propagate: 0 added, 0 updated, 0 removed, 6 unchanged, 0 blocked; nothing to commit",
    )
    code, out, _ = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"))
    assert code == 0
    assert "propagate: ok — 0 added, 0 updated, 0 removed, 6 unchanged, 0 blocked; nothing to commit" in out
    assert set(repo.odb) == objects
    assert git.head_of(repo, "main") == head


def test_dry_run_json_plans_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded = _seed(tmp_path / "fleet.git", _fleet(1))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    objects = set(repo.odb)
    code, out, _ = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"), "--dry-run", "--json")
    assert code == 0
    report: dict[str, Any] = json.loads(out)
    assert (report["dryRun"], report["commit"]) == (True, None)
    assert [(i["path"], i["status"], i["target"]) for i in report["items"]] == [
        ("workspaces/w000/catalogs/dkp-catalog.yaml", "added", "w000-ns"),
        ("workspaces/w000/catalogs/team-catalog.yaml", "added", "w000-ns"),
        ("workspaces/w000/projects/p1/catalogs/dkp-catalog.yaml", "added", "w000-p1"),
    ]
    assert report["files"]["changed"] == [
        "workspaces/w000/catalogs/kustomization.yaml",
        "workspaces/w000/projects/p1/kustomization.yaml",
    ]
    assert set(repo.odb) == objects
    assert git.head_of(repo, "main").commit == seeded


def test_bad_config_is_one_line_exit_2_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {".gitops-engine/propagate.yaml": b"urlHosts:\n  gitea.svc: [not, a, host]\n"}
    _seed(tmp_path / "fleet.git", _fleet(1).merged(bad))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    objects = set(repo.odb)
    code, out, err = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"))
    assert code == 2
    assert err.splitlines() == [
        "error: .gitops-engine/propagate.yaml:2: urlHosts.gitea.svc: must be a string, not a list"
    ]
    assert set(repo.odb) == objects

    code, out, err = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "seed: skipped — the branch holds no .gitops-engine/platform.yaml"
    assert lines[1].startswith("propagate: failed — .gitops-engine/propagate.yaml:2: urlHosts.gitea.svc: ")
    assert lines[2].startswith("bump: ")
    assert set(repo.odb) == objects


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", "Upper", "-dash"])
def test_a_source_named_like_a_path_is_refused_at_its_line_with_exit_2_and_nothing_written(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = fleet({"bad": source(name, {WS_DEFAULT: "true"})}, {}).merged(_fleet(1))
    _seed(tmp_path / "fleet.git", bad)
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    objects = set(repo.odb)
    code, _, err = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"))
    assert code == 2
    assert err.splitlines() == [
        f"error: common/catalog-repositories/bad.yaml:4: GitRepository name '{name}' is not a Kubernetes name "
        "(fix: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
    ]
    code, out, err = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"))
    assert code == 1 and err == ""
    assert "\npropagate: failed — common/catalog-repositories/bad.yaml:4: GitRepository name" in out
    assert set(repo.odb) == objects


def test_missing_branch_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(tmp_path / "fleet.git", _fleet(1))
    code, _, err = _cli(capsys, "propagate", "--repo", str(tmp_path / "fleet.git"), "--branch", "nope")
    assert code == 2
    assert "branch 'nope' does not exist" in err


def test_reconcile_skips_while_another_run_holds_the_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded = _seed(tmp_path / "fleet.git", _fleet(1))
    with lock.exclusive(lock_path(LocalTarget(tmp_path / "fleet.git")), "test holder"):
        code, out, _ = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"))
    assert code == 0
    assert out.startswith(f"reconcile: skipped — repository {tmp_path / 'fleet.git'} is locked by pid {os.getpid()}")
    assert git.head_of(git.open_repository(tmp_path / "fleet.git", create=False), "main").commit == seeded


def test_reconcile_fails_when_the_lock_holder_has_held_it_for_over_two_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = _seed(tmp_path / "fleet.git", _fleet(1))
    path = lock_path(LocalTarget(tmp_path / "fleet.git"))
    three_hours_ago = int(time.time()) - 3 * 3600
    # a hung pass: it holds the flock, and the stamp it wrote when it took it is three hours old
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"pid 4242 on buildhost since 2026-01-01T00:00:00Z ({three_hours_ago})\n".encode())
        code, out, _ = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"))
        json_code, json_out, _ = _cli(capsys, "reconcile", "--repo", str(tmp_path / "fleet.git"), "--json")
    finally:
        os.close(fd)
    assert code == 1
    assert out.startswith(
        f"reconcile: failed — a pass looks stuck — repository {tmp_path / 'fleet.git'} is locked by pid 4242 on "
        "buildhost since 2026-01-01T00:00:00Z"
    )
    assert json_code == 1 and json.loads(json_out)["stuck"] is True
    assert git.head_of(git.open_repository(tmp_path / "fleet.git", create=False), "main").commit == seeded


def _small_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    # a one-page pipe: the run that gets the lock fills it with its item lines and then waits for us to read,
    # still holding the lock — so the other run meets the lock however the two are scheduled
    assert fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096) == 4096
    return read_end, write_end


def _drain(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def test_two_reconciles_started_together_one_works_the_other_reports_the_lock(tmp_path: Path) -> None:
    seeded = _seed(tmp_path / "fleet.git", _fleet(30))
    argv = [sys.executable, "-m", "gitops_engine.cli.main", "reconcile", "--repo", str(tmp_path / "fleet.git")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipes = [_small_pipe(), _small_pipe()]
    procs = [subprocess.Popen(argv, stdout=w, stderr=w, cwd=tmp_path, env=env) for _, w in pipes]
    for _, write_end in pipes:
        os.close(write_end)
    while all(p.poll() is None for p in procs):
        time.sleep(0.02)
    loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
    winner = 1 - loser
    loser_out = _drain(pipes[loser][0])
    assert procs[loser].returncode == 0, loser_out
    assert loser_out.startswith(f"reconcile: skipped — repository {tmp_path / 'fleet.git'} is locked by"), loser_out
    assert procs[winner].poll() is None, "the working run should still hold the lock, waiting on its output"
    winner_out = _drain(pipes[winner][0])
    assert procs[winner].wait() == 0, winner_out
    assert winner_out.count("propagate: added ") == 90
    assert "propagate: ok — 90 added, 0 updated, 0 removed, 0 unchanged, 0 blocked; committed" in winner_out
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    assert _parents(repo, git.head_of(repo, "main")) == [seeded]


def _flux_schema() -> dict[str, Any]:
    schemas = resources.files("gitops_engine").joinpath("data", "flux-schemas")
    crd = load(schemas.joinpath("source.toolkit.fluxcd.io_gitrepositories.yaml").read_bytes())[0]
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_propagated_workspace_builds_with_kustomize_and_matches_the_flux_schema(tmp_path: Path) -> None:
    after = plan_propagation(_fleet(1)).after
    for path, data in after.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    binary, kubectl = which(["kustomize"]), which(["kubectl"])
    if binary is None and kubectl is None:
        pytest.fail("neither kustomize nor kubectl is on PATH (bash scripts/test says how to get one)")
    argv = (binary, "build") if binary else (str(kubectl), "kustomize")
    built = load(run(Command((*argv, str(tmp_path / "workspaces/w000")))).stdout)
    repos = sorted((d["metadata"]["namespace"], d["metadata"]["name"]) for d in built if d["kind"] == "GitRepository")
    assert repos == [("w000-ns", "dkp-catalog"), ("w000-ns", "team-catalog"), ("w000-p1", "dkp-catalog")]
    schema = _flux_schema()
    for doc in built:
        if doc["kind"] == "GitRepository":
            jsonschema.validate(doc["spec"], schema["properties"]["spec"])
