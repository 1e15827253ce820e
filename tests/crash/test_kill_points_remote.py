"""kill -9 at chosen points of seed, bump, re-seed and reconcile against a git smart-HTTP remote (the test Gitea's
git side).

The fleet is the generator's small one (12 clusters, three apps: 6 bot branches, 6 pushes); the last step is a
pass over a grown spec the operator committed into the repository (re-seed, propagate, the bot). A remote run
works in a local object store under the cache: it fetches the branch there, builds commits with pygit2 and
pushes them with the system git. The points: before a push, as it returns, and in the middle of one
— the server's pre-receive hook holds the push until the client is dead, then lets it land or refuses it — and
in the middle of a fetch, while git holds the store's ref lock (a reference-transaction hook in the store stops
there). The whole process group dies (the CLI and its git children), as a container's end takes them all.

The default run tries 9 points; CRASH_EVERY_POINT=1 adds 4 of the same kinds on other steps (MORE_POINTS).

After each kill the remote and the store must pass `git fsck --full` with every ref at a complete commit; the
next run must succeed and leave the remote's branches and kept renders at the trees of an uninterrupted run (and
the pass, whose propagation commit is stamped with the time it is made, the same commits added to main, by
subject).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.adapters import transport
from gitops_engine.app.seed import SPEC_PATH
from tests.crash.fleet import (
    KILLED,
    ONLY_WITH_EVERY_POINT,
    PROPAGATE_SUBJECT,
    SEED_SUBJECT,
    added_to_main,
    assert_consistent,
    checked,
    operator_commit,
    point_helm_repositories_at,
    refs,
    small_spec,
    trees,
)
from tests.crash.remote import Fleet, serving_fleet

# one server and one history for the module (session-scoped: built once), its tests kept on one xdist worker
pytestmark = pytest.mark.xdist_group("crash-remote")
RUN = "gitops_engine.adapters.command:run"
PUSH = f"{RUN}:1:during:'push'"
FETCH = f"{RUN}:1:during:'fetch'"
# step → (kill point, what the test does while the client is dead: "accept"/"refuse" the held push, or nothing)
POINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "seed": (
        ("gitops_engine.adapters.transport:push_branch:1:before", ""),  # objects in the store, nothing pushed
        (PUSH, "accept"),  # the push lands after its client died
        (PUSH, "refuse"),
        ("gitops_engine.adapters.transport:push_branch:1:after", ""),  # pushed, nothing reported
    ),
    "bump": (
        (FETCH, ""),  # git holds the store's ref lock
        (f"{RUN}:3:during:'push'", "accept"),  # two branches pushed, the third lands after the kill
        ("gitops_engine.adapters.transport:push_branch:6:after", ""),
    ),
    "reconcile": (
        (PUSH, "accept"),  # the re-seed lands after the pass (and its lock) died
        ("gitops_engine.adapters.transport:push_branch:2:after", ""),  # re-seeded and propagated, the bot not begun
    ),
}
# tried with CRASH_EVERY_POINT=1: the same kinds as above, on another step
MORE_POINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "bump": ((f"{RUN}:5:during:'push'", "refuse"),),
    "reseed": (
        (FETCH, ""),
        (PUSH, "accept"),
        ("gitops_engine.adapters.transport:push_branch:1:after", ""),
    ),
}


@dataclass(frozen=True)
class Step:
    """The command, where the remote starts, the client's spec, and the refs an uninterrupted run leaves."""

    argv: tuple[str, ...]
    start: Path
    spec: str
    expected: dict[str, tuple[str, str]]
    added: list[str]


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with serving_fleet(tmp_path_factory.mktemp("remote-crash")) as served:
        yield served


@pytest.fixture(scope="session")
def history(fleet: Fleet) -> dict[str, Step]:
    """seed → the operator's mirror commit → bump → re-seed → the operator's spec commit → reconcile, each
    uninterrupted on its own copy."""
    steps: dict[str, Step] = {}
    remote = fleet.remote()
    plans = (
        ("seed", small_spec()),
        ("bump", small_spec()),
        ("reseed", small_spec(reseeded=True)),
        ("reconcile", small_spec(reseeded=True)),
    )
    for name, spec in plans:
        start = fleet.root / f"{name}-start.git"
        shutil.copytree(remote.bare, start, symlinks=True)
        argv = _argv(name, remote.url)
        checked(fleet.world(f"history-{name}", spec).run(argv), f"uninterrupted {name}")
        steps[name] = Step(tuple(argv), start, spec, refs(remote.bare), added_to_main(start, remote.bare))
        if name == "seed":
            point_helm_repositories_at(remote.bare, fleet.mirror)
        if name == "reseed":
            operator_commit(remote.bare, {SPEC_PATH: small_spec(grown=True).encode()}, "the platform spec")
    assert len([r for r in steps["bump"].expected if r.startswith("refs/heads/gitops-engine/")]) == 6
    assert steps["reconcile"].added == [SEED_SUBJECT, PROPAGATE_SUBJECT]
    return steps


def _argv(step: str, url: str) -> list[str]:
    if step in ("bump", "reconcile"):
        return [step, "--repo", url, "--no-verify"]
    return ["seed", "-c", "platform.yaml", "--repo", url, "--no-verify"]


def _hold_pushes(bare: Path, nth: int, marker: Path, verdict: Path) -> None:
    """A pre-receive hook that holds the `nth` push it sees: says it is there (`marker`) and waits for a verdict
    file (`accept` or `refuse`) before letting the push land or refusing it. Other pushes pass."""
    seen = marker.with_name("pushes")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        f'echo >>"{seen}"; [ "$(wc -l <"{seen}")" -eq {nth} ] || exit 0\n'
        f'touch "{marker}"\n'
        f'i=0; while [ ! -e "{verdict}" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done\n'
        f'[ "$(cat "{verdict}")" = accept ]\n'
    )
    hook.chmod(0o755)


def _hold_store_refs(store: Path, armed: Path, marker: Path) -> None:
    """A store whose reference-transaction hook, while `armed` exists, stops with the ref locks taken."""
    subprocess.run(["git", "init", "--quiet", "--bare", str(store)], check=True, capture_output=True)
    hook = store / "hooks" / "reference-transaction"
    hook.write_text(
        f'#!/bin/sh\ncat >/dev/null\n[ "$1" = prepared ] && [ -e "{armed}" ] || exit 0\ntouch "{marker}"\nsleep 30\n'
    )
    hook.chmod(0o755)


@pytest.mark.parametrize(
    ("step", "point", "then"),
    [(step, point, then) for step, points in POINTS.items() for point, then in points]
    + [
        pytest.param(step, point, then, marks=ONLY_WITH_EVERY_POINT)
        for step, points in MORE_POINTS.items()
        for point, then in points
    ],
)  # fmt: skip
def test_a_remote_run_killed_at_any_point_leaves_whole_refs_and_the_next_run_converges(
    step: str, point: str, then: str, history: dict[str, Step], fleet: Fleet, tmp_path: Path
) -> None:
    expected = history[step]
    remote = fleet.remote(expected.start)
    world = fleet.world(tmp_path.name, expected.spec)
    argv = [remote.url if arg.startswith("http") else arg for arg in expected.argv]
    armed, marker, verdict = tmp_path / "armed", tmp_path / "marker", tmp_path / "verdict"
    store = transport.store_for(remote.url, world.cache / "gitops-engine" / "remotes")
    if point.endswith("'push'"):
        _hold_pushes(remote.bare, int(point.split(":")[2]), marker, verdict)
    if point.endswith("'fetch'"):
        _hold_store_refs(store, armed, marker)
    armed.touch()

    killed = world.run(argv, kill_at=point, extra={"CRASH_MARKER": str(marker)})

    assert killed.returncode == KILLED, f"the kill point was never reached:\n{killed.stdout[-2000:]}{killed.stderr}"
    if "during" in point:
        assert marker.exists(), "the kill came before the exchange reached its middle"
    if then:
        verdict.write_text(then)
    fleet.gitea.wait_for_git(30)
    armed.unlink()
    assert_consistent(remote.bare)
    assert_consistent(store, crashed_git=True)
    after = checked(world.run(argv), f"the run after the kill at {point} ({then or 'no verdict'})")
    assert not after.startswith("reconcile: skipped"), "the killed pass's lock outlived it"
    if step == "reconcile":
        assert trees(refs(remote.bare)) == trees(expected.expected)
        assert added_to_main(expected.start, remote.bare) == expected.added
    else:
        assert refs(remote.bare) == expected.expected
    assert assert_consistent(store).locks == ()
