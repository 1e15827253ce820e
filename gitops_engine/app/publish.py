"""Publish a change to a target: fetch the branch, apply the change, commit with pygit2, push; retry on races.

The change is a function of the branch's current tree, so when someone else pushes between our fetch and our
push, it is simply run again on the new head. Gitea targets get their organisation, repository (and, with admin
credentials, their user) created first; modes `pr` and `agit` propose the change instead of pushing to the branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gitops_engine.adapters import git, transport
from gitops_engine.adapters.forge.base import Forge, PullRequest
from gitops_engine.adapters.forge.gitea import GiteaClient, RetryPolicy
from gitops_engine.adapters.targets import GiteaTarget, RemoteTarget, Target
from gitops_engine.core.errors import ConflictError, InputError
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.tree import Tree

if TYPE_CHECKING:
    import pygit2

Change = Callable[[Tree], Tree | None]


class PublishMode(StrEnum):
    """Where the commit goes: straight to the branch, to a PR branch, or to refs/for/<branch> (AGit)."""

    PUSH = "push"
    PR = "pr"
    AGIT = "agit"


@dataclass(frozen=True)
class Review:
    """How to propose the change: head branch (AGit: topic), title, body, labels, and PR heads it replaces."""

    head: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    """What a publish did: the ref written (None when nothing changed), the commit and tree, the PR."""

    ref: str | None
    commit: str | None
    tree: str | None
    attempts: int
    pull_request: PullRequest | None = None
    closed: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        """True when a commit was pushed or proposed."""
        return self.ref is not None


def publish(
    target: Target,
    branch: str,
    change: Change,
    message: str,
    *,
    author: git.Signature,
    mode: PublishMode = PublishMode.PUSH,
    review: Review | None = None,
    attempts: int = 3,
    cache_root: Path | None = None,
    guard: git.PlaintextGuard | None = None,
    retry: RetryPolicy | None = None,
) -> PublishResult:
    """Apply `change` to the head of `branch` on `target` and publish it as one commit (see module doc).

    While `branch` does not exist yet, every mode pushes straight to it (a first seed has nothing to review).
    """
    if mode is not PublishMode.PUSH and review is None:
        raise InputError(f"publishing in mode {mode.value!r} needs a review (head branch, title, body)")
    job = _Job(branch, change, message, author, mode, review, attempts, guard)
    if isinstance(target, GiteaTarget):
        token = target.token.read()
        with GiteaClient(target.server, token, retry=retry) as client:
            login = _ensure_gitea_repository(client, target, retry)
            remote = transport.Remote(target.clone_url, Credentials(login, token))
            return _publish(_remote_endpoint(remote, cache_root), client.forge(target.owner, target.repository), job)
    if isinstance(target, RemoteTarget):
        return _publish(_remote_endpoint(transport.Remote(target.url), cache_root), None, job)
    if mode is PublishMode.AGIT:
        raise InputError(f"{target.path}: AGit review needs a git server; use mode 'push' or 'pr' locally")
    return _publish(_LocalEndpoint(git.open_repository(target.path)), None, job)


@dataclass(frozen=True)
class _Job:
    branch: str
    change: Change
    message: str
    author: git.Signature
    mode: PublishMode
    review: Review | None
    attempts: int
    guard: git.PlaintextGuard | None


def _ensure_gitea_repository(client: GiteaClient, target: GiteaTarget, retry: RetryPolicy | None) -> str:
    """Create what is missing (user with admin credentials, organisation, repository); returns the token's login."""
    if target.admin_token is not None and target.create_user is not None:
        user = target.create_user
        with GiteaClient(target.server, target.admin_token.read(), retry=retry) as admin:
            if not admin.user_exists(user.username):
                admin.admin_create_user(user.username, user.email, user.password.read())
    login = client.current_user()
    if client.get_repository(target.owner, target.repository) is not None:
        return login
    in_org = target.owner != login
    if in_org and not client.org_exists(target.owner):
        if client.user_exists(target.owner):
            raise InputError(
                f"{target.token.origin}: gitea.owner {target.owner!r} is another user's account and "
                f"{target.owner}/{target.repository} does not exist; use that user's token or an organisation"
            )
        client.create_org(target.owner)
    client.create_repository(target.owner, target.repository, in_org=in_org)
    return login


class _Endpoint(Protocol):
    @property
    def repo(self) -> pygit2.Repository: ...

    def fetch(self, branch: str) -> git.BranchHead: ...

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool) -> None: ...

    def propose(self, commit: str, base: str, review: Review) -> None: ...

    def keep(self, branch: str, commit: str) -> str: ...


@dataclass(frozen=True)
class _LocalEndpoint:
    repo: pygit2.Repository

    def fetch(self, branch: str) -> git.BranchHead:
        return git.head_of(self.repo, branch)

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool) -> None:
        # the compare-and-swap on `expected` is both the fast-forward check and the lease
        git.move_branch(self.repo, branch, commit, expected, "gitops-engine publish")

    def propose(self, commit: str, base: str, review: Review) -> None:
        raise InputError("AGit review needs a git server")

    def keep(self, branch: str, commit: str) -> str:
        return commit


@dataclass(frozen=True)
class _RemoteEndpoint:
    repo: pygit2.Repository
    remote: transport.Remote
    store: Path

    def fetch(self, branch: str) -> git.BranchHead:
        if transport.fetch_branch(self.remote, branch, self.store) is None:
            return git.BranchHead(None, None)
        return git.head_of(self.repo, transport.fetched_ref(branch))

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool) -> None:
        transport.push_branch(self.remote, self.store, commit, branch, expected, lease=lease)

    def propose(self, commit: str, base: str, review: Review) -> None:
        transport.push_for_review(self.remote, self.store, commit, base, review.head, review.title, review.body)

    def keep(self, branch: str, commit: str) -> str:
        return f"{transport.keep_commit(self.store, branch, commit)} in {self.store}"


def _remote_endpoint(remote: transport.Remote, cache_root: Path | None) -> _RemoteEndpoint:
    store = transport.store_for(remote.url, cache_root)
    return _RemoteEndpoint(git.open_repository(store), remote, store)


def _publish(endpoint: _Endpoint, forge: Forge | None, job: _Job) -> PublishResult:
    branch, mode, review = job.branch, job.mode, job.review
    last: ConflictError | None = None
    commit = ""
    for attempt in range(1, job.attempts + 1):
        base = endpoint.fetch(branch)
        new_tree = job.change(git.read_tree(endpoint.repo, base.tree))
        if new_tree is None:
            return PublishResult(None, base.commit, base.tree, attempt)
        tree_id = git.write_tree(endpoint.repo, new_tree, job.guard)
        if tree_id == base.tree:
            return PublishResult(None, base.commit, base.tree, attempt)
        parents = [base.commit] if base.commit else []
        commit = git.create_commit(endpoint.repo, tree_id, parents, job.message, job.author)
        try:
            if mode is PublishMode.PUSH or base.commit is None:
                endpoint.update(branch, commit, base.commit, lease=False)
                return PublishResult(branch, commit, tree_id, attempt)
            assert review is not None
            if mode is PublishMode.AGIT:
                endpoint.propose(commit, branch, review)
                pr = forge.find_open_pull_request(review.head, branch) if forge else None
                return PublishResult(f"refs/for/{branch}", commit, tree_id, attempt, pr)
            head = endpoint.fetch(review.head)
            if head.tree != tree_id:
                endpoint.update(review.head, commit, head.commit, lease=True)
            else:
                # a rerun with the same result: the branch already carries it, only the PR is refreshed
                commit = head.commit or commit
            pr, closed = _propose(forge, branch, review) if forge else (None, ())
            return PublishResult(review.head, commit, tree_id, attempt, pr, closed)
        except ConflictError as exc:
            last = exc
    kept = endpoint.keep(branch, commit)
    raise ConflictError(
        f"{branch!r} kept moving: {job.attempts} attempts were each overtaken by another push ({last}); "
        f"the last commit {commit[:12]} is kept as {kept} — rerun to try again"
    )


def _propose(forge: Forge, base: str, review: Review) -> tuple[PullRequest, tuple[int, ...]]:
    """Open or update the PR for `review.head`, then close the open PRs it supersedes."""
    pr = forge.find_open_pull_request(review.head, base)
    if pr is None:
        pr = forge.open_pull_request(review.head, base, review.title, review.body, review.labels)
    elif (pr.title, pr.body) != (review.title, review.body):
        pr = forge.update_pull_request(pr.number, review.title, review.body)
    closed: list[int] = []
    replaced = set(review.supersedes)
    for other in forge.list_open_pull_requests():
        if other.head in replaced and other.number != pr.number:
            forge.close_pull_request(other.number, f"Superseded by #{pr.number} ({review.title}).")
            closed.append(other.number)
    return pr, tuple(closed)
