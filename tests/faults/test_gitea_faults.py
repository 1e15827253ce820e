"""A Gitea that fails mid-run (5xx, 409, lost answers, hangs): retried where safe, never a pull request twice.

Against the OpenAPI-checked test Gitea (tests/forge/gitea_server.py). A fault `after` the operation is the
dangerous kind: the server did the work and the answer was lost, so a blind retry would do it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.gitea import GiteaClient, RetryPolicy
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import GiteaTarget, gitea_target
from gitops_engine.app.bump import AdapterLookup, bump_target
from gitops_engine.core.errors import PermanentRemoteError, TransientRemoteError
from gitops_engine.model.tree import Tree
from tests.faults.fleet import CHART, NEWER, PINNED, helm_release, helm_repository
from tests.faults.servers import FaultServer, fault_server, helm_index
from tests.forge.gitea_server import Fault, GiteaServer
from tests.forge.support import publish_tree
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example
from tests.updates.support import NOW

PULLS = "/api/v1/repos/alice/fleet/pulls"
QUICK = RetryPolicy(attempts=4, backoff=0.05, deadline=20)
BOUND = 30.0  # generous: every case here ends in a few seconds


def client(gitea: GiteaServer, token: str, retry: RetryPolicy = QUICK, timeout: float = 1.0) -> GiteaClient:
    """A client with short timeouts, so that a hanging server costs a test a second or two."""
    return GiteaClient(gitea.url, token, timeout=timeout, retry=retry)


def branch(gitea: GiteaServer, name: str, content: str) -> None:
    """A one-file commit on `name` in alice/fleet (main first, then branches on it)."""
    bare = git.open_repository(gitea.bare_path("alice", "fleet"), create=False)
    main = git.head_of(bare, "main").commit
    tree = git.write_tree(bare, {"f.txt": content.encode()})
    author = git.Signature("tester", "tester@example.invalid", 1_700_000_000)
    commit = git.create_commit(bare, tree, [main] if main else [], content, author)
    git.move_branch(bare, name, commit, git.head_of(bare, name).commit, "test")


@pytest.fixture
def fleet_repo(gitea: GiteaServer, tokens: dict[str, str]) -> Iterator[GiteaClient]:
    """alice/fleet with main and branch bump/a, and a quick client for alice."""
    with client(gitea, tokens["alice"]) as alice:
        alice.create_repository("alice", "fleet", in_org=False)
        branch(gitea, "main", "base")
        branch(gitea, "bump/a", "change")
        yield alice


def posts_to_pulls(gitea: GiteaServer) -> int:
    return sum(1 for e in gitea.exchanges if e.operation == "repoCreatePullRequest")


@pytest.mark.parametrize(
    "fault",
    [
        Fault("POST", PULLS, 500, after=True),
        Fault("POST", PULLS, 502, after=True, times=2),
        Fault("POST", PULLS, None, after=True),
        Fault("POST", PULLS, None, after=True, delay=2.5),
    ],
    ids=["500-after", "502-twice-after", "dropped-after", "hang-after"],
)
def test_a_pull_request_whose_answer_was_lost_is_not_opened_twice(
    fault: Fault, gitea: GiteaServer, fleet_repo: GiteaClient
) -> None:
    gitea.faults.append(fault)
    started = time.monotonic()

    pr = fleet_repo.forge("alice", "fleet").open_pull_request("bump/a", "main", "Bump a", "body", ("deps",))

    assert time.monotonic() - started < BOUND
    pulls = gitea.pulls_of("alice", "fleet")
    assert [(p.number, p.head, p.state) for p in pulls] == [(1, "bump/a", "open")]
    assert (pr.number, pr.head, pr.title) == (1, "bump/a", "Bump a")
    assert len(pulls[0].labels) == 1, "the pull request was made whole, labels included, in one call"


def test_a_create_refused_before_it_was_done_is_retried_after_a_check(
    gitea: GiteaServer, fleet_repo: GiteaClient
) -> None:
    gitea.faults.append(Fault("POST", PULLS, 503))

    pr = fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "body")

    assert pr.number == 1 and len(gitea.pulls_of("alice", "fleet")) == 1
    assert posts_to_pulls(gitea) == 2


def test_a_conflict_is_the_pull_request_someone_else_opened(gitea: GiteaServer, fleet_repo: GiteaClient) -> None:
    first = fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "opened elsewhere")

    again = fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "body")

    assert again == first
    assert [e.status for e in gitea.exchanges if e.operation == "repoCreatePullRequest"] == [201, 409]
    assert len(gitea.pulls_of("alice", "fleet")) == 1


def test_a_conflict_with_nothing_behind_it_is_reported(gitea: GiteaServer, fleet_repo: GiteaClient) -> None:
    gitea.faults.append(Fault("POST", PULLS, 409))

    with pytest.raises(PermanentRemoteError, match="409") as caught:
        fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "body")

    assert caught.value.status == 409
    assert gitea.pulls_of("alice", "fleet") == []


def test_edits_are_retried_through_5xx_and_timeouts(gitea: GiteaServer, fleet_repo: GiteaClient) -> None:
    pr = fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "body")
    edit = f"{PULLS}/{pr.number}"
    gitea.faults += [Fault("PATCH", edit, 503), Fault("PATCH", edit, None, delay=2.5), Fault("PATCH", edit, 500)]

    updated = fleet_repo.edit_pull_request("alice", "fleet", pr.number, title="Bump a to 2")

    assert updated.title == "Bump a to 2"
    assert gitea.pulls_of("alice", "fleet")[0].title == "Bump a to 2"


def test_a_comment_whose_answer_was_lost_is_not_posted_again(gitea: GiteaServer, fleet_repo: GiteaClient) -> None:
    pr = fleet_repo.create_pull_request("alice", "fleet", "bump/a", "main", "Bump a", "body")
    gitea.faults.append(Fault("POST", f"/api/v1/repos/alice/fleet/issues/{pr.number}/comments", 500, after=True))

    with pytest.raises(TransientRemoteError, match="not retried: the server may have acted on it"):
        fleet_repo.comment("alice", "fleet", pr.number, "superseded")

    assert [body for _, _, body in gitea.pulls_of("alice", "fleet")[0].comments] == ["superseded"]


def test_a_server_that_keeps_failing_is_given_up_within_the_deadline(
    gitea: GiteaServer, tokens: dict[str, str]
) -> None:
    # it asks for 100 s between attempts and never recovers; the call may take 3 s in all
    gitea.faults.append(Fault("GET", "/api/v1/user", 503, times=100, retry_after="100"))
    patient = RetryPolicy(attempts=10, backoff=0.5, max_delay=1.0, deadline=3)
    started = time.monotonic()

    with client(gitea, tokens["alice"], patient) as alice, pytest.raises(TransientRemoteError, match="503") as caught:
        alice.current_user()

    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 3.5
    assert "gave up after 3 attempts" in str(caught.value)


def test_a_hanging_server_is_given_up_within_the_deadline(gitea: GiteaServer, tokens: dict[str, str]) -> None:
    gitea.faults.append(Fault("GET", "/api/v1/user", None, times=100, delay=10))
    started = time.monotonic()

    patient = RetryPolicy(attempts=10, backoff=0.1, deadline=2.5)
    with client(gitea, tokens["alice"], patient) as alice, pytest.raises(TransientRemoteError, match="ReadTimeout"):
        alice.current_user()

    assert time.monotonic() - started < 4


def test_seed_creates_the_organisation_and_repository_once_when_answers_are_lost(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    block = (
        f"  gitea:\n    url: {gitea.url}\n    owner: platform\n    repository: fleet\n    tokenEnv: TEST_GITEA_TOKEN\n"
    )
    text = reproducible_spec_text().replace(
        "  repository: ./fleet.git          # a local bare repository (created if missing), or a git remote URL\n",
        block,
    )
    spec = write_example(tmp_path, text)
    gitea.faults += [
        Fault("POST", "/api/v1/orgs", 500, after=True),
        Fault("POST", "/api/v1/orgs/platform/repos", None, after=True),
        Fault("GET", "/api/v1/user", 503),
    ]

    result = run_cli("seed", "-c", str(spec))

    assert result.code == 0, result.err
    assert sorted(gitea.orgs) == ["platform"] and list(gitea.repos) == [("platform", "fleet")]
    assert git.head_of(git.open_repository(gitea.bare_path("platform", "fleet"), create=False), "main").commit
    assert gitea.faults and all(f.times == 0 for f in gitea.faults)


@pytest.fixture
def charts() -> Iterator[FaultServer]:
    """Helm repositories offering charts `demo` and `other` at 1.0.0 and 1.1.0 (only /ok/ is used here)."""
    with fault_server(helm_index({CHART: [NEWER, PINNED], "other": [NEWER, PINNED]}), [PINNED, NEWER]) as server:
        yield server


def gitea_fleet(gitea: GiteaServer, charts: FaultServer, monkeypatch: pytest.MonkeyPatch, token: str) -> GiteaTarget:
    """platform/fleet on the test Gitea, with two apps (charts `demo` and `other`) each due for 1.0.0 → 1.1.0."""
    monkeypatch.setenv("TEST_GITEA_TOKEN", token)
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    files: dict[str, bytes] = {}
    files["clusters/c/sources/charts.yaml"] = helm_repository("charts", charts.helm("ok"))
    for chart in (CHART, "other"):
        files[f"clusters/c/apps/{chart}.yaml"] = helm_release(chart, "charts", chart)
    author = git.Signature("human", "h@example.invalid", 1_800_000_000)
    publish_tree(target, "main", lambda _base: Tree(files), "fleet", author=author)
    return target


def test_bump_on_gitea_keeps_going_when_one_pull_request_fails_and_the_rerun_completes_it(
    gitea: GiteaServer,
    charts: FaultServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
) -> None:
    target = gitea_fleet(gitea, charts, monkeypatch, tokens["alice"])
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    pulls = "/api/v1/repos/platform/fleet/pulls"
    # the first PR is refused outright; the second one's answer is lost after Gitea opened it
    gitea.faults += [Fault("POST", pulls, 422), Fault("POST", pulls, 500, after=True)]

    first = bump_target(target, lookup, now=NOW, cache_dir=tmp_path / "scans")

    failed = [o for o in first.outcomes if o.failed]
    assert len(first.outcomes) == 2 and len(failed) == 1
    assert "422" in failed[0].error and failed[0].pull_request is None
    opened = [o for o in first.outcomes if not o.failed]
    assert opened[0].pull_request is not None
    assert [p.head for p in gitea.pulls_of("platform", "fleet")] == [opened[0].name]

    second = bump_target(target, lookup, now=NOW, cache_dir=tmp_path / "scans")

    assert not any(o.failed for o in second.outcomes)
    heads = sorted(p.head for p in gitea.pulls_of("platform", "fleet") if p.state == "open")
    assert heads == sorted(o.name for o in first.outcomes)
