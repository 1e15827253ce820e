"""Reviews on the test Gitea: a spec pull request gets one plan comment kept current; a bot pull request a human
closed stays closed until upstream publishes a newer version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.gitea import GiteaClient
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import gitea_target
from gitops_engine.app.bump import Action, AdapterLookup, bump_target
from gitops_engine.app.plan_comment import PLAN_MARKER
from gitops_engine.app.seed import SPEC_PATH
from gitops_engine.cli.main import main
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree
from tests.forge.test_bump_gitea import _seeded
from tests.lookups.servers import RepoServer, Route, serving
from tests.seed.helpers import reproducible_spec_text
from tests.updates.support import NOW

HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)


@pytest.fixture
def helm_server() -> Iterator[RepoServer]:
    with serving() as server:
        yield server


def _branch_from_main(bare: Path, branch: str, files: dict[str, bytes]) -> None:
    """A human's branch on the server: main plus `files`."""
    repo = git.open_repository(bare, create=False)
    main_head = git.head_of(repo, "main")
    tree = dict(git.read_tree(repo, main_head.tree))
    tree.update(files)
    current = git.head_of(repo, branch).commit
    parent = current or main_head.commit or ""
    commit = git.create_commit(repo, git.write_tree(repo, tree), [parent], "spec change", HUMAN)
    git.move_branch(repo, branch, commit, current, "human")


def test_a_spec_pull_request_gets_one_plan_comment_kept_current(
    gitea: GiteaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITEA_TOKEN", tokens["alice"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "GITEA_TOKEN"}, "test"
    )
    spec = reproducible_spec_text()
    publish_tree(target, "main", lambda _base: {SPEC_PATH: spec.encode()}, "spec", author=HUMAN)  # type: ignore[arg-type,return-value]
    repo_url = f"{gitea.url}/platform/fleet.git"
    options = ["--repo", repo_url, "--gitea-token-env", "GITEA_TOKEN"]
    assert main(["seed", *options, "--ref", "main"]) == 0
    bare = gitea.bare_path("platform", "fleet")
    _branch_from_main(bare, "spec/domain", {SPEC_PATH: spec.replace("cluster.local", "cluster.example").encode()})
    with GiteaClient(gitea.url, tokens["alice"]) as client:
        pull = client.create_pull_request("platform", "fleet", "spec/domain", "main", "Change the domain", "")
    capsys.readouterr()

    assert main(["plan", *options, "--ref", "spec/domain", "--comment"]) == 0
    first = capsys.readouterr()
    assert f"plan comment created on pull request #{pull.number}" in first.err
    comments = next(p for p in gitea.pulls_of("platform", "fleet") if p.number == pull.number).comments
    assert len(comments) == 1 and comments[0][2] == f"{PLAN_MARKER}\n{first.out}"
    assert "**5 file(s)** change." in first.out  # kommander-vars of the four clusters, the provenance file

    assert main(["plan", *options, "--ref", "spec/domain", "--comment"]) == 0
    assert "plan comment unchanged" in capsys.readouterr().err

    _branch_from_main(
        bare,
        "spec/domain",
        {SPEC_PATH: spec.replace("cluster.local", "cluster.example").replace("30d", "40d").encode()},
    )
    assert main(["plan", *options, "--ref", "spec/domain", "--comment"]) == 0
    third = capsys.readouterr()
    assert "plan comment updated" in third.err
    comments = next(p for p in gitea.pulls_of("platform", "fleet") if p.number == pull.number).comments
    assert len(comments) == 1 and "**6 file(s)** change." in comments[0][2]


def test_a_bot_pull_request_closed_by_hand_stays_closed_until_a_newer_version(
    gitea: GiteaServer, helm_server: RepoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    _seeded(target, helm_server, tmp_path)
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    first = bump_target(target, lookup, now=NOW, verify=False)
    traefik = next(o for o in first.outcomes if o.name == "gitops-engine/traefik-33")
    assert traefik.action is Action.CREATED and traefik.pull_request is not None
    with GiteaClient(gitea.url, tokens["alice"]) as client:
        client.edit_pull_request("platform", "fleet", traefik.pull_request.number, state="closed")

    second = bump_target(target, lookup, now=NOW, verify=False)
    assert {o.name: o.action for o in second.outcomes}["gitops-engine/traefik-33"] is Action.DECLINED
    traefik_pulls = [p for p in gitea.pulls_of("platform", "fleet") if p.head_ref == "gitops-engine/traefik-33"]
    assert [p.state for p in traefik_pulls] == ["closed"]  # not reopened, not proposed again
    repo = git.open_repository(gitea.bare_path("platform", "fleet"), create=False)
    assert git.head_of(repo, "gitops-engine/traefik-33").commit is None  # its branch is cleaned up

    # upstream publishes a newer traefik 33: that is a new proposal, so a new pull request
    index = yaml.safe_load(helm_server.routes["/index.yaml"].body)
    newer = dict(index["entries"]["traefik"][0], version="33.3.0", created="2026-01-01T00:00:00Z")
    index["entries"]["traefik"].insert(0, newer)
    helm_server.routes["/index.yaml"] = Route(body=yaml.safe_dump(index).encode())
    third = bump_target(target, lookup, now=NOW, verify=False)
    assert {o.name: o.action for o in third.outcomes}["gitops-engine/traefik-33"] is Action.CREATED
    titles = sorted(
        (p.title, p.state) for p in gitea.pulls_of("platform", "fleet") if p.head_ref.endswith("traefik-33")
    )
    assert titles == [("Update traefik to 33.1.0", "closed"), ("Update traefik to 33.3.0", "open")]
