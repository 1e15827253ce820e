"""The Gitea client against the contract-checked test server: operations, status mapping, retries, no token leaks."""

from __future__ import annotations

import logging
import subprocess
from functools import partial

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.gitea import GiteaClient, RetryPolicy
from gitops_engine.core.errors import PermanentRemoteError, TransientRemoteError
from tests.forge.gitea_server import Fault, GiteaServer

FAST = RetryPolicy(attempts=3, backoff=0.0)
AUTHOR = git.Signature("tester", "tester@example.invalid", 1_700_000_000)


def _client(gitea: GiteaServer, token: str, sleeps: list[float] | None = None) -> GiteaClient:
    record = sleeps.append if sleeps is not None else (lambda _: None)
    return GiteaClient(gitea.url, token, retry=FAST, sleep=record)


def _push_branch(gitea: GiteaServer, owner: str, repo: str, branch: str, content: str) -> None:
    """Put a one-file commit on `branch` (based on main) straight into the server's bare repository."""
    bare = git.open_repository(gitea.bare_path(owner, repo), create=False)
    main = git.head_of(bare, "main").commit
    tree = git.write_tree(bare, {"f.txt": content.encode()})
    commit = git.create_commit(bare, tree, [main] if main else [], content, AUTHOR)
    git.move_branch(bare, branch, commit, git.head_of(bare, branch).commit, "test")


def test_organisation_repository_and_admin_user(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    with _client(gitea, tokens["alice"]) as alice, _client(gitea, tokens["root"]) as root:
        assert alice.current_user() == "alice"
        assert not alice.org_exists("platform")
        alice.create_org("platform")
        assert alice.org_exists("platform")
        assert alice.get_repository("platform", "fleet") is None
        created = alice.create_repository("platform", "fleet", in_org=True)
        assert (created.owner, created.name, created.default_branch, created.empty) == (
            "platform",
            "fleet",
            "main",
            True,
        )
        mine = alice.create_repository("alice", "scratch", in_org=False)
        assert mine.clone_url == f"{gitea.url}/alice/scratch.git"
        assert not root.user_exists("kommander")
        root.admin_create_user("kommander", "kommander@example.invalid", "s3cret-password")
        assert root.user_exists("kommander")
        with pytest.raises(PermanentRemoteError, match="403") as denied:
            alice.admin_create_user("mallory", "m@example.invalid", "x")
        assert denied.value.status == 403
    operations = [e.operation for e in gitea.exchanges]
    assert {"orgCreate", "createOrgRepo", "createCurrentUserRepo", "adminCreateUser", "repoGet"} <= set(operations)


def test_pull_request_operations(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    with _client(gitea, tokens["alice"]) as alice:
        alice.create_repository("alice", "fleet", in_org=False)
        _push_branch(gitea, "alice", "fleet", "main", "base")
        _push_branch(gitea, "alice", "fleet", "bump/a", "change a")
        forge = alice.forge("alice", "fleet")
        assert forge.find_open_pull_request("bump/a", "main") is None
        pr = forge.open_pull_request("bump/a", "main", "Bump a", "first", labels=("bot", "currency"))
        assert (pr.number, pr.head, pr.base, pr.state) == (1, "bump/a", "main", "open")
        assert forge.find_open_pull_request("bump/a", "main") == pr
        updated = forge.update_pull_request(pr.number, "Bump a to 2", "second")
        assert (updated.title, updated.body) == ("Bump a to 2", "second")
        forge.comment(pr.number, "rendered diff: ...")
        forge.add_labels(pr.number, ["currency", "major"])
        assert [p.number for p in forge.list_open_pull_requests("bump/")] == [1]
        forge.merge_pull_request(pr.number)
        assert forge.find_open_pull_request("bump/a", "main") is None
    stored = gitea.pulls_of("alice", "fleet")[0]
    assert stored.merged and len(stored.comments) == 1 and len(stored.labels) == 3
    merged = subprocess.run(
        ["git", "--git-dir", str(gitea.bare_path("alice", "fleet")), "show", "main:f.txt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert merged.stdout == "change a"


def test_close_with_comment_and_pagination(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    with _client(gitea, tokens["alice"]) as alice:
        alice.create_repository("alice", "fleet", in_org=False)
        _push_branch(gitea, "alice", "fleet", "main", "base")
        forge = alice.forge("alice", "fleet")
        for index in range(55):  # more than one page of 50
            _push_branch(gitea, "alice", "fleet", f"b/{index}", f"c{index}")
            forge.open_pull_request(f"b/{index}", "main", f"change {index}", "")
        assert len(forge.list_open_pull_requests("b/")) == 55
        forge.close_pull_request(3, comment="superseded by #55")
        assert len(forge.list_open_pull_requests()) == 54
    pages = [e.path for e in gitea.exchanges if e.operation == "repoListPullRequests"]
    assert pages, "listing went through the API"
    assert gitea.pulls_of("alice", "fleet")[2].comments[0][2] == "superseded by #55"


@pytest.mark.parametrize(
    ("fault", "call", "status", "words"),
    [
        (Fault("GET", "/api/v1/user", 401), "user", 401, "token was refused"),
        (Fault("GET", "/api/v1/repos/alice/fleet", 404), "repo", 404, "not found"),
        (Fault("POST", "/api/v1/repos/alice/fleet/pulls", 409), "pull", 409, "conflicts"),
        (Fault("POST", "/api/v1/orgs", 422), "org", 422, "invalid"),
    ],
)
def test_permanent_errors_are_clear_and_not_retried(
    gitea: GiteaServer, tokens: dict[str, str], fault: Fault, call: str, status: int, words: str
) -> None:
    sleeps: list[float] = []
    with _client(gitea, tokens["alice"], sleeps) as alice:
        alice.create_repository("alice", "fleet", in_org=False)
        gitea.faults.append(fault)
        with pytest.raises(PermanentRemoteError) as caught:
            if call == "user":
                alice.current_user()
            elif call == "repo":
                # repoGet maps 404 to "absent"; a 404 elsewhere is an error
                assert alice.get_repository("alice", "fleet") is None
                raise PermanentRemoteError("absent", status=404)
            elif call == "pull":
                alice.create_pull_request("alice", "fleet", "x", "main", "t", "b")
            else:
                alice.create_org("platform")
    assert caught.value.status == status
    if call != "repo":
        assert words in str(caught.value) and str(status) in str(caught.value)
    assert sleeps == []
    assert tokens["alice"] not in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, None])
def test_transient_failures_are_retried_then_succeed(
    gitea: GiteaServer, tokens: dict[str, str], status: int | None
) -> None:
    sleeps: list[float] = []
    gitea.faults.append(Fault("GET", "/api/v1/user", status, times=2, retry_after="0"))
    with _client(gitea, tokens["alice"], sleeps) as alice:
        assert alice.current_user() == "alice"
    assert len(sleeps) == 2
    assert sum(1 for e in gitea.exchanges if e.operation == "userGetCurrent") == (3 if status else 1)


def test_retry_after_is_honoured_and_persistent_failure_gives_up(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    sleeps: list[float] = []
    gitea.faults.append(Fault("GET", "/api/v1/user", 503, times=5, retry_after="7"))
    with _client(gitea, tokens["alice"], sleeps) as alice, pytest.raises(TransientRemoteError) as caught:
        alice.current_user()
    assert sleeps == [7.0, 7.0]
    assert "gave up after 3 attempts" in str(caught.value) and "503" in str(caught.value)


def test_unreachable_server_is_transient(tokens: dict[str, str]) -> None:
    client = GiteaClient("http://127.0.0.1:9", tokens["alice"], retry=FAST, sleep=lambda _: None)
    with client, pytest.raises(TransientRemoteError, match="connection failed"):
        client.current_user()


def test_token_never_in_output(
    gitea: GiteaServer, tokens: dict[str, str], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    gitea.faults += [
        Fault("GET", "/api/v1/user", 500),
        Fault("GET", "/api/v1/user", None),
        Fault("POST", "/api/v1/orgs", 422),
    ]
    with _client(gitea, tokens["alice"]) as alice:
        alice.current_user()
        for action in (partial(alice.create_org, "x"), partial(alice.comment, "alice", "none", 1, "x")):
            with pytest.raises(PermanentRemoteError) as failed:
                action()
            errors.append(f"{failed.value!s} {failed.value!r}")
        errors.append(repr(alice))
    with _client(gitea, "wrong-" + tokens["alice"]) as bad, pytest.raises(PermanentRemoteError) as caught:
        bad.current_user()
    errors.append(str(caught.value))
    captured = capfd.readouterr()
    texts = [*errors, captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)]
    assert len(errors) == 4
    assert not [t for t in texts if tokens["alice"] in t]


def test_issue_operations(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    with _client(gitea, tokens["alice"]) as alice:
        alice.create_repository("alice", "fleet", in_org=False)
        _push_branch(gitea, "alice", "fleet", "main", "base")
        _push_branch(gitea, "alice", "fleet", "bump/a", "change a")
        forge = alice.forge("alice", "fleet")
        forge.open_pull_request("bump/a", "main", "Bump a", "<!-- mark --> a pull request, not an issue")
        # Gitea drops a label filter naming no label the repository has: every open issue is listed
        human = alice.create_issue("alice", "fleet", "A human's issue", "<!-- mark --> by hand")
        assert [i.number for i in alice.list_issues("alice", "fleet", labels=("board",))] == [human.number]
        # so the marker is checked in each issue too
        assert forge.find_issues("board", "<!-- board -->") == []
        first = forge.open_issue("Board", "<!-- board -->\nfirst", labels=("board",))
        assert (first.number, first.title, first.state) == (3, "Board", "open")
        assert first.url == f"{gitea.url}/alice/fleet/issues/3"
        second = forge.open_issue("Board", "<!-- board -->\nsecond", labels=("board",))
        assert [i.number for i in forge.find_issues("board", "<!-- board -->")] == [3, 4]
        edited = forge.edit_issue(3, "Board (main)", "<!-- board -->\nedited")
        assert (edited.title, edited.body) == ("Board (main)", "<!-- board -->\nedited")
        forge.close_issue(second.number, "duplicate of #3")
        assert forge.find_issues("board", "<!-- board -->") == [edited]
        assert [i.number for i in alice.list_issues("alice", "fleet", state="closed")] == [4]
    issues = {i.number: i for i in gitea.issues_of("alice", "fleet")}
    assert issues[4].state == "closed" and [c[2] for c in issues[4].comments] == ["duplicate of #3"]
    operations = {e.operation for e in gitea.exchanges}
    assert {"issueListIssues", "issueCreateIssue", "issueEditIssue", "issueCreateLabel"} <= operations
