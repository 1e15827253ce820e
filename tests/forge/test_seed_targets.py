"""`gitops-engine seed` end to end on every kind of target: local bare repo, smart-HTTP remote, test Gitea."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.targets import gitea_target
from gitops_engine.model.tree import Tree
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree as publish
from tests.seed.helpers import FIXED_RECIPIENT, example_spec_text, reproducible_spec_text, run_cli, write_example

GITEA_BLOCK = """  gitea:
    url: {url}
    owner: platform
    repository: fleet
    tokenEnv: TEST_GITEA_TOKEN
"""


def _tree(bare: Path, ref: str = "main") -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", f"{ref}^{{tree}}"], capture_output=True, text=True
    )
    return done.stdout.strip()


def _gitea_spec(directory: Path, gitea: GiteaServer, text: str) -> Path:
    block = GITEA_BLOCK.format(url=gitea.url)
    text = text.replace(
        "  repository: ./fleet.git          # a local bare repository (created if missing), or a git remote URL\n",
        block,
    )
    return write_example(directory, text)


def test_seed_ends_with_the_same_tree_on_every_target(
    gitea: GiteaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    # one spec for all three (its digest is recorded in the tree); --repo overrides its Gitea target
    spec = _gitea_spec(tmp_path, gitea, reproducible_spec_text())
    assert run_cli("seed", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create").code == 0
    local = _tree(tmp_path / "fleet.git")
    # smart HTTP with credentials from a git credential helper in the test's own git config
    store = tmp_path / "git-credentials"
    store.write_text(f"http://alice:alice-password@{gitea.url.removeprefix('http://')}\n")
    store.chmod(0o600)
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)
    plain = gitea.add_plain_repo("plain", "fleet")
    result = run_cli("seed", "-c", str(spec), "--repo", f"{gitea.url}/plain/fleet.git")
    assert result.code == 0, result.err
    assert _tree(plain) == local
    # Gitea: organisation and repository created through the API, then pushed
    gitea_spec = spec
    result = run_cli("seed", "-c", str(gitea_spec))
    assert result.code == 0, result.err
    assert _tree(gitea.bare_path("platform", "fleet")) == local
    again = run_cli("seed", "-c", str(gitea_spec))
    assert again.code == 0 and "up to date" in again.out
    captured = capfd.readouterr()
    for text in (result.out, result.err, again.out, again.err, captured.out, captured.err):
        assert tokens["alice"] not in text


def test_second_seed_on_gitea_is_proposed_as_a_pull_request(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    text = example_spec_text() + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n"
    spec = _gitea_spec(tmp_path, gitea, text)
    assert run_cli("seed", "-c", str(spec)).code == 0
    bare = gitea.bare_path("platform", "fleet")
    main_before = _tree(bare)
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 45d"))
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 0, result.err
    assert "pull request #" in result.out
    assert _tree(bare) == main_before  # main untouched: the change waits in the PR
    assert _tree(bare, "gitops-engine/seed") != main_before
    rerun = run_cli("seed", "-c", str(spec))
    assert rerun.code == 0
    pulls = gitea.pulls_of("platform", "fleet")
    assert [(p.head_ref, p.base, p.state) for p in pulls] == [("gitops-engine/seed", "main", "open")]


def test_conflicting_reseed_on_gitea_opens_a_pull_request_with_markers(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    # mode push: re-seeds go straight to main, so only a conflict can make a pull request here
    spec = _gitea_spec(
        tmp_path, gitea, reproducible_spec_text().replace("  interval: 1m\n", "  interval: 1m\n  mode: push\n")
    )
    assert run_cli("seed", "-c", str(spec)).code == 0
    overrides = "clusters/host-cluster/apps/management/kube-prometheus-stack-overrides.yaml"
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "t"
    )
    author = git.Signature("human", "human@example.invalid", 1_800_000_000)

    def hand_edit(base: Tree) -> Tree:
        return base.merged({overrides: base[overrides].replace(b"retention: 30d", b"retention: 45d")})

    publish(target, "main", hand_edit, "tune retention by hand", author=author)
    bare = gitea.bare_path("platform", "fleet")
    main_before = _tree(bare)
    spec.write_text(spec.read_text().replace("retention: 30d", "retention: 60d"))
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 1
    assert overrides in result.err and "gitops-engine/reseed-conflicts" in result.err
    assert tokens["alice"] not in result.err
    assert _tree(bare) == main_before
    shown = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"gitops-engine/reseed-conflicts:{overrides}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "<<<<<<< ours" in shown and "retention: 45d" in shown and "retention: 60d" in shown
    pulls = gitea.pulls_of("platform", "fleet")
    assert [(p.head_ref, p.base, p.state) for p in pulls] == [("gitops-engine/reseed-conflicts", "main", "open")]
