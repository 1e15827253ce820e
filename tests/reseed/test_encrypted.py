"""Encrypted files changed on both sides are compared on their plaintext (real age keys), never line-merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.reseed import reseed_tree
from gitops_engine.core.hashing import git_blob_id
from gitops_engine.model.tree import Tree
from gitops_engine.reseed.decide import Status
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.sopsfile import encrypt_yaml

SECRET = "clusters/c/secrets/db.sops.yaml"
STATE = ".gitops-engine/state.yaml"
PLAIN = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: %s\n"
_WHO = git.Signature("t", "t@example.invalid", 1_800_000_000)


def _state(files: dict[str, bytes]) -> bytes:
    return b"kind: State\nfiles:\n" + b"".join(f"  {p}: {git_blob_id(d)}\n".encode() for p, d in files.items())


def _commit(repo: git.Repository, files: dict[str, bytes], parent: str | None) -> str:
    commit = git.create_commit(repo, git.write_tree(repo, files), [parent] if parent else [], "c", _WHO)
    git.move_branch(repo, "main", commit, parent, "test")
    return commit


def _reseed_secret(tmp_path: Path, recipient: str, human_value: bytes) -> tuple[Status, str]:
    repo_path = tmp_path / "repo.git"
    repo = git.open_repository(repo_path)
    first = {SECRET: encrypt_yaml(PLAIN % b"s3cret", [recipient])}
    parent = _commit(repo, {**first, STATE: _state(first)}, None)
    # a human re-encrypts the file (new data key, new ciphertext) holding `human_value`
    _commit(repo, {SECRET: encrypt_yaml(PLAIN % human_value, [recipient]), STATE: _state(first)}, parent)
    head = git.head_of(repo, "main")
    second = {SECRET: encrypt_yaml(PLAIN % b"s3cret", [recipient])}  # the engine's new render, same plaintext
    assert second[SECRET] != first[SECRET]
    rendered = Tree({**second, STATE: _state(second)})
    current = git.list_blobs(repo, head.tree)
    state = git.read_file(repo, head.tree, STATE)
    result = reseed_tree(repo, current, state, rendered, state_path=STATE)
    (decision,) = (d for d in result.decisions if d.path == SECRET)
    assert decision.engine_blob == git_blob_id(second[SECRET])
    assert b"<<<<<<<" not in result.files.get(SECRET, b"")
    return decision.status, decision.note


def test_same_plaintext_keeps_the_repository_ciphertext(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    status, _ = _reseed_secret(tmp_path, recipient, b"s3cret")
    assert status is Status.KEPT


def test_changed_plaintext_is_re_rendered_and_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    status, note = _reseed_secret(tmp_path, recipient, b"changed-by-hand")
    assert status is Status.REPLACED and "re-rendered" in note


def test_without_a_key_the_file_is_re_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, recipient = generate_identity()
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    status, _ = _reseed_secret(tmp_path, recipient, b"s3cret")
    assert status is Status.REPLACED
