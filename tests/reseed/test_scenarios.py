"""Re-seed scenarios on real seeded repositories: hand edits survive spec and catalog changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pygit2 import Commit

from gitops_engine.app.reseed import CONFLICT_BRANCH, MergeConflictError
from gitops_engine.app.seed import SeedRequest, plan_seed, seed
from gitops_engine.reseed.decide import Status
from tests.reseed.fleet import (
    TRAEFIK_NEW,
    TRAEFIK_OLD,
    Fleet,
    assert_provenance_matches,
    recorded_state,
    seeded_fleet,
)
from tests.seed.helpers import run_cli

OVERRIDES = "clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"
TRAEFIK_KS = "clusters/host-cluster/apps/management/traefik.yaml"
DEFAULTS_OLD = f"applications/traefik/{TRAEFIK_OLD}/defaults.yaml"
DEFAULTS_NEW = f"applications/traefik/{TRAEFIK_NEW}/defaults.yaml"
ISTIO = "clusters/team-a-dev/apps/team-a/istio.yaml"


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return seeded_fleet(tmp_path / "fleet")


def statuses(spec: Path, restore: bool = False) -> dict[str, Status]:
    plan = plan_seed(SeedRequest(spec, restore=restore))
    return {d.path: d.status for ph in plan.phases for d in ph.files}


def test_values_edit_survives_an_unrelated_catalog_bump(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(OVERRIDES, "retention: 30d", "retention: 45d")
    edited = fleet.files()[OVERRIDES]
    fleet.bump_traefik()
    assert statuses(fleet.spec)[OVERRIDES] is Status.KEPT
    result = seed(SeedRequest(fleet.spec))
    assert result.commit is not None
    files = fleet.files()
    assert files[OVERRIDES] == edited
    assert f"version: {TRAEFIK_NEW}" in files[f"applications/traefik/{TRAEFIK_NEW}/helmrelease.yaml"].decode()
    assert not any(p.startswith(f"applications/traefik/{TRAEFIK_OLD}/") for p in files)
    assert "kept: " + OVERRIDES in fleet.repo.revparse_single("main").peel(Commit).message
    assert_provenance_matches(fleet, tmp_path)


def test_hand_edit_and_engine_change_on_different_lines_both_survive(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(TRAEFIK_KS, "interval: 6h", "interval: 2h")
    fleet.bump_traefik()
    assert statuses(fleet.spec)[TRAEFIK_KS] is Status.MERGED
    seed(SeedRequest(fleet.spec))
    text = fleet.files()[TRAEFIK_KS].decode()
    assert "interval: 2h" in text
    assert f"path: ./applications/traefik/{TRAEFIK_NEW}\n" in text
    assert f"appVersion: {TRAEFIK_NEW}\n" in text
    assert "<<<<<<<" not in text
    assert_provenance_matches(fleet, tmp_path)


def test_same_line_edits_conflict_on_a_branch_and_leave_main_alone(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(OVERRIDES, "retention: 30d", "retention: 45d")
    before = fleet.head()
    fleet.change_spec("retention: 30d", "retention: 60d")
    with pytest.raises(MergeConflictError) as raised:
        seed(SeedRequest(fleet.spec))
    assert raised.value.paths == (OVERRIDES,)
    assert fleet.head() == before
    proposed = fleet.files(CONFLICT_BRANCH)
    text = proposed[OVERRIDES].decode()
    assert f"<<<<<<< ours (repository: {OVERRIDES})" in text
    assert "||||||| base (last seed)" in text and ">>>>>>> theirs (new render)" in text
    assert "retention: 45d" in text and "retention: 60d" in text and "retention: 30d" in text
    conflict_head = fleet.head(CONFLICT_BRANCH)
    assert str(fleet.repo.revparse_single(CONFLICT_BRANCH).peel(Commit).parent_ids[0]) == before.commit
    assert_provenance_matches(fleet, tmp_path, CONFLICT_BRANCH)
    # the CLI says what happened and exits 1; a rerun leaves the conflict branch where it was
    cli = run_cli("seed", "-c", str(fleet.spec))
    assert cli.code == 1
    assert OVERRIDES in cli.err and CONFLICT_BRANCH in cli.err and "Traceback" not in cli.err
    assert fleet.head(CONFLICT_BRANCH) == conflict_head and fleet.head() == before
    plan = run_cli("plan", "-c", str(fleet.spec), "--json")
    assert json.loads(plan.out)["conflicts"] == [OVERRIDES]


def test_resolving_the_conflict_branch_then_reseeding_keeps_the_resolution(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(OVERRIDES, "retention: 30d", "retention: 45d")
    fleet.change_spec("retention: 30d", "retention: 60d")
    with pytest.raises(MergeConflictError):
        seed(SeedRequest(fleet.spec))
    resolved = fleet.files(CONFLICT_BRANCH)
    text = resolved[OVERRIDES].decode()
    resolved[OVERRIDES] = (text[: text.index("<<<<<<<")] + "        retention: 50d\n").encode()

    def take_branch(files: dict[str, bytes]) -> None:
        files.clear()
        files.update(resolved)

    fleet.edit(take_branch, "resolve the re-seed conflict")
    assert seed(SeedRequest(fleet.spec)).commit is None
    assert seed(SeedRequest(fleet.spec, force=True)).commit is None
    assert b"retention: 50d" in fleet.files()[OVERRIDES]


def test_deleted_app_stays_deleted_and_comes_back_with_restore(fleet: Fleet, tmp_path: Path) -> None:
    def delete_istio(files: dict[str, bytes]) -> None:
        del files[ISTIO]
        kustomization = "clusters/team-a-dev/apps/team-a/kustomization.yaml"
        files[kustomization] = files[kustomization].replace(b"- istio.yaml\n", b"")

    fleet.edit(delete_istio, "we do not want istio on dev")
    fleet.change_spec("clusterDomain: cluster.local", "clusterDomain: cluster.example")
    assert statuses(fleet.spec)[ISTIO] is Status.DELETED_BY_USER
    seed(SeedRequest(fleet.spec))
    assert ISTIO not in fleet.files()
    assert ISTIO in recorded_state(fleet.files())["deleted"]
    assert_provenance_matches(fleet, tmp_path)
    fleet.change_spec("clusterDomain: cluster.example", "clusterDomain: cluster.test")
    seed(SeedRequest(fleet.spec))
    assert ISTIO not in fleet.files()
    out = run_cli("plan", "-c", str(fleet.spec), "--restore")
    assert out.code == 0 and f"restored        {ISTIO}" in out.out
    assert run_cli("seed", "-c", str(fleet.spec), "--restore").code == 0
    files = fleet.files()
    assert files[ISTIO] == pure_istio(fleet, tmp_path)
    assert ISTIO in recorded_state(files)["files"] and not recorded_state(files)["deleted"]
    assert_provenance_matches(fleet, tmp_path)


def pure_istio(fleet: Fleet, scratch: Path) -> bytes:
    from tests.reseed.fleet import pure_render

    return pure_render(fleet, scratch)[ISTIO]


def test_files_added_by_hand_are_untouched(fleet: Fleet, tmp_path: Path) -> None:
    added = {
        "clusters/host-cluster/apps/management/traefik-patch.yaml": b"# my patch\nspec: {interval: 1h}\n",
        "docs/runbook.md": b"# on call\n",
    }
    fleet.edit(lambda files: files.update(added), "add files")
    fleet.bump_traefik()
    plan = statuses(fleet.spec)
    assert not set(added) & set(plan)
    seed(SeedRequest(fleet.spec))
    files = fleet.files()
    for path, data in added.items():
        assert files[path] == data
        assert path not in recorded_state(files)["files"]
    assert_provenance_matches(fleet, tmp_path)


def test_removing_a_cluster_removes_only_its_managed_files(fleet: Fleet, tmp_path: Path) -> None:
    note = "clusters/team-a-dev/NOTES.md"
    fleet.edit(lambda files: files.update({note: b"dev cluster notes\n"}), "notes")
    fleet.replace_in("clusters/team-a-dev/apps.yaml", "interval: 10m", "interval: 5m")
    before = fleet.files()
    managed_before = set(recorded_state(before)["files"])
    fleet.change_spec(
        "  - name: team-a-dev\n    role: workload\n    workspace: team-a\n    labels:\n      env: dev\n", ""
    )
    overrides = fleet.spec.read_text().split("    clusterOverrides:\n", 1)[1].split("  # analytics", 1)[0]
    fleet.change_spec("    clusterOverrides:\n" + overrides, "")  # it selected only the dev cluster
    plan = plan_seed(SeedRequest(fleet.spec))
    removed = {p for ph in plan.phases for p in ph.removed}
    changed = {p for ph in plan.phases for p in ph.changed}
    assert removed == {p for p in managed_before if p.startswith("clusters/team-a-dev/")} - {
        "clusters/team-a-dev/apps.yaml"
    }
    assert changed == {".gitops-engine/state.yaml"}
    kept = {d.path: d.status for ph in plan.phases for d in ph.files}
    assert kept["clusters/team-a-dev/apps.yaml"] is Status.KEPT_UNMANAGED
    seed(SeedRequest(fleet.spec))
    after = fleet.files()
    assert after[note] == before[note]
    assert after["clusters/team-a-dev/apps.yaml"] == before["clusters/team-a-dev/apps.yaml"]
    assert "clusters/team-a-dev/apps.yaml" not in recorded_state(after)["files"]
    for path, data in before.items():
        if not path.startswith("clusters/team-a-dev/") and path != ".gitops-engine/state.yaml":
            assert after[path] == data, path
    assert_provenance_matches(fleet, tmp_path)


def test_catalog_version_move_carries_a_hand_edit_over(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(DEFAULTS_OLD, "isDefaultClass: true", "isDefaultClass: false")
    fleet.bump_traefik()
    plan = plan_seed(SeedRequest(fleet.spec))
    decisions = {d.path: d for ph in plan.phases for d in ph.files}
    assert decisions[DEFAULTS_NEW].status is Status.MERGED
    assert decisions[DEFAULTS_NEW].moved_from == DEFAULTS_OLD
    assert decisions[DEFAULTS_OLD].status is Status.REMOVED
    cli = run_cli("plan", "-c", str(fleet.spec), "--json")
    listed = {f["path"]: f for ph in json.loads(cli.out)["phases"] for f in ph["files"]}
    assert listed[DEFAULTS_NEW]["status"] == "merged" and listed[DEFAULTS_NEW]["movedFrom"] == DEFAULTS_OLD
    text = run_cli("plan", "-c", str(fleet.spec)).out
    assert f"merged          {DEFAULTS_NEW} (from {DEFAULTS_OLD})" in text
    seed(SeedRequest(fleet.spec))
    files = fleet.files()
    text = files[DEFAULTS_NEW].decode()
    assert "isDefaultClass: false" in text and TRAEFIK_NEW in text.splitlines()[0]
    assert DEFAULTS_OLD not in files
    assert_provenance_matches(fleet, tmp_path)


def test_reseeding_twice_makes_no_commit_even_with_hand_edits(fleet: Fleet, tmp_path: Path) -> None:
    fleet.replace_in(TRAEFIK_KS, "interval: 6h", "interval: 2h")
    fleet.bump_traefik()
    first = seed(SeedRequest(fleet.spec))
    assert first.commit is not None
    objects = set(fleet.repo.odb)
    assert seed(SeedRequest(fleet.spec)).commit is None
    # the full 3-way path (no input-digest shortcut) also finds nothing to do
    forced = seed(SeedRequest(fleet.spec, force=True))
    assert forced.commit is None and forced.tree == first.tree
    assert set(fleet.repo.odb) == objects


def test_merge_base_survives_gc_so_the_next_merge_is_clean(fleet: Fleet, tmp_path: Path) -> None:
    # The merged file's tree holds the merge, not the render: the render must stay reachable as the next base.
    fleet.replace_in(TRAEFIK_KS, "interval: 6h", "interval: 2h")
    fleet.change_spec("clusterDomain: cluster.local", "clusterDomain: cluster.example")
    fleet.bump_traefik()
    seed(SeedRequest(fleet.spec))
    subprocess.run(["git", "--git-dir", str(fleet.root / "fleet.git"), "gc", "--prune=now", "--quiet"], check=True)
    fleet.change_spec(
        f'workspace: management, version: "{TRAEFIK_NEW}"', f'workspace: management, version: "{TRAEFIK_OLD}"'
    )
    fleet.change_spec("  - {app: gatekeeper, workspace: management}\n", "")
    assert statuses(fleet.spec)[TRAEFIK_KS] is Status.MERGED
    seed(SeedRequest(fleet.spec))
    text = fleet.files()[TRAEFIK_KS].decode()
    assert "interval: 2h" in text and "<<<<<<<" not in text
    assert_provenance_matches(fleet, tmp_path)


def test_history_keeps_one_root_and_the_render_lives_under_its_own_ref(fleet: Fleet, tmp_path: Path) -> None:
    """The merge base of the next re-seed is kept reachable beside main, never as a parent in main's history."""
    fleet.replace_in(TRAEFIK_KS, "interval: 6h", "interval: 2h")
    fleet.bump_traefik()
    result = seed(SeedRequest(fleet.spec))
    git_dir = str(fleet.root / "fleet.git")
    roots = subprocess.run(
        ["git", "--git-dir", git_dir, "rev-list", "--max-parents=0", "main"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(roots) == 1
    commit = fleet.repo.revparse_single("main").peel(Commit)
    assert str(commit.id) == result.commit and len(commit.parents) == 1
    render = fleet.repo.revparse_single("refs/gitops-engine/render/main").peel(Commit)
    assert render.parents == [] and render.message.startswith("gitops-engine render of main")
    rendered = fleet.repo[render.tree_id]
    # the render holds the engine's version of the hand-edited file, main holds the merge
    assert b"interval: 2h" not in fleet.repo[rendered[TRAEFIK_KS].id].read_raw()  # type: ignore[index]
    assert b"interval: 2h" in fleet.files()[TRAEFIK_KS]
