"""The currency bot on remote targets: pull requests on the test Gitea, plain branches on a smart-HTTP remote.

The base is small-repo pushed through publish; the chart index is served over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import Target, gitea_target, parse_target
from gitops_engine.app.bump import Action, AdapterLookup, bump_target
from gitops_engine.cli.main import main
from gitops_engine.model.tree import Tree
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree as publish
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import NOW, SMALL_REPO, files_under
from tests.updates.support import renovate_index_bytes as make_index

PEER_URL = b"http://127.0.0.1:18879"


@pytest.fixture
def helm_server() -> Iterator[RepoServer]:
    with serving() as server:
        yield server


def _seeded(target: Target, server: RepoServer, tmp_path: Path) -> Tree:
    """small-repo, its Helm URL pointed at `server`, pushed as the first commit of main."""
    (tmp_path / "index").mkdir()
    server.routes["/index.yaml"] = Route(body=make_index(tmp_path / "index", server.url))
    files = Tree({p: d.replace(PEER_URL, server.url.encode()) for p, d in files_under(SMALL_REPO).items()})
    author = git.Signature("human", "h@example.invalid", 1_800_000_000)
    publish(target, "main", lambda _base: files, "fleet", author=author)
    return files


def _branch_tree(bare: Path, ref: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", f"{ref}^{{tree}}"], capture_output=True, text=True
    )
    return done.stdout.strip()


def test_bump_on_gitea_opens_updates_and_closes_pull_requests(
    gitea: GiteaServer,
    helm_server: RepoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    files = _seeded(target, helm_server, tmp_path)
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    scans = tmp_path / "scans"

    first = bump_target(target, lookup, now=NOW, cache_dir=scans)
    assert first.branches and {o.action for o in first.outcomes} == {Action.CREATED}
    pulls = gitea.pulls_of("platform", "fleet")
    assert sorted(p.head_ref for p in pulls) == sorted(b.name for b in first.branches)
    traefik = next(p for p in pulls if p.head_ref == "gitops-engine/traefik-33")
    assert traefik.title == "Update traefik to 33.1.0" and traefik.base == "main"
    assert "| traefik | prod | `25.0.0` → `33.1.0` | major |" in traefik.body
    bare = gitea.bare_path("platform", "fleet")
    shown = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "gitops-engine/traefik-33:clusters/prod/apps/traefik/helmrelease.yaml"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert shown == files["clusters/prod/apps/traefik/helmrelease.yaml"].replace(b"25.0.0 #", b"33.1.0 #")

    # a rerun with nothing new pushes nothing and opens no second PR
    trees = {b.name: _branch_tree(bare, b.name) for b in first.branches}
    second = bump_target(target, lookup, now=NOW, cache_dir=scans)
    assert {o.action for o in second.outcomes} == {Action.UNCHANGED}
    assert len(gitea.pulls_of("platform", "fleet")) == len(pulls)
    assert {b.name: _branch_tree(bare, b.name) for b in first.branches} == trees

    # someone merges traefik 33.1.0 by hand: the bot's traefik PRs are superseded and closed
    path = "clusters/prod/apps/traefik/helmrelease.yaml"
    publish(
        target,
        "main",
        lambda base: base.merged({path: base[path].replace(b"25.0.0 #", b"33.1.0 #")}),
        "traefik by hand",
        author=git.Signature("human", "h@example.invalid", 1_800_000_100),
    )
    third = bump_target(target, lookup, now=NOW, cache_dir=scans)
    actions = {o.name: o.action for o in third.outcomes}
    assert actions["gitops-engine/traefik-33"] is Action.SUPERSEDED
    closed = [p for p in gitea.pulls_of("platform", "fleet") if p.head_ref == "gitops-engine/traefik-33"]
    assert [p.state for p in closed] == ["closed"]
    assert any("Superseded" in body for _, _, body in closed[0].comments)
    # the others were rebuilt on the new base, still one open PR each
    still_open = [p for p in gitea.pulls_of("platform", "fleet") if p.state == "open"]
    # traefik 25.0.0 had two proposals (newest 25.x and newest major): both are gone with 33.1.0 merged
    superseded = sorted(n for n, a in actions.items() if a is Action.SUPERSEDED)
    assert superseded == ["gitops-engine/traefik-25", "gitops-engine/traefik-33"]
    assert len(still_open) == len(pulls) - 2
    captured = capfd.readouterr()
    assert tokens["alice"] not in captured.out + captured.err


def test_bump_on_a_plain_remote_pushes_branches(
    gitea: GiteaServer, helm_server: RepoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "git-credentials"
    store.write_text(f"http://alice:alice-password@{gitea.url.removeprefix('http://')}\n")
    store.chmod(0o600)
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)
    bare = gitea.add_plain_repo("plain", "fleet")
    target = parse_target(f"{gitea.url}/plain/fleet.git")
    server_files = _seeded(target, helm_server, tmp_path)
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    dry = bump_target(target, lookup, now=NOW, dry_run=True)
    assert {o.action for o in dry.outcomes} == {Action.PLANNED}
    assert git.branch_names(git.open_repository(bare, create=False), "gitops-engine/") == []
    result = bump_target(target, lookup, now=NOW)
    assert {o.action for o in result.outcomes} == {Action.CREATED}
    repo = git.open_repository(bare, create=False)
    assert sorted(git.branch_names(repo, "gitops-engine/")) == sorted(b.name for b in result.branches)
    branch_files = git.read_tree(repo, git.head_of(repo, "gitops-engine/traefik-33").tree)
    changed = [p for p in server_files if server_files[p] != branch_files[p]]
    assert changed == ["clusters/prod/apps/traefik/helmrelease.yaml"]
    assert gitea.pulls_of("plain", "fleet") == []


def test_the_cli_reaches_gitea_pull_requests_through_a_token_option(
    gitea: GiteaServer,
    helm_server: RepoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--gitea-token-env` makes --repo a Gitea repository: the scheduled bot opens pull requests from the CLI."""
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    _seeded(target, helm_server, tmp_path)
    repo = f"{gitea.url}/platform/fleet.git"
    code = main(["bump", "--repo", repo, "--gitea-token-env", "TEST_GITEA_TOKEN", "--json"])
    captured = capsys.readouterr()
    # small-repo's OCI sources have no registry here: their lookups fail, the Helm ones still get their PRs
    assert code == 1
    branches = {b["name"] for b in json.loads(captured.out)["branches"]}
    assert "gitops-engine/traefik-33" in branches
    assert {p.head_ref for p in gitea.pulls_of("platform", "fleet")} == branches
    assert tokens["alice"] not in captured.out + captured.err
