"""A fleet repository holding its own spec: plans of spec pull requests, seeds from a ref, reconcile re-seeds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.seed import SPEC_PATH, builtin_catalog_dir
from tests.lookups.servers import Route, serving
from tests.seed.helpers import reproducible_spec_text, run_cli

HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)


def _commit(repo_path: Path, branch: str, files: dict[str, bytes], parent_branch: str | None = None) -> str:
    """Commit `files` (changes on top of `parent_branch`, or of `branch` itself) to `branch`."""
    repo = git.open_repository(repo_path)
    parent = git.head_of(repo, parent_branch or branch)
    tree = dict(git.read_tree(repo, parent.tree))
    tree.update(files)
    commit = git.create_commit(
        repo, git.write_tree(repo, tree), [parent.commit] if parent.commit else [], "edit", HUMAN
    )
    git.move_branch(repo, branch, commit, git.head_of(repo, branch).commit, "test")
    return commit


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose only file is its spec on main (no render yet)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "fleet.git"
    _commit(repo, "main", {SPEC_PATH: reproducible_spec_text().encode()})
    return repo


def _files(repo: Path, branch: str) -> dict[str, bytes]:
    opened = git.open_repository(repo, create=False)
    return dict(git.read_tree(opened, git.head_of(opened, branch).tree))


def test_seed_reads_the_spec_from_the_repository(fleet: Path) -> None:
    result = run_cli("seed", "--repo", str(fleet), "--ref", "main")
    assert result.code == 0, result.err
    files = _files(fleet, "main")
    assert "clusters/team-a-dev/kommander-vars.yaml" in files
    assert files[SPEC_PATH] == reproducible_spec_text().encode()  # the humans' file is left as it is
    again = run_cli("seed", "--repo", str(fleet), "--ref", "main")
    assert again.code == 0 and "up to date" in again.out


def test_a_spec_pull_request_gets_a_markdown_plan_of_what_merging_it_does(fleet: Path) -> None:
    assert run_cli("seed", "--repo", str(fleet), "--ref", "main").code == 0
    changed = reproducible_spec_text().replace("clusterDomain: cluster.local", "clusterDomain: cluster.example")
    _commit(fleet, "spec/domain", {SPEC_PATH: changed.encode()}, parent_branch="main")
    result = run_cli("plan", "--repo", str(fleet), "--ref", "spec/domain", "--markdown")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "### gitops-engine plan: merging `spec/domain` into `main`"
    # kommander-vars of the four clusters and the provenance file
    assert "| 11. Flux configuration: kommander-vars and the management GitRepository | 0 | 4 | 0 |" in lines
    assert "| 19. Provenance (.gitops-engine/state.yaml) | 0 | 1 | 0 |" in lines
    assert "**5 file(s)** change." in lines
    assert "- changed `clusters/host-cluster/kommander-vars.yaml`" in lines
    # nothing was written: main still renders cluster.local
    assert b"cluster.local" in _files(fleet, "main")["clusters/host-cluster/kommander-vars.yaml"]


def test_catalog_folders_named_by_a_repository_spec_come_from_its_tree(fleet: Path, tmp_path: Path) -> None:
    root = builtin_catalog_dir() / "metallb"
    version = next(root.iterdir())
    own = {f".gitops-engine/catalog/lb-lite/{version.name}/{p.name}": p.read_bytes() for p in version.iterdir()}
    spec = reproducible_spec_text().replace("catalog:\n", "catalog:\n  paths:\n    - catalog\n", 1)
    spec = spec.replace("apps:\n", "apps:\n  - {app: lb-lite, workspace: management}\n", 1)
    _commit(fleet, "main", {SPEC_PATH: spec.encode(), **own})
    result = run_cli("seed", "--repo", str(fleet), "--ref", "main")
    assert result.code == 0, result.err
    assert f"applications/lb-lite/{version.name}/helmrelease.yaml" in _files(fleet, "main")


# A loopback Helm mirror holding the cert-manager the catalog pins and nothing newer: the pass looks up, proposes
# nothing, and this test stays about re-seeding.
MIRROR_INDEX = b"""apiVersion: v1
entries:
  cert-manager:
  - {name: cert-manager, version: v1.16.2, created: "2026-09-01T12:00:00Z", urls: [cert-manager-v1.16.2.tgz]}
"""
# the example's charts from public OCI registries; the mirror serves Helm repositories only
OCI_APPS = ("  - {app: zookeeper, project: analytics}\n", "  - {app: kafka, project: analytics}\n")


def test_reconcile_re_seeds_when_the_spec_on_the_branch_changed(fleet: Path) -> None:
    # the fleet is air-gapped the way Kommander does it: helmMirrorURL in kommander-vars, which every HelmRepository
    # reads; the bot resolves it as Flux does, so its lookups go to the loopback mirror and nowhere else
    with serving() as mirror:
        mirror.routes["/charts/index.yaml"] = Route(body=MIRROR_INDEX)
        # and Kubernetes releases, for the example's managed cluster, from the release source the policy names
        for name, version in (("stable", "v1.31.4"), ("stable-1.30", "v1.30.8")):
            mirror.routes[f"/kubernetes/{name}.txt"] = Route(body=f"{version}\n".encode())
        policy = f"kubernetes:\n  releases: {mirror.url}/kubernetes\n".encode()
        text = _files(fleet, "main")[SPEC_PATH].decode()
        assert all(line in text for line in OCI_APPS), "the example spec changed; update OCI_APPS"
        for line in OCI_APPS:
            text = text.replace(line, "")
        commented = "  # helmMirrorURL: https://charts.mirror.example.com"
        assert commented in text, "the example spec changed; update the helmMirrorURL line"
        mirrored = text.replace(commented, f"  helmMirrorURL: {mirror.url}/charts").encode()
        _commit(fleet, "main", {SPEC_PATH: mirrored, ".gitops-engine/currency.yaml": policy})
        first = run_cli("reconcile", "--repo", str(fleet), "--json")
        assert first.code == 0, first.out + first.err
        steps = {s["name"]: s for s in json.loads(first.out)["steps"]}
        assert steps["seed"]["status"] == "ok" and steps["seed"]["detail"].startswith("committed ")
        assert steps["bump"]["status"] == "ok", steps["bump"]
        assert mirror.requests_for("/charts/index.yaml"), "the bot never asked the mirror"
        assert mirror.requests_for("/kubernetes/stable.txt"), "the bot never asked the Kubernetes release source"
        second = json.loads(run_cli("reconcile", "--repo", str(fleet), "--json").out)
        assert {s["name"]: s["detail"] for s in second["steps"]}["seed"] == "up to date"
        # a merged spec change reaches the render on the next pass
        text = _files(fleet, "main")[SPEC_PATH].decode().replace("retention: 30d", "retention: 45d")
        _commit(fleet, "main", {SPEC_PATH: text.encode()})
        third = run_cli("reconcile", "--repo", str(fleet))
        assert "seed: ok — committed " in third.out
        overrides = "clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"
        assert b"retention: 45d" in _files(fleet, "main")[overrides]
        log = subprocess.run(
            ["git", "--git-dir", str(fleet), "log", "--format=%s", "main"], capture_output=True, text=True, check=True
        )
        assert log.stdout.splitlines()[:3] == [
            "gitops-engine seed",
            "edit",
            "Propagate catalog GitRepositories to workspaces and projects",
        ]


def test_a_ref_without_a_spec_is_a_clear_error(fleet: Path) -> None:
    _commit(fleet, "empty", {"README.md": b"nothing\n"}, parent_branch="main")
    repo = git.open_repository(fleet, create=False)
    head = git.head_of(repo, "empty")
    tree = {p: d for p, d in git.read_tree(repo, head.tree).items() if p != SPEC_PATH}
    commit = git.create_commit(repo, git.write_tree(repo, tree), [head.commit or ""], "drop spec", HUMAN)
    git.move_branch(repo, "empty", commit, head.commit, "test")
    result = run_cli("plan", "--repo", str(fleet), "--ref", "empty")
    assert result.code == 2
    assert result.err == (
        f"error: {SPEC_PATH}@empty: the repository holds no platform spec at this ref (commit one there)\n"
    )
    missing = run_cli("plan", "--repo", str(fleet), "--ref", "no-such-branch")
    assert missing.code == 2 and "no branch or revision 'no-such-branch'" in missing.err
