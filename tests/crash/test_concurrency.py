"""Several engine processes started together on one repository, local and remote: one commit per change.

The repository (the crash suite's generator, 12 clusters and three apps: a race needs changes to make, not size)
starts seeded, its HelmRepositories pointed at the mirror, bumped once (6 bot branches), and with a changed spec
committed in `.gitops-engine/platform.yaml`. A pass then has three changes to make: the re-seed (which drops
velero), the propagation of the catalog GitRepository, and the bot's 4 branches rebased and velero's two
superseded. One uninterrupted `reconcile` on a copy gives the expected trees. Every process
must exit 0 (a reconcile that finds the repository locked says "skipped"); main must gain exactly one seed
commit and one propagation commit, in either order, with the expected tree; every bot branch is one commit on
a commit of main.

On one machine, reconcilers share an flock (the others skip) and seeds or bumps share the remote's object
store (a waited-for flock). Reconcilers on separate machines (separate HOMEs and caches) share nothing but the
remote: there publish's compare-and-swap, --force-with-lease and retries decide.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.app.seed import SPEC_PATH
from tests.crash.fleet import (
    EPOCH,
    PROPAGATE_SUBJECT,
    SEED_SUBJECT,
    World,
    checked,
    git_out,
    operator_commit,
    point_helm_repositories_at,
    refs,
    small_spec,
)
from tests.crash.remote import Fleet, serving_fleet

# one server and one history for the module (session-scoped: built once), its tests kept on one xdist worker
pytestmark = pytest.mark.xdist_group("concurrency")
BOT = "refs/heads/gitops-engine/"


@dataclass(frozen=True)
class Start:
    """A repository (bare, local or behind the server) before the race, and the trees one pass leaves."""

    bare: Path
    url: str
    trees: dict[str, str]


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with serving_fleet(tmp_path_factory.mktemp("concurrency")) as served:
        yield served


@pytest.fixture(scope="session")
def start(fleet: Fleet) -> Start:
    """The seeded, bumped remote with the changed spec committed, and the trees one reconcile of a copy leaves."""
    remote = fleet.remote()
    machine = fleet.world("first", small_spec())
    checked(machine.run(_seed(remote.url)), "the first seed")
    point_helm_repositories_at(remote.bare, fleet.mirror)
    checked(machine.run(["bump", "--repo", remote.url, "--no-verify"]), "the first bump")
    changed = small_spec(reseeded=True).encode()
    operator_commit(remote.bare, {SPEC_PATH: changed}, "the platform spec")
    before = fleet.root / "start.git"
    shutil.copytree(remote.bare, before, symlinks=True)
    reference = fleet.world("reference", small_spec())
    checked(reference.run(_reconcile(remote.url)), "one uninterrupted pass")
    trees = {name: tree for name, (_, tree) in refs(remote.bare).items()}
    assert len([name for name in trees if name.startswith(BOT)]) == 4
    return Start(before, remote.url, trees)


def _seed(url: str) -> list[str]:
    return ["seed", "-c", "platform.yaml", "--repo", url, "--no-verify"]


def _reconcile(url: str) -> list[str]:
    return ["reconcile", "--repo", url, "--no-verify"]


def _together(runs: Sequence[tuple[World, list[str], dict[str, str]]]) -> list[str]:
    """Start every run before waiting for any; each must exit 0. Returns their outputs."""
    procs = [world.start(argv, extra=extra) for world, argv, extra in runs]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{proc.args!r}: exit {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}"
        outputs.append(out + err)
    return outputs


def _commits(outputs: Sequence[str], line_start: str) -> set[str]:
    """The commits the runs say they made on lines starting with `line_start` (a run whose push found the very
    same commit already there says so too, with the same id)."""
    pattern = re.compile(rf"^{re.escape(line_start)}.*?committed ([0-9a-f]+)", re.MULTILINE)
    return {found for output in outputs for found in pattern.findall(output)}


def _local(fleet: Fleet, start: Start, name: str) -> World:
    """A machine whose local repository (fleet.git) holds the start."""
    world = fleet.world(name, small_spec(reseeded=True))
    shutil.copytree(start.bare, world.repo, symlinks=True)
    return world


def _assert_one_commit_per_change(bare: Path, start: Start, *, bumped_by_reference: bool = True) -> None:
    """main gained one seed and one propagation commit with the expected tree; bot branches are one commit each
    on a commit of main (with `bumped_by_reference`, also with the expected trees)."""
    before = git_out(start.bare, "rev-parse", "refs/heads/main").strip()
    subjects = git_out(bare, "log", "--format=%s", "--first-parent", f"{before}..main").splitlines()
    assert sorted(subjects) == sorted([SEED_SUBJECT, PROPAGATE_SUBJECT]), subjects
    assert git_out(bare, "rev-list", "--count", f"{before}..main").strip() == "2"
    now = refs(bare)
    assert now["refs/heads/main"][1] == start.trees["refs/heads/main"]
    mains = set(git_out(bare, "rev-list", "main").split())
    for name, (commit, tree) in now.items():
        if name.startswith(BOT):
            parents = git_out(bare, "rev-list", "--parents", "-n", "1", commit).split()[1:]
            assert len(parents) == 1 and parents[0] in mains, name
            if bumped_by_reference:
                assert tree == start.trees[name], name
    if bumped_by_reference:
        assert sorted(n for n in now if n.startswith(BOT)) == sorted(n for n in start.trees if n.startswith(BOT))


def test_reconcilers_started_together_on_a_local_repository_make_each_change_once_and_the_others_skip(
    fleet: Fleet, start: Start
) -> None:
    world = _local(fleet, start, "local-reconcilers")

    outputs = _together([(world, _reconcile("fleet.git"), {}) for _ in range(3)])

    worked = [o for o in outputs if not o.startswith("reconcile: skipped")]
    assert all("is locked by pid" in o for o in outputs if o not in worked)
    assert len(_commits(outputs, "seed: ok — ")) == 1
    assert len(_commits(outputs, "propagate: ok — ")) == 1
    _assert_one_commit_per_change(world.repo, start)


def test_seeds_propagate_and_bump_started_together_on_a_local_repository_lose_no_update(
    fleet: Fleet, start: Start
) -> None:
    world = _local(fleet, start, "local-mixed")
    (world.root / "platform.yaml").write_text(small_spec(reseeded=True))
    seed = ["seed", "-c", "platform.yaml", "--repo", "fleet.git", "--no-verify"]
    runs = [
        # two seeds of the same spec at different times: two different commits for the same change
        (world, seed, {"SOURCE_DATE_EPOCH": str(int(EPOCH) + 1)}),
        (world, seed, {"SOURCE_DATE_EPOCH": str(int(EPOCH) + 2)}),
        (world, ["propagate", "--repo", "fleet.git", "--no-verify"], {}),
        (world, ["bump", "--repo", "fleet.git", "--no-verify"], {}),
    ]

    outputs = _together(runs)

    assert len(_commits(outputs[:2], "")) == 1
    assert len(_commits(outputs[2:3], "propagate: ")) == 1
    # the bump may have scanned main before either change landed; its branches are rebased by the next pass
    _assert_one_commit_per_change(world.repo, start, bumped_by_reference=False)
    checked(world.run(["bump", "--repo", "fleet.git", "--no-verify"]), "the next bump")
    _assert_one_commit_per_change(world.repo, start)


def test_reconcilers_on_three_machines_started_together_on_one_remote_make_each_change_once(
    fleet: Fleet, start: Start
) -> None:
    remote = fleet.remote(start.bare)
    machines = [fleet.world(f"machine-{n}", small_spec()) for n in range(3)]
    # each machine seeds at its own time, so their seed commits differ and the losers must compute again; the
    # first machine runs two passes, which share its lock: one of them skips or finds nothing to do
    runs = [
        (machine, _reconcile(remote.url), {"SOURCE_DATE_EPOCH": str(int(EPOCH) + n)})
        for n, machine in enumerate((machines[0], *machines))
    ]

    outputs = _together(runs)

    assert len(_commits(outputs, "seed: ok — ")) == 1
    assert len(_commits(outputs, "propagate: ok — ")) == 1
    _assert_one_commit_per_change(remote.bare, start)


def test_seeds_and_a_bump_started_together_on_one_machine_share_the_remote_object_store(
    fleet: Fleet, start: Start
) -> None:
    remote = fleet.remote(start.bare)
    machine = fleet.world("shared-store", small_spec(reseeded=True))
    # a machine that has run before: its store exists (creating one is the repository-creation race)
    checked(machine.run(["bump", "--repo", remote.url, "--dry-run"]), "an earlier dry run")
    runs = [
        (machine, _seed(remote.url), {"SOURCE_DATE_EPOCH": str(int(EPOCH) + 1)}),
        (machine, _seed(remote.url), {"SOURCE_DATE_EPOCH": str(int(EPOCH) + 2)}),
        (machine, ["bump", "--repo", remote.url, "--no-verify"], {}),
    ]

    outputs = _together(runs)

    assert len(_commits(outputs[:2], "")) == 1
    before = git_out(start.bare, "rev-parse", "refs/heads/main").strip()
    assert git_out(remote.bare, "log", "--format=%s", f"{before}..main").splitlines() == [SEED_SUBJECT]
