"""A plaintext Secret (or a private key) tried through every route that commits: each is refused, nothing lands.

Routes: a seed into a local repository, into a smart-HTTP remote and into Gitea; propagation; and the conflict
branch a re-seed writes when hand edits collide. All of them go through app.publish, whose guard is always on.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.seed import builtin_catalog_dir
from tests.forge.gitea_server import GiteaServer
from tests.forge.test_seed_targets import _gitea_spec
from tests.propagate.fleet import fleet, source, workspace
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

PLAINTEXT = b"""apiVersion: v1
kind: Secret
metadata:
  name: leaked
stringData:
  password: hunter2-plaintext
"""
AGE_KEY = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" + "QPZRY9X8GF2TVDW0S3JN54KHCE6M"
HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)


def _leaky_spec(directory: Path, text: str | None = None) -> Path:
    """The example spec plus a user catalog app whose folder carries a plaintext Secret."""
    source_folder = next((builtin_catalog_dir() / "metallb").iterdir())
    folder = directory / "leaky" / "lb-leaky" / source_folder.name
    shutil.copytree(source_folder, folder)
    (folder / "secret.yaml").write_bytes(PLAINTEXT)
    kustomization = folder / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - secret.yaml\n")
    base = text if text is not None else reproducible_spec_text()
    base = base.replace("catalog:\n", "catalog:\n  paths:\n    - leaky\n", 1)
    return write_example(directory, base.replace("apps:\n", "apps:\n  - {app: lb-leaky, workspace: management}\n", 1))


def _refs(bare: Path) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout


def _objects_hold(bare: Path, needle: bytes) -> bool:
    repo = git.open_repository(bare, create=False)
    return any(needle in repo.odb.read(oid)[1] for oid in repo.odb)


def test_a_seed_into_a_local_repository_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    spec = _leaky_spec(tmp_path)
    result = run_cli("seed", "-c", str(spec), "--no-verify")
    assert result.code == 1
    assert "refusing to commit plaintext secrets" in result.err
    assert "applications/lb-leaky/0.14.8/secret.yaml:" in result.err and "hunter2" not in result.err
    bare = tmp_path / "fleet.git"
    assert not bare.exists() or (_refs(bare) == "" and not _objects_hold(bare, b"hunter2"))


def test_a_seed_into_a_remote_and_into_gitea_is_refused(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    # a smart-HTTP remote reached with the user's own credential helper
    store = tmp_path / "git-credentials"
    store.write_text(f"http://alice:alice-password@{gitea.url.removeprefix('http://')}\n")
    store.chmod(0o600)
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)
    plain = gitea.add_plain_repo("plain", "fleet")
    spec = _leaky_spec(tmp_path)
    result = run_cli("seed", "-c", str(spec), "--repo", f"{gitea.url}/plain/fleet.git", "--no-verify")
    assert result.code == 1 and "refusing to commit plaintext secrets" in result.err
    assert _refs(plain) == ""
    # a Gitea repository (the spec's gitea block)
    (tmp_path / "second").mkdir()
    gitea_spec = _gitea_spec(tmp_path / "second", gitea, reproducible_spec_text())
    spec_text = _leaky_spec(tmp_path / "second", gitea_spec.read_text()).read_text()
    gitea_spec.write_text(spec_text)
    result = run_cli("seed", "-c", str(gitea_spec), "--no-verify")
    assert result.code == 1 and "refusing to commit plaintext secrets" in result.err
    assert gitea.pulls_of("platform", "fleet") == []
    assert tokens["alice"] not in result.err


def test_propagation_of_a_catalog_repository_carrying_a_private_key_is_refused(tmp_path: Path) -> None:
    doc = source("partner", {"kommander.d2iq.io/workspace-default-catalog-repository": "true"})
    doc["metadata"]["annotations"] = {"note": AGE_KEY}  # copies carry the source's metadata
    tree = fleet({"partner": doc}, workspace("team-a"))
    repo = git.open_repository(tmp_path / "fleet.git")
    # planted by hand (the guard would refuse it here too): the repository already holds it
    tree_id = git.write_tree(repo, dict(tree), guard=None)
    commit = git.create_commit(repo, tree_id, [], "planted", HUMAN)
    git.move_branch(repo, "main", commit, None, "test")
    result = run_cli("propagate", "--repo", str(tmp_path / "fleet.git"), "--no-verify")
    assert result.code == 1
    assert "holds an age private key" in result.err
    assert git.head_of(repo, "main").commit == commit


def test_the_conflict_branch_of_a_re_seed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    spec = write_example(tmp_path, reproducible_spec_text())
    assert run_cli("seed", "-c", str(spec)).code == 0
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    head = git.head_of(repo, "main")
    files = dict(git.read_tree(repo, head.tree))
    path = "clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"
    # someone turns the overrides into a plaintext Secret on the very lines the next render changes
    text = files[path].decode().replace("kind: ConfigMap", "kind: Secret").replace("retention: 30d", "retention: 45d")
    files[path] = text.encode()
    tree_id = git.write_tree(repo, files, guard=None)
    commit = git.create_commit(repo, tree_id, [head.commit or ""], "oops", HUMAN)
    git.move_branch(repo, "main", commit, head.commit, "human")
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 60d"))
    result = run_cli("seed", "-c", str(spec), "--no-verify")
    assert result.code == 1 and "refusing to commit plaintext secrets" in result.err
    assert git.head_of(repo, "gitops-engine/reseed-conflicts").commit is None
    assert git.head_of(repo, "main").commit == commit
