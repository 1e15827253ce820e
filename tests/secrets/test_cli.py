"""The `secrets` CLI in-process: keygen, one-file round trips, and `--repo` commits guarded against plaintext."""

from __future__ import annotations

import stat
from pathlib import Path

import pygit2
import pytest

from gitops_engine.adapters.git import (
    Signature,
    create_commit,
    head_of,
    move_branch,
    open_repository,
    read_tree,
    write_tree,
)
from gitops_engine.cli.main import main
from gitops_engine.core.errors import SecretLeakError
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.creation_rules import render_config
from gitops_engine.secrets.guard import plaintext_violations
from tests.secrets.test_tamper import SECRET


def test_keygen_writes_0600_and_prints_only_the_recipient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "age" / "keys.txt"
    assert main(["secrets", "keygen", str(key)]) == 0
    out = capsys.readouterr()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert out.out.startswith("age1") and out.out.count("\n") == 1
    assert "AGE-SECRET-KEY" not in out.out + out.err and "AGE-SECRET-KEY-1" in key.read_text()
    assert main(["secrets", "keygen", str(key)]) == 2  # never overwrites


def test_encrypt_then_decrypt_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "keys.txt"
    main(["secrets", "keygen", str(key)])
    recipient = capsys.readouterr().out.strip()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    (tmp_path / ".sops.yaml").write_bytes(render_config([recipient]))
    target = tmp_path / "secrets" / "db.sops.yaml"
    target.parent.mkdir()
    target.write_bytes(SECRET)
    assert main(["secrets", "encrypt", "-i", str(target)]) == 0
    assert b"hunter2" not in target.read_bytes() and b"encrypted_regex: ^(data|stringData)$" in target.read_bytes()
    capsys.readouterr()
    assert main(["secrets", "decrypt", str(target)]) == 0
    assert "password: hunter2" in capsys.readouterr().out
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "missing.txt"))
    assert main(["secrets", "decrypt", str(target)]) == 2


def _seed(repo_path: Path, files: dict[str, bytes]) -> pygit2.Repository:
    repo = open_repository(repo_path)
    tree = write_tree(repo, files, guard=None)  # the fixture holds plaintext on purpose: the command encrypts it
    commit = create_commit(repo, tree, [], "seed", Signature("t", "t@example.invalid", 1_700_000_000))
    move_branch(repo, "main", commit, None, "seed")
    return repo


def test_repo_mode_commits_once_and_guard_refuses_plaintext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "keys.txt"
    main(["secrets", "keygen", str(key)])
    recipient = capsys.readouterr().out.strip()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    files = {
        ".sops.yaml": render_config([recipient]),
        "clusters/c1/secrets/a.sops.yaml": SECRET,
        "clusters/c1/secrets/b.sops.yaml": SECRET.replace(b"creds", b"other"),
        "apps/readme.md": b"not a secret\n",
    }
    repo = _seed(tmp_path / "repo.git", files)
    before = head_of(repo, "main").commit
    assert main(["secrets", "encrypt", "--repo", str(tmp_path / "repo.git"), "--branch", "main"]) == 0
    head = head_of(repo, "main")
    assert head.commit is not None
    commit = repo.revparse_single(head.commit).peel(pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [before]
    tree = read_tree(repo, head.tree)
    assert b"hunter2" not in tree["clusters/c1/secrets/a.sops.yaml"]
    assert sopsfile.same_plaintext(tree["clusters/c1/secrets/a.sops.yaml"], SECRET, [key.read_text().split()[-1]])
    assert main(["secrets", "rotate", "--repo", str(tmp_path / "repo.git")]) == 0
    assert head_of(repo, "main").commit != head.commit
    leaked = dict(tree) | {"clusters/c1/secrets/new.sops.yaml": SECRET}
    with pytest.raises(SecretLeakError, match="refusing to commit plaintext secrets"):
        write_tree(repo, leaked, guard=plaintext_violations)
