"""kill -9 at chosen points of seed, propagate, bump, re-seed and reconcile on a 50-cluster fleet in a local bare
repository.

The runs form one history: seed → propagate (the catalog GitRepository into four workspaces) → the operator
points the HelmRepositories at the mirror → bump (16 branches created) → re-seed from a changed spec → bump
(branches rebased, velero's superseded) → the operator commits a grown spec into the repository → reconcile
(under its lock: re-seed, propagate into the new workspace, the bot's 14 branches rebased). For each step an
uninterrupted run on a copy of its start gives the expected refs. Each kill point then runs the step on another
copy under tests.crash.killer, which SIGKILLs the CLI at the Nth call of a function of the write path (before
it, or as it returns). After the kill the repository must pass `git fsck --full`, every ref must point at a
complete commit, no git lock file may be left and anything else left (a pack's temporary file, a scratch
repository beside the target) only of the kinds the engine sweeps; the next run of the same step must succeed
(a reconcile must find the lock free) and leave every branch and kept render at the very commit and tree of the
uninterrupted run. Propagation commits are stamped with the time they are made, so where one is in the history
(propagate, reconcile) the trees must be the same and main must have gained the same commits, by subject.

The default run tries 31 points, every kind of state the write paths pass through; CRASH_EVERY_POINT=1 adds 7
that repeat a kind on a neighbouring call or another step (MORE_POINTS).

`Path.chmod`/`Path.replace` calls inside objects/pack are the pack writer's steps (temporary file complete,
pack renamed without its index, index temporary complete). Verification (`--no-verify`) is off: it reads only,
and a kill during it is a kill before the first write, which the points below already cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.app.seed import SPEC_PATH
from tests.crash.fleet import (
    KILLED,
    ONLY_WITH_EVERY_POINT,
    PROPAGATE_SUBJECT,
    SEED_SUBJECT,
    World,
    added_to_main,
    assert_consistent,
    checked,
    mirror_index,
    new_world,
    operator_commit,
    platform_spec,
    point_helm_repositories_at,
    refs,
    trees,
)
from tests.lookups.servers import Route, serving

# one history for the module (session-scoped: built once, six runs on 50 clusters), its tests on one xdist worker
pytestmark = pytest.mark.xdist_group("crash-local")
SEED = ("seed", "-c", "platform.yaml", "--no-verify")
BUMP = ("bump", "--repo", "fleet.git", "--no-verify")
PROPAGATE = ("propagate", "--repo", "fleet.git", "--no-verify")
RECONCILE = ("reconcile", "--repo", "fleet.git", "--no-verify")
GIT = "gitops_engine.adapters.git"
PACK = "objects/pack"

# step → (function, Nth call, before/after[, only calls whose arguments contain this]). Each leaves the repository
# in a state no other point of its step does: a kill before a call that directly follows another (a branch moved
# right after its render ref was set, a commit's ref right after the commit) is not tried again.
POINTS: dict[str, tuple[str, ...]] = {
    "seed": (
        "gitops_engine.app.seed:render:1:after",  # rendered, nothing written
        "pygit2:init_repository:1:after",  # a scratch repository beside the target, not yet renamed into place
        f"{GIT}:_store:1:before",  # the repository made, no object
        f"pathlib:Path.replace:1:after:{PACK}",  # the pack in place, its index not
        f"pathlib:Path.chmod:2:after:{PACK}",  # the index's temporary file complete
        f"{GIT}:create_commit:1:after",  # the commit, no ref
        f"{GIT}:set_ref:1:after",  # the render kept, the branch not moved
        f"{GIT}:move_branch:1:after",  # done, nothing reported
    ),
    "propagate": (
        f"{GIT}:write_tree_changes:1:after",  # the copies' objects, no commit
        f"{GIT}:create_commit:1:after",
        f"{GIT}:move_branch:1:after",  # done, nothing reported
    ),
    "bump": (
        "pathlib:Path.replace:1:before:/.cache/",  # the first cache entry written, not renamed into place
        f"{GIT}:create_commit:1:after",  # the first branch's objects and commit
        f"{GIT}:move_branch:1:after",  # one branch of 16
        f"{GIT}:move_branch:9:before",  # eight branches and the ninth's commit
        f"{GIT}:move_branch:16:after",  # every branch, nothing reported
    ),
    "reseed": (
        "gitops_engine.app.seed:render:1:after",
        f"pathlib:Path.replace:1:after:{PACK}",
        f"{GIT}:create_commit:1:after",
        f"{GIT}:set_ref:1:after",
        f"{GIT}:move_branch:1:after",
    ),
    "rebump": (
        f"{GIT}:move_branch:1:after",  # one branch rebased on the new main
        f"{GIT}:move_branch:8:after",
        f"{GIT}:delete_branch:1:after",  # one of velero's two branches deleted
        f"{GIT}:delete_branch:2:before",
    ),
    "reconcile": (
        "gitops_engine.app.seed:render:1:after",  # the lock taken, the spec rendered, nothing written
        f"{GIT}:move_branch:1:after",  # re-seeded; propagation and the bot not begun
        f"{GIT}:create_commit:1:after:Propagate",  # the propagation's commit, main not moved
        f"{GIT}:move_branch:2:after",  # propagated; the bot not begun
        f"{GIT}:move_branch:7:after",  # the bot midway: 5 of its 14 branches
        "gitops_engine.app.reconcile:_bump_step:1:after",  # every step done, the lock still held, nothing reported
    ),
}
# tried with CRASH_EVERY_POINT=1: the kind of state each leaves is tried above on a neighbouring call or step
MORE_POINTS: dict[str, tuple[str, ...]] = {
    "seed": (
        f"pathlib:Path.chmod:1:after:{PACK}",  # the pack's temporary file complete
        f"{GIT}:_store:1:after",  # every object, no commit
    ),
    "propagate": ("gitops_engine.app.propagate:plan_propagation:1:after",),  # planned, nothing written
    "bump": ("gitops_engine.app.bump:propose:1:after",),  # scanned and looked up, nothing written
    "reseed": (f"pathlib:Path.chmod:1:after:{PACK}", f"pathlib:Path.chmod:2:after:{PACK}"),
    "rebump": (f"{GIT}:create_commit:1:after",),
}
ARGV = {
    "seed": SEED,
    "propagate": PROPAGATE,
    "bump": BUMP,
    "reseed": SEED,
    "rebump": BUMP,
    "reconcile": RECONCILE,
}
# steps that make a propagation commit, whose id holds the time it was made
STAMPED = ("propagate", "reconcile")


@dataclass(frozen=True)
class Step:
    """Where a step starts, the refs its uninterrupted run leaves and the subjects of the commits it adds to
    main."""

    start: World
    expected: dict[str, tuple[str, str]]
    added: list[str]


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Step]]:
    """Each step's start and expected result, built by uninterrupted runs; the mirror serves while tests run."""
    root = tmp_path_factory.mktemp("history")
    with serving() as mirror:
        mirror.routes["/charts/index.yaml"] = Route(body=mirror_index())
        steps: dict[str, Step] = {}
        world = new_world(root / "seed", platform_spec())
        for name, argv in ARGV.items():
            start = world.copy(root / f"{name}-start")
            checked(world.run(argv), f"uninterrupted {name}")
            assert_consistent(world.repo)
            steps[name] = Step(start, refs(world.repo), added_to_main(start.repo, world.repo))
            if name == "propagate":
                point_helm_repositories_at(world.repo, f"{mirror.url}/charts")
            if name == "bump":
                (world.root / "platform.yaml").write_text(platform_spec(reseeded=True))
            if name == "rebump":
                operator_commit(world.repo, {SPEC_PATH: platform_spec(grown=True).encode()}, "the platform spec")
        _check_history(steps)
        yield steps


def _check_history(steps: dict[str, Step]) -> None:
    """The history does what the points rely on: 16 bot branches, then velero's two dropped."""
    bot = "refs/heads/gitops-engine/"
    created = sorted(r.removeprefix(bot) for r in steps["bump"].expected if r.startswith(bot))
    assert len(created) == 16 and "velero-8" in created and "velero-9" in created, created
    kept = sorted(r.removeprefix(bot) for r in steps["rebump"].expected if r.startswith(bot))
    assert kept == [b for b in created if not b.startswith("velero-")]
    for name in ("bump", "rebump"):
        main = steps[name].expected["refs/heads/main"]
        assert all(v != main for r, v in steps[name].expected.items() if r.startswith(bot))
    assert steps["propagate"].added == [PROPAGATE_SUBJECT]
    assert steps["reconcile"].added == [SEED_SUBJECT, PROPAGATE_SUBJECT]
    # the pass rebased every bot branch onto its new main
    after, before = steps["reconcile"].expected, steps["rebump"].expected
    assert sorted(r for r in after if r.startswith(bot)) == kept_refs(before)
    assert all(after[r][1] != before[r][1] for r in kept_refs(before))


def kept_refs(found: dict[str, tuple[str, str]]) -> list[str]:
    return sorted(r for r in found if r.startswith("refs/heads/gitops-engine/"))


@pytest.mark.parametrize(
    ("step", "point"),
    [(step, point) for step, points in POINTS.items() for point in points]
    + [
        pytest.param(step, point, marks=ONLY_WITH_EVERY_POINT)
        for step, points in MORE_POINTS.items()
        for point in points
    ],
)  # fmt: skip
def test_a_run_killed_at_any_point_leaves_whole_refs_and_the_next_run_converges(
    step: str, point: str, history: dict[str, Step], tmp_path: Path
) -> None:
    world = history[step].start.copy(tmp_path / "world")

    killed = world.run(ARGV[step], kill_at=point)

    assert killed.returncode == KILLED, f"the kill point was never reached:\n{killed.stdout[-2000:]}{killed.stderr}"
    assert_consistent(world.repo)
    after = checked(world.run(ARGV[step]), f"the run after the kill at {point}")
    assert not after.startswith("reconcile: skipped"), "the killed pass's lock outlived it"
    expected = history[step]
    if step in STAMPED:
        assert trees(refs(world.repo)) == trees(expected.expected)
        assert added_to_main(expected.start.repo, world.repo) == expected.added
    else:
        assert refs(world.repo) == expected.expected
