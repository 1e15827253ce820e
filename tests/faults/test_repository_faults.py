"""Repositories under races and leftovers: concurrent creation, identical pushes, stale locks, crashed pack writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_engine.adapters import git, transport
from gitops_engine.core.errors import ConflictError, ToolError
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

AUTHOR = git.Signature("gitops-engine", "engine@example.invalid", 1_700_000_000)
MANY = {f"d{i % 9}/f{i}.yaml": f"index: {i}\n".encode() for i in range(200)}  # enough objects to make a pack


def start_together(code: str, args: list[str], count: int, at: float) -> list[subprocess.Popen[bytes]]:
    """`count` Python children that each sleep until `at` (time.time()) and then run `code`."""
    program = f"import sys, time\ntime.sleep(max(0.0, {at} - time.time()))\n{code}"
    return [
        subprocess.Popen([sys.executable, "-c", program, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(count)
    ]


def test_processes_racing_to_create_a_repository_all_open_it(tmp_path: Path) -> None:
    code = "from pathlib import Path; from gitops_engine.adapters import git; git.open_repository(Path(sys.argv[1]))"
    for round_ in range(4):  # bounded: four races of six (before the fix about one loser in eight failed)
        path = tmp_path / f"race{round_}.git"
        children = start_together(code, [str(path)], 6, time.time() + 1.5)
        results = [(child.wait(timeout=60), child.stderr.read() if child.stderr else b"") for child in children]
        assert [code for code, _ in results] == [0] * 6, results
        assert git.open_repository(path, create=False).is_bare
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(f".race{round_}")] == []


def test_identical_seeds_started_together_all_succeed_with_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    repo = tmp_path / "fleet.git"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = "from gitops_engine.cli.main import main; sys.exit(main(sys.argv[1:]))"
    argv = ["seed", "-c", str(spec), "--repo", str(repo), "--create"]

    children = start_together(code, argv, 3, time.time() + 2.0)

    codes = [(child.wait(timeout=120), child.stderr.read() if child.stderr else b"") for child in children]
    assert [code for code, _ in codes] == [0, 0, 0], codes
    log = subprocess.run(["git", "--git-dir", str(repo), "rev-list", "--count", "main"], capture_output=True, text=True)
    assert log.stdout.strip() == "1"


def test_a_push_rejected_because_an_identical_push_won_is_a_success(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    remote = transport.Remote(f"file://{bare}")
    store = transport.store_for(remote.url, tmp_path / "stores")
    repo = git.open_repository(store)
    base = git.create_commit(repo, git.write_tree(repo, {"a": b"1"}), [], "base", AUTHOR)
    transport.push_branch(remote, store, base, "main", None, lease=False)
    ours = git.create_commit(repo, git.write_tree(repo, {"a": b"2"}), [base], "same change", AUTHOR)
    # between our push's checks and its update, an identical run's push of the same commit lands: the server
    # then refuses ours ("failed to update ref") although the branch holds exactly our commit
    hook = bare / "hooks" / "update"
    hook.write_text('#!/bin/sh\ngit update-ref "$1" "$3" "$2"\n')
    hook.chmod(0o755)

    transport.push_branch(remote, store, ours, "main", base, lease=True)

    assert transport.remote_head(remote, "main", store) == ours
    # a different commit landing there instead is a race too: the branch moved, so publish computes again
    hook.write_text('#!/bin/sh\ngit update-ref "$1" "$(git commit-tree -m other "$3^{tree}")" "$2"\n')
    mine = git.create_commit(repo, git.write_tree(repo, {"a": b"3"}), [ours], "a further change", AUTHOR)
    with pytest.raises(ConflictError, match=r"failed to update ref\)\): the branch moved"):
        transport.push_branch(remote, store, mine, "main", ours, lease=True)
    # while a refusal that leaves the branch where it was stays a refusal
    hook.write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(ToolError, match="hook declined"):
        transport.push_branch(remote, store, mine, "main", transport.remote_head(remote, "main", store), lease=True)


def _seeded_with_a_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, age_minutes: int) -> tuple[Path, Path]:
    """A seeded repository whose main has a git lock file `age_minutes` old, and the spec (a change to seed)."""
    spec = write_example(tmp_path, reproducible_spec_text())
    repo = tmp_path / "fleet.git"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert run_cli("seed", "-c", str(spec), "--repo", str(repo), "--create").code == 0
    lock = repo / "refs" / "heads" / "main.lock"
    lock.write_text("")
    stamp = time.time() - age_minutes * 60
    os.utime(lock, (stamp, stamp))
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 45d"))
    return repo, spec


def test_a_fresh_lock_file_in_the_way_is_named_with_its_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, spec = _seeded_with_a_lock_file(tmp_path, monkeypatch, age_minutes=2)
    lock = repo / "refs" / "heads" / "main.lock"
    before = git.head_of(git.open_repository(repo, create=False), "main").commit

    blocked = run_cli("seed", "-c", str(spec), "--repo", str(repo))

    assert blocked.code == 1
    assert re.match(rf"error: refs/heads/main is locked by {re.escape(str(lock))} \(12\d s old: ", blocked.err)
    assert "a lock file over 10 minutes old is removed" in blocked.err
    assert "delete it now if no git command is running" in blocked.err
    assert lock.exists()
    assert git.head_of(git.open_repository(repo, create=False), "main").commit == before
    lock.unlink()
    assert run_cli("seed", "-c", str(spec), "--repo", str(repo)).code == 0


def test_a_lock_file_a_crashed_writer_left_long_ago_is_removed_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, spec = _seeded_with_a_lock_file(tmp_path, monkeypatch, age_minutes=11)
    before = git.head_of(git.open_repository(repo, create=False), "main").commit

    done = run_cli("seed", "-c", str(spec), "--repo", str(repo))

    assert done.code == 0, done.err
    assert not (repo / "refs" / "heads" / "main.lock").exists()
    after = git.head_of(git.open_repository(repo, create=False), "main").commit
    assert after is not None and after != before
    assert _parents(repo, after) == [before]


def test_a_branch_whose_stale_lock_file_is_in_the_way_is_still_deleted(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    commit = git.create_commit(repo, git.write_tree(repo, {"a.yaml": b"a: 1\n"}), [], "first\n", AUTHOR)
    git.move_branch(repo, "topic", commit, None, "test")
    lock = tmp_path / "r.git" / "refs" / "heads" / "topic.lock"
    lock.write_text("")
    an_hour_ago = time.time() - 3600
    os.utime(lock, (an_hour_ago, an_hour_ago))

    git.delete_branch(repo, "topic", commit)

    assert git.branch_names(repo) == [] and not lock.exists()


def _parents(repo: Path, commit: str) -> list[str]:
    line = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-list", "--parents", "-n", "1", commit],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return line[1:]


def test_pack_files_left_by_a_crash_are_removed_by_the_next_write_and_named_for_git_gc(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    pack_dir = tmp_path / "r.git" / "objects" / "pack"
    pack_dir.mkdir(parents=True, exist_ok=True)
    leftovers = ("tmp_gitops-engine_a1", "tmp-pack-pack-b2.pack", "tmp_gitops-engine_c3")
    old, legacy, fresh = (pack_dir / name for name in leftovers)
    for leftover in (old, legacy, fresh):
        leftover.write_bytes(b"PACK half written")
    two_hours_ago = time.time() - 7200
    for leftover in (old, legacy):
        os.utime(leftover, (two_hours_ago, two_hours_ago))

    git.write_tree(repo, MANY)

    names = sorted(p.name for p in pack_dir.iterdir())
    assert [n for n in names if n.startswith("tmp")] == [fresh.name], "a fresh one may be another run's, at work"
    assert [n.rsplit(".", 1)[1] for n in names if n.startswith("pack-")] == ["idx", "pack"]
    # our name is one git's own pruning removes too
    subprocess.run(["git", "--git-dir", str(tmp_path / "r.git"), "prune", "--expire=now"], check=True)
    assert not fresh.exists()


def test_a_scratch_repository_a_killed_creation_left_is_removed_by_a_later_creation_once_old(tmp_path: Path) -> None:
    # what kill -9 between init and rename leaves beside the target (found by tests/crash): one old, one fresh
    old, fresh = tmp_path / ".fleet.git.k1ll3d.new", tmp_path / ".fleet.git.w0rk1n.new"
    for scratch in (old, fresh):
        git.open_repository(scratch)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))

    assert git.open_repository(tmp_path / "fleet.git").is_bare

    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "fleet.git"], "a fresh one may be at work"


def test_a_scratch_repository_left_beside_an_existing_one_is_removed_by_a_later_pack_write(tmp_path: Path) -> None:
    # a killed creation whose next run came within the hour: that run made the repository, so no creation follows
    repo = git.open_repository(tmp_path / "fleet.git")
    left = tmp_path / ".fleet.git.k1ll3d.new"
    git.open_repository(left)
    two_hours_ago = time.time() - 7200
    os.utime(left, (two_hours_ago, two_hours_ago))

    git.write_tree(repo, MANY)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.git"]
