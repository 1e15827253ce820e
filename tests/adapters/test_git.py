"""The pygit2 commit path: tree ids agree with git's own, refs move only by compare-and-swap."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.core.errors import ConflictError, InputError, SecretLeakError

FILES = {
    "a.yaml": b"kind: A\n",
    "a/b.yaml": b"kind: B\n",
    "a-b/c.yaml": b"kind: C\n",
    "a/deep/er/file.txt": b"deep\n",
    "z": b"",
}
AUTHOR = git.Signature("gitops-engine", "engine@example.invalid", 1_700_000_000)


def _git_write_tree(tmp_path: Path, files: dict[str, bytes]) -> str:
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    for path, data in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    out = subprocess.run(["git", "-C", str(work), "write-tree"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def test_tree_id_matches_git_write_tree(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    ours = git.write_tree(repo, FILES)
    assert ours == _git_write_tree(tmp_path, FILES)
    fsck = subprocess.run(["git", "-C", str(tmp_path / "r.git"), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_tree_id_matches_git_for_unsorted_shared_and_non_ascii_entries(tmp_path: Path) -> None:
    shared = b"same bytes object under many paths\n"
    files = {
        "b/x.yaml": shared,
        "é.yaml": b"accent\n",
        "a/z.yaml": shared,
        "ü/ß/deep.yaml": b"deep\n",
        "b/a.yaml": b"other\n",
        "a0": shared,
        "a.b/c": b"dot\n",
        "ẞ": b"capital sharp s\n",
    }
    repo = git.open_repository(tmp_path / "r.git")
    assert git.write_tree(repo, files) == _git_write_tree(tmp_path, files)


@pytest.mark.parametrize("files", [{"a": b"file", "a/b": b"below"}, {"a/b": b"below", "a": b"file"}])
def test_a_file_and_a_directory_of_the_same_name_are_refused(tmp_path: Path, files: dict[str, bytes]) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    with pytest.raises(InputError, match="share the name 'a'"):
        git.write_tree(repo, files, guard=None)


def test_round_trip_and_branch_move(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    tree = git.write_tree(repo, FILES)
    commit = git.create_commit(repo, tree, [], "first", AUTHOR)
    git.move_branch(repo, "main", commit, None, "seed")
    head = git.head_of(repo, "main")
    assert head == git.BranchHead(commit, tree)
    assert dict(git.read_tree(repo, head.tree)) == FILES


def test_concurrent_ref_move_is_detected(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    first = git.create_commit(repo, git.write_tree(repo, FILES), [], "first", AUTHOR)
    git.move_branch(repo, "main", first, None, "seed")
    ours = git.create_commit(repo, git.write_tree(repo, {"x": b"ours"}), [first], "ours", AUTHOR)
    theirs = git.create_commit(repo, git.write_tree(repo, {"x": b"theirs"}), [first], "theirs", AUTHOR)
    git.move_branch(repo, "main", theirs, first, "someone else")
    with pytest.raises(ConflictError, match="moved while we worked"):
        git.move_branch(repo, "main", ours, first, "us")
    assert git.head_of(repo, "main").commit == theirs
    with pytest.raises(ConflictError):
        git.move_branch(repo, "main", ours, None, "create")


def test_guard_refuses_before_writing(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    before = set(repo.odb)
    with pytest.raises(SecretLeakError, match=r"s\.yaml"):
        git.write_tree(repo, {"s.yaml": b"kind: Secret\n"}, guard=lambda files: [f"{p}: plaintext" for p in files])
    assert set(repo.odb) == before


def test_no_change_writes_nothing(tmp_path: Path) -> None:
    repo = git.open_repository(tmp_path / "r.git")
    first = git.write_tree(repo, FILES)
    objects = set(repo.odb)
    assert git.write_tree(repo, FILES) == first
    assert set(repo.odb) == objects


def test_bulk_write_goes_into_one_pack_that_git_reads(tmp_path: Path) -> None:
    files = {
        f"dir{i % 7}/sub{i % 3}/file{i}.yaml": f"kind: Thing\nindex: {i}\n".encode() * (i % 5 + 1) for i in range(700)
    }
    # 700+ objects are deflated in two threads; small ones with a small window, big ones with zlib's default
    files["big/values.yaml"] = b"".join(f"key{i}: value-{i * 7919 % 10007}\n".encode() for i in range(20000))
    repo = git.open_repository(tmp_path / "r.git")
    tree = git.write_tree(repo, files)
    assert tree == _git_write_tree(tmp_path, files)
    packs = list((tmp_path / "r.git" / "objects" / "pack").glob("pack-*.idx"))
    assert len(packs) == 1
    commit = git.create_commit(repo, tree, [], "bulk", AUTHOR)
    git.move_branch(repo, "main", commit, None, "bulk")
    fsck = subprocess.run(
        ["git", "-C", str(tmp_path / "r.git"), "fsck", "--strict", "--full"], capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr
    verify = subprocess.run(["git", "verify-pack", "-v", str(packs[0])], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    shown = subprocess.run(
        ["git", "-C", str(tmp_path / "r.git"), "show", "main:dir3/sub0/file3.yaml"], capture_output=True, check=True
    )
    assert shown.stdout == files["dir3/sub0/file3.yaml"]
    assert dict(git.read_tree(repo, tree)) == files


def test_changes_rebuild_only_their_trees_and_agree_with_git(tmp_path: Path) -> None:
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    for path, data in FILES.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    (work / "bin").mkdir()
    (work / "bin" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (work / "bin" / "run.sh").chmod(0o755)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    base = subprocess.run(
        ["git", "-C", str(work), "write-tree"], check=True, capture_output=True, text=True
    ).stdout.strip()
    changes = {
        "a/deep/er/file.txt": b"edited\n",
        "bin/run.sh": b"#!/bin/sh\necho edited\n",  # keeps its executable mode
        "new/dir/x.yaml": b"kind: New\n",
        "z": b"changed\n",
    }
    repo = git.open_repository(work / ".git", create=False)
    ours = git.write_tree_changes(repo, base, changes)
    for path, data in changes.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    theirs = subprocess.run(["git", "-C", str(work), "write-tree"], check=True, capture_output=True, text=True)
    assert ours == theirs.stdout.strip()
    with pytest.raises(InputError, match="share the name 'z'"):
        git.write_tree_changes(repo, base, {"z/below": b"x"})
    with pytest.raises(InputError, match="share the name 'a'"):
        git.write_tree_changes(repo, base, {"a": b"x"})
    with pytest.raises(SecretLeakError):
        git.write_tree_changes(repo, base, {"s.yaml": b"x"}, guard=lambda files: [f"{p}: plaintext" for p in files])
