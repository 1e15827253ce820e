"""Publishing to a local bare repo, a smart-HTTP remote and the test Gitea: same trees, races, PRs, AGit, no leaks."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_engine.adapters import git, transport
from gitops_engine.adapters.targets import GiteaTarget, GiteaUser, LocalTarget, RemoteTarget, SecretSource, Target
from gitops_engine.app.publish import Base, Change, PublishMode, Review, fixed, open_target
from gitops_engine.app.publish import publish as publish_change
from gitops_engine.core.errors import ConflictError, ToolError
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.tree import Tree
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree as publish

AUTHOR = git.Signature("gitops-engine", "engine@example.invalid", 1_700_000_000)
SEED = Tree(
    {
        "clusters/mgmt/flux-system/kustomization.yaml": b"apiVersion: kustomize.config.k8s.io/v1beta1\n",
        "clusters/mgmt/kommander-vars.yaml": b"kind: ConfigMap\n",
        "common/base/namespaces.yaml": b"kind: Namespace\n",
    }
)


def _set(path: str, content: bytes) -> Callable[[Tree], Tree]:
    return lambda base: base.merged({path: content})


def _git(bare: Path, *args: str) -> str:
    done = subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _credential_helper(gitea: GiteaServer, tmp_path: Path) -> None:
    """Alice's password for the test server, supplied by git's `store` helper in the test's own git config."""
    store = tmp_path / "git-credentials"
    host = gitea.url.removeprefix("http://")
    store.write_text(f"http://alice:alice-password@{host}\n", encoding="utf-8")
    store.chmod(0o600)
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)


def _gitea_target(gitea: GiteaServer, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]) -> GiteaTarget:
    monkeypatch.setenv("GITEA_TOKEN", tokens["alice"])
    monkeypatch.setenv("GITEA_ADMIN_TOKEN", tokens["root"])
    monkeypatch.setenv("KOMMANDER_PASSWORD", "first-login-password")
    return GiteaTarget(
        server=gitea.url,
        owner="platform",
        repository="fleet",
        token=SecretSource("platform.yaml:7", env="GITEA_TOKEN"),
        admin_token=SecretSource("platform.yaml:11", env="GITEA_ADMIN_TOKEN"),
        create_user=GiteaUser(
            "kommander", "kommander@example.invalid", SecretSource("platform.yaml:13", env="KOMMANDER_PASSWORD")
        ),
    )


def _targets(
    kind: str, gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> tuple[Target, Path]:
    """A target of `kind` and the bare repository on disk that receives its pushes."""
    if kind == "local":
        return LocalTarget(tmp_path / "local.git"), tmp_path / "local.git"
    if kind == "http":
        _credential_helper(gitea, tmp_path)
        return RemoteTarget(f"{gitea.url}/plain/fleet.git"), gitea.add_plain_repo("plain", "fleet")
    return _gitea_target(gitea, monkeypatch, tokens), gitea.bare_path("platform", "fleet")


def test_same_tree_on_every_target(
    gitea: GiteaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    trees = {}
    for kind in ("local", "http", "gitea"):
        target, bare = _targets(kind, gitea, tmp_path, monkeypatch, tokens)
        result = publish(target, "main", lambda _base: SEED, "seed: initial fleet", author=AUTHOR)
        assert result.changed and result.ref == "main" and result.attempts == 1
        trees[kind] = _git(bare, "rev-parse", "main^{tree}")
        assert trees[kind] == result.tree
        assert _git(bare, "rev-parse", "main") == result.commit
        # a rerun with the same inputs changes nothing
        again = publish(target, "main", lambda _base: SEED, "seed: initial fleet", author=AUTHOR)
        assert not again.changed and again.commit == result.commit
    assert len(set(trees.values())) == 1
    assert "kommander" in gitea.users and gitea.orgs["platform"] == {"alice"}
    assert {login for login, _, _ in gitea.git_requests} == {"alice"}
    captured = capfd.readouterr()
    for text in (captured.out, captured.err, caplog.text, *(str(r.args) for r in caplog.records)):
        assert tokens["alice"] not in text and tokens["root"] not in text


@pytest.mark.parametrize("kind", ["local", "http", "gitea"])
def test_push_race_is_resolved_by_reapplying(
    kind: str, gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    target, bare = _targets(kind, gitea, tmp_path, monkeypatch, tokens)
    publish(target, "main", lambda _base: SEED, "seed", author=AUTHOR)
    seen: list[Tree] = []

    def ours(base: Tree) -> Tree:
        seen.append(base)
        if len(seen) == 1:
            # someone else lands a commit between our fetch and our push (own cache, so a separate clone)
            publish(
                target,
                "main",
                _set("theirs.txt", b"theirs\n"),
                "theirs",
                author=AUTHOR,
                cache_root=tmp_path / "other-cache",
            )
        return base.merged({"ours.txt": b"ours\n"})

    result = publish(target, "main", ours, "ours", author=AUTHOR)
    assert result.attempts == 2 and len(seen) == 2
    assert "theirs.txt" not in seen[0] and "theirs.txt" in seen[1]
    assert _git(bare, "log", "--format=%s", "main").splitlines() == ["ours", "theirs", "seed"]
    files = _git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert {"ours.txt", "theirs.txt", *SEED} == set(files)


@pytest.mark.parametrize("kept_render", [False, True], ids=["plain push", "atomic push with the kept render"])
def test_a_push_that_loses_the_race_inside_the_server_is_computed_again(
    kept_render: bool, gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    target, bare = _targets("http", gitea, tmp_path, monkeypatch, tokens)
    publish(target, "main", lambda _base: SEED, "seed", author=AUTHOR)
    # another push lands after the server advertised main to us and before it updates the ref: the server then
    # answers only "failed to update ref" (or "atomic transaction failed"), which names no race
    theirs = _git(bare, "commit-tree", "-p", "main", "-m", "theirs", _git(bare, "rev-parse", "main^{tree}"))
    once = tmp_path / "landed"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        f'#!/bin/sh\ncat >/dev/null\n[ -e "{once}" ] && exit 0\ntouch "{once}"\n'
        f"env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {theirs}\n"
    )
    hook.chmod(0o755)
    seen: list[str | None] = []

    def ours(base: Base) -> Change:
        seen.append(base.commit)
        files = {"ours.txt": b"ours\n"}
        return Change(written=files, render=files if kept_render else None)

    with open_target(target) as session:
        result = publish_change(session, "main", ours, "ours", author=fixed(AUTHOR))

    assert result.attempts == 2 and seen[1] == theirs
    assert _git(bare, "log", "--format=%s", "main").splitlines() == ["ours", "theirs", "seed"]


def test_a_branch_another_run_deletes_first_counts_as_deleted(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    target, bare = _targets("http", gitea, tmp_path, monkeypatch, tokens)
    publish(target, "main", lambda _base: SEED, "seed", author=AUTHOR)
    publish(target, "gitops-engine/old", lambda _base: SEED, "old", author=AUTHOR)
    head = _git(bare, "rev-parse", "gitops-engine/old")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\ncat >/dev/null\nenv -u GIT_QUARANTINE_PATH git update-ref -d refs/heads/gitops-engine/old\n"
    )
    hook.chmod(0o755)
    assert isinstance(target, RemoteTarget)
    remote = transport.Remote(target.url)

    transport.delete_branch(remote, transport.store_for(target.url), "gitops-engine/old", head)

    assert _git(bare, "branch", "--list", "gitops-engine/*") == ""


def test_bounded_retries_end_in_conflict_and_keep_the_commit(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    target, bare = _targets("http", gitea, tmp_path, monkeypatch, tokens)
    publish(target, "main", lambda _base: SEED, "seed", author=AUTHOR)
    rounds: list[int] = []

    def always_overtaken(base: Tree) -> Tree:
        rounds.append(1)
        publish(
            target,
            "main",
            _set("theirs.txt", f"{len(rounds)}\n".encode()),
            "theirs",
            author=AUTHOR,
            cache_root=tmp_path / "other-cache",
        )
        return base.merged({"ours.txt": b"ours\n"})

    with pytest.raises(ConflictError, match="2 attempts") as caught:
        publish(target, "main", always_overtaken, "ours", author=AUTHOR, attempts=2)
    store = transport.store_for(f"{gitea.url}/plain/fleet.git")
    kept = _git(store, "rev-parse", "refs/gitops-engine/unpublished/main")
    assert kept[:12] in str(caught.value)
    assert _git(store, "show", f"{kept}:ours.txt") == "ours"
    assert "ours.txt" not in _git(bare, "ls-tree", "-r", "--name-only", "main")


def test_pull_request_lifecycle(
    gitea: GiteaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    target = _gitea_target(gitea, monkeypatch, tokens)
    first = publish(
        target,
        "main",
        lambda _b: SEED,
        "seed",
        author=AUTHOR,
        mode=PublishMode.PR,
        review=Review("gitops-engine/seed", "Seed", "first"),
    )
    assert first.ref == "main" and first.pull_request is None  # nothing to review against yet

    change = _set("apps/traefik.yaml", b"version: 1\n")
    review = Review("bump/traefik-1", "Bump traefik to 1", "why: new minor", labels=("currency",))
    opened = publish(target, "main", change, "bump traefik", author=AUTHOR, mode=PublishMode.PR, review=review)
    assert opened.ref == "bump/traefik-1" and opened.pull_request is not None
    number = opened.pull_request.number

    rerun = publish(
        target,
        "main",
        change,
        "bump traefik",
        author=AUTHOR,
        mode=PublishMode.PR,
        review=Review("bump/traefik-1", "Bump traefik to 1", "why: new minor (rerun)"),
    )
    assert rerun.pull_request is not None and rerun.pull_request.number == number
    assert rerun.commit == opened.commit  # same result: the branch was not rewritten
    assert rerun.pull_request.body == "why: new minor (rerun)"

    newer = publish(
        target,
        "main",
        _set("apps/traefik.yaml", b"version: 2\n"),
        "bump traefik",
        author=AUTHOR,
        mode=PublishMode.PR,
        review=Review("bump/traefik-2", "Bump traefik to 2", "", supersedes=("bump/traefik-1",)),
    )
    assert newer.pull_request is not None and newer.closed == (number,)

    pulls = {p.number: p for p in gitea.pulls_of("platform", "fleet")}
    assert len(pulls) == 2
    assert pulls[number].state == "closed" and "Superseded by" in pulls[number].comments[0][2]
    assert pulls[newer.pull_request.number].state == "open"
    assert len(pulls[number].labels) == 1
    bare = gitea.bare_path("platform", "fleet")
    assert _git(bare, "show", "bump/traefik-2:apps/traefik.yaml") == "version: 2"
    assert "apps/traefik.yaml" not in _git(bare, "ls-tree", "-r", "--name-only", "main")
    ops = {e.operation for e in gitea.exchanges}
    assert {"repoListPullRequests", "repoCreatePullRequest", "repoEditPullRequest", "issueCreateComment"} <= ops
    captured = capfd.readouterr()
    assert tokens["alice"] not in captured.out + captured.err


def test_agit_push_opens_and_updates_a_pull_request(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    target = _gitea_target(gitea, monkeypatch, tokens)
    publish(target, "main", lambda _b: SEED, "seed", author=AUTHOR)
    review = Review("seed-update", "Update the fleet", "Line one.\nLine two.")
    first = publish(target, "main", _set("a.txt", b"1\n"), "a1", author=AUTHOR, mode=PublishMode.AGIT, review=review)
    assert first.ref == "refs/for/main" and first.pull_request is not None
    assert (first.pull_request.head, first.pull_request.title) == ("seed-update", "Update the fleet")
    assert first.pull_request.body == "Line one. Line two."
    second = publish(
        target,
        "main",
        _set("a.txt", b"2\n"),
        "a2",
        author=AUTHOR,
        mode=PublishMode.AGIT,
        review=Review("seed-update", "Update the fleet (2)", "again"),
    )
    assert second.pull_request is not None and second.pull_request.number == first.pull_request.number
    pulls = gitea.pulls_of("platform", "fleet")
    assert len(pulls) == 1 and pulls[0].title == "Update the fleet (2)"
    bare = gitea.bare_path("platform", "fleet")
    assert _git(bare, "rev-parse", "refs/agit/seed-update") == second.commit
    assert _git(bare, "show", "refs/agit/seed-update:a.txt") == "2"
    assert "a.txt" not in _git(bare, "ls-tree", "-r", "--name-only", "main")  # main is untouched


def test_refused_credentials_give_a_clear_error_without_the_secret(gitea: GiteaServer, tmp_path: Path) -> None:
    gitea.add_plain_repo("plain", "fleet")
    secret = "not-a-valid-token-5f1e2d"
    remote = transport.Remote(f"{gitea.url}/plain/fleet.git", Credentials("alice", secret))
    store = transport.store_for(remote.url)
    with pytest.raises(ToolError) as caught:
        transport.fetch_branch(remote, "main", store)
    assert secret not in str(caught.value) and gitea.url.removeprefix("http://") in str(caught.value)
    # without any credential source git must fail at once rather than prompt
    with pytest.raises(ToolError, match="list"):
        transport.fetch_branch(transport.Remote(remote.url), "main", store)


def test_engine_token_wins_over_a_stale_user_credential(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    store = tmp_path / "stale-credentials"
    store.write_text(f"http://alice:stale-password@{gitea.url.removeprefix('http://')}\n", encoding="utf-8")
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)
    result = publish(_gitea_target(gitea, monkeypatch, tokens), "main", lambda _b: SEED, "seed", author=AUTHOR)
    assert result.changed
    # git's store helper is told neither to save nor to forget anything of ours
    assert store.read_text(encoding="utf-8").count("stale-password") == 1
    assert tokens["alice"] not in store.read_text(encoding="utf-8")


def test_scrubbing_hides_user_info_and_known_secrets() -> None:
    text = "fatal: unable to access 'https://alice:tok-123@git.example.com/fleet.git/': tok-123 refused"
    assert (
        transport.scrub(text, ["tok-123"])
        == "fatal: unable to access 'https://***@git.example.com/fleet.git/': *** refused"
    )
    assert transport.scrub_url("https://alice:tok@git.example.com:8443/f.git") == "https://git.example.com:8443/f.git"
    assert transport.store_for("https://a:b@h/f.git") == transport.store_for("https://h/f.git")
