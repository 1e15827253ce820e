"""seed end to end on a local bare repository: layout, no-op re-seed, race detection, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from gitops_engine.adapters import git
from gitops_engine.app.seed import SeedRequest, plan_seed, seed
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

CLUSTERS = ("host-cluster", "team-a-prod", "team-a-dev")


def test_init_then_seed_creates_the_design_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init").code == 0
    result = run_cli("seed", "-c", "platform.yaml")
    assert result.code == 0, result.err
    assert "committed" in result.out
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    files = git.read_tree(repo, git.head_of(repo, "main").tree)
    for cluster in CLUSTERS:
        for rel in ("kustomization.yaml", "kommander-vars.yaml", "apps.yaml", "flux-system/gotk-sync.yaml"):
            assert f"clusters/{cluster}/{rel}" in files
    assert "clusters/host-cluster/apps/management/gitea.yaml" in files
    assert "clusters/team-a-prod/apps/team-a/analytics/kafka.yaml" in files
    # the project is placed on env=prod clusters only
    assert "clusters/team-a-dev/apps/team-a/analytics/kafka.yaml" not in files
    assert "clusters/team-a-dev/apps/team-a/external-dns.yaml" not in files
    for folder in ("common/base", "common/helm-repositories", "common/pki", "workspaces/team-a/projects/analytics"):
        assert f"{folder}/kustomization.yaml" in files
    assert "applications/cert-manager/1.16.2/helmrelease.yaml" in files
    assert b"${helmMirrorURL:=https://charts.jetstack.io}" in files["common/helm-repositories/charts.jetstack.io.yaml"]
    assert ".gitops-engine/state.yaml" in files
    # the commit message lists the phases
    commit = repo.revparse_single("main").peel(pygit2.Commit)
    assert "Flux, self-managed in kommander-flux" in commit.message


def test_second_seed_makes_no_commit(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    first = seed(SeedRequest(spec))
    assert first.commit is not None
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    objects = set(repo.odb)
    second = seed(SeedRequest(spec))
    assert second.commit is None and second.tree == first.tree
    assert git.head_of(repo, "main").commit == first.commit
    assert set(repo.odb) == objects
    again = run_cli("seed", "-c", str(spec))
    assert again.code == 0 and "no commit made" in again.out


def test_spec_change_commits_only_the_difference(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    seed(SeedRequest(spec))
    text = spec.read_text().replace("  - {app: spark, project: analytics}\n", "")
    spec.write_text(text)
    plan = plan_seed(SeedRequest(spec))
    removed = {p for ph in plan.phases for p in ph.removed}
    assert "clusters/team-a-prod/apps/team-a/analytics/spark.yaml" in removed
    assert "applications/spark/2.0.2/helmrelease.yaml" in removed
    added = {p for ph in plan.phases for p in ph.added}
    assert added == set()
    result = seed(SeedRequest(spec))
    assert result.commit is not None


def test_files_added_by_hand_are_kept(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    first = seed(SeedRequest(spec))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    files = dict(git.read_tree(repo, first.tree))
    files["docs/runbook.md"] = b"# on call\n"
    tree = git.write_tree(repo, files)
    author = git.Signature("human", "human@example.invalid", 1_800_000_000)
    commit = git.create_commit(repo, tree, [first.commit or ""], "add runbook", author)
    git.move_branch(repo, "main", commit, first.commit, "human")
    spec.write_text(spec.read_text().replace("  - {app: spark, project: analytics}\n", ""))
    seed(SeedRequest(spec))
    after = git.read_tree(repo, git.head_of(repo, "main").tree)
    assert after["docs/runbook.md"] == b"# on call\n"


def test_concurrent_ref_move_is_detected_and_nothing_is_lost(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    seed(SeedRequest(spec))
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 45d"))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    base = git.head_of(repo, "main")
    sneaky: list[str] = []

    def someone_pushes(step: str) -> None:
        if step == "writing objects" and not sneaky:
            tree = git.write_tree(repo, {"other.txt": b"someone else\n"})
            author = git.Signature("other", "other@example.invalid", 1_800_000_000)
            sneaky.append(git.create_commit(repo, tree, [base.commit or ""], "meanwhile", author))
            git.move_branch(repo, "main", sneaky[0], base.commit, "other")

    result = seed(SeedRequest(spec), progress=someone_pushes)
    # the push found main moved, so the seed was computed again on the new head: nothing of either is lost
    head = repo.revparse_single(result.commit or "")
    assert [str(p) for p in head.parent_ids] == sneaky  # type: ignore[attr-defined]
    files = git.read_tree(repo, git.head_of(repo, "main").tree)
    assert files["other.txt"] == b"someone else\n"
    assert b"retention: 45d" in files["clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"]


def test_two_renders_give_the_same_tree_across_processes(tmp_path: Path) -> None:
    """Same inputs, same tree; with SOURCE_DATE_EPOCH the same commit id too."""
    # Encryption is randomised by design (AES-GCM IVs), so this spec renders no Secret
    spec = write_example(tmp_path, reproducible_spec_text())
    script = (
        "import sys; from pathlib import Path; from gitops_engine.app.seed import SeedRequest, seed;"
        "r = seed(SeedRequest(Path(sys.argv[1]), repository=sys.argv[2], create=True)); print(r.tree, r.commit)"
    )
    outputs = []
    for seed_value, repo in (("1", "a.git"), ("987654", "b.git")):
        env = {**os.environ, "PYTHONHASHSEED": seed_value, "SOURCE_DATE_EPOCH": "1700000000"}
        done = subprocess.run(
            [sys.executable, "-c", script, str(spec), str(tmp_path / repo)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(done.stdout.split())
    assert outputs[0] == outputs[1]  # same tree id and, with the reproducible clock, the same commit id
    in_process = seed(SeedRequest(spec, repository=str(tmp_path / "c.git"), create=True))
    assert in_process.tree == outputs[0][0]


def test_plan_json_lists_phases_in_order_and_pending_secrets(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    result = run_cli("plan", "-c", str(spec), "--json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert [p["number"] for p in plan["phases"]] == list(range(1, 20))
    assert plan["phases"][1]["added"] == [f"clusters/{c}/flux-system/flux.yaml" for c in sorted(CLUSTERS)]
    assert {s["name"] for s in plan["pendingSecrets"]} == {"gitea-admin-credentials"}
    assert not (tmp_path / "fleet.git").exists()
    dry = run_cli("seed", "-c", str(spec), "--dry-run")
    assert dry.code == 0 and "Base namespaces" in dry.out
    assert not (tmp_path / "fleet.git").exists()
