"""The one publish job: open a target, read a branch, compute a change against it, commit it and land it.

Every command that writes (seed, bump, propagate, the conflict branch) goes through here, whatever the target:
a local bare repository is written directly, a git remote or a Gitea server through a local object store that
`git` fetches into and pushes from. The change is computed from the branch head as read, so when someone else
pushes between our read and our push, it is simply computed again on the new head. The plaintext guard runs on
every file a change writes. Gitea targets get their organisation, repository (and, with admin credentials, their
user) created first; modes `pr` and `agit` propose the change instead of pushing to the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import pygit2

from gitops_engine.adapters import git, transport
from gitops_engine.adapters.forge.base import Forge, PullRequest
from gitops_engine.adapters.targets import GiteaTarget, RemoteTarget, Target
from gitops_engine.core.errors import ConflictError, InputError
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.tree import Tree

if TYPE_CHECKING:
    from gitops_engine.adapters.forge.gitea import GiteaClient, RetryPolicy

# Where the pure render of a seed is kept reachable (the base of the next 3-way merge), per landing branch.
RENDER_REFS = "refs/gitops-engine/render/"


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
class Base:
    """The branch head a change is computed on: its commit and tree (None for a branch not yet born), and the
    repository its objects are read from (None while a local target does not exist yet)."""

    repo: pygit2.Repository | None
    commit: str | None
    tree: str | None


@dataclass(frozen=True)
class Change:
    """A new tree relative to the base: files written, paths set to blobs the repository already has, paths
    removed; with `complete`, `written` and `kept` list every file and nothing else of the base stays.

    `render`, when given, is the pure render of a seed (or the files a bot bump re-rendered), kept reachable as
    the base of the next 3-way merge under `render_ref` (default RENDER_REFS + the landing branch): by the commit
    itself when `render_in_tree` (its tree holds every rendered file), else by a parentless commit of its own.
    `message` replaces the publish call's message."""

    written: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    kept: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    removed: frozenset[str] = frozenset()
    complete: bool = False
    render: Mapping[str, bytes] | None = field(default=None, repr=False)
    render_in_tree: bool = False
    render_ref: str | None = None
    message: str | None = None


Compute = Callable[[Base], Change | None]
# checks the tree about to be committed against its base, raising when the change breaks something
Verify = Callable[[Base, pygit2.Repository, str], None]
# the author of a commit, which may depend on the base (the bot stamps its commits with the base's time)
Author = Callable[[Base], git.Signature]


def fixed(signature: git.Signature) -> Author:
    """An author that does not depend on the base."""
    return lambda _base: signature


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


class Endpoint(Protocol):
    """Where objects are built and how refs reach the target."""

    @property
    def display(self) -> str:
        """The target, safe to print."""
        ...

    @property
    def repo(self) -> pygit2.Repository | None:
        """The object database commits are built in (None while a local target does not exist)."""
        ...

    def writable(self) -> pygit2.Repository:
        """The object database to write into, created when the target may be created and does not exist yet."""
        ...

    def fetch(self, branch: str) -> git.BranchHead:
        """Bring `branch` (and the kept renders) into the object database; its head."""
        ...

    def heads(self, prefix: str) -> dict[str, str]:
        """Branch → commit for every branch starting with `prefix`, without fetching objects."""
        ...

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool, keep: Mapping[str, str]) -> None:
        """Move `branch` from `expected` to `commit` (ConflictError when it moved), and point each `keep` ref."""
        ...

    def delete(self, branch: str, expected: str) -> None:
        """Delete `branch` if it still points at `expected`."""
        ...

    def propose(self, commit: str, base: str, review: Review) -> None:
        """Push `commit` for review of `base` (AGit)."""
        ...

    def keep(self, branch: str, commit: str) -> str:
        """Keep an unpublished commit reachable; says where."""
        ...


@dataclass(frozen=True)
class Session:
    """An opened target: its endpoint and, for Gitea, the forge that opens pull requests."""

    endpoint: Endpoint
    forge: Forge | None = None

    @property
    def display(self) -> str:
        """The target, safe to print."""
        return self.endpoint.display

    def read(self, branch: str) -> Base:
        """The head of `branch` with its objects readable."""
        head = self.endpoint.fetch(branch)
        return Base(self.endpoint.repo, head.commit, head.tree)

    def read_files(self, ref: str) -> Tree:
        """The files at `ref`: a branch of any target, or any revision (tag, commit) of a local repository."""
        head = self.endpoint.fetch(ref)
        repo = self.endpoint.repo
        if repo is None or head.tree is None:
            raise InputError(f"{self.display}: no branch or revision {ref!r} there (check --ref)")
        return git.read_tree(repo, head.tree)


@contextmanager
def open_target(
    target: Target, *, create: bool = False, cache_root: Path | None = None, retry: RetryPolicy | None = None
) -> Iterator[Session]:
    """Open `target` for reading and publishing. A repository that does not exist reads as empty; with `create`
    it is created (a local bare repository; a Gitea organisation and repository) when the first commit is
    written, so a run that stops on bad input leaves nothing behind."""
    if isinstance(target, GiteaTarget):
        # imported here: only a Gitea target loads the HTTP client (httpx)
        from gitops_engine.adapters.forge.gitea import GiteaClient

        token = target.token.read()
        with GiteaClient(target.server, token, retry=retry) as client:
            login = client.current_user()
            remote = transport.Remote(target.clone_url, Credentials(login, token))
            missing = client.get_repository(target.owner, target.repository) is None

            def make() -> None:
                if not create:
                    raise InputError(f"{remote.display}: the repository does not exist (seed it first)")
                _ensure_gitea_repository(client, target, retry)

            endpoint = _RemoteEndpoint(remote, transport.store_for(remote.url, cache_root), make if missing else None)
            yield Session(endpoint, client.forge(target.owner, target.repository))
        return
    if isinstance(target, RemoteTarget):
        remote = transport.Remote(target.url)
        yield Session(_RemoteEndpoint(remote, transport.store_for(remote.url, cache_root)))
        return
    yield Session(_LocalEndpoint(target.path, create))


def preview(session: Session, branch: str, compute: Compute) -> tuple[Base, Change | None]:
    """What publishing would do, without writing anything: the base read and the change computed on it."""
    base = session.read(branch)
    return base, compute(base)


def publish(
    session: Session,
    branch: str,
    compute: Compute,
    message: str,
    *,
    author: Author,
    mode: PublishMode = PublishMode.PUSH,
    review: Review | None = None,
    attempts: int = 3,
    base: Base | None = None,
    verify: Verify | None = None,
) -> PublishResult:
    """Compute a change on the head of `branch` and land it as one commit (see module doc).

    `verify`, when given, sees the written tree before any commit is made and may refuse it.

    With `base`, the change is built on that base only (one attempt; a branch that moved since is a conflict):
    the bot builds every proposal on the head it scanned. While `branch` does not exist yet, every mode pushes
    straight to it (a first seed has nothing to review).
    """
    if mode is not PublishMode.PUSH and review is None:
        raise InputError(f"publishing in mode {mode.value!r} needs a review (head branch, title, body)")
    endpoint = session.endpoint
    last: ConflictError | None = None
    commit = ""
    for attempt in range(1, (1 if base is not None else attempts) + 1):
        current = base or session.read(branch)
        change = compute(current)
        if change is None:
            return PublishResult(None, current.commit, current.tree, attempt)
        repo = endpoint.writable()
        tree_id = _write(repo, current, change)
        if tree_id == current.tree:
            return PublishResult(None, current.commit, current.tree, attempt)
        parents = [current.commit] if current.commit else []
        commit = git.create_commit(repo, tree_id, parents, change.message or message, author(current))
        landing = branch if mode is PublishMode.PUSH or current.commit is None else _head(review)
        keep = _kept_render(repo, change, landing, commit, author(current))
        try:
            return _land(session, branch, current, commit, tree_id, mode, review, keep, attempt, verify)
        except ConflictError as exc:
            if endpoint.heads(landing).get(landing) == commit:
                # someone pushed the very same commit: the branch holds what we wanted
                return PublishResult(landing, commit, tree_id, attempt)
            last = exc
    kept = endpoint.keep(branch, commit)
    raise ConflictError(
        f"{branch!r} kept moving: {attempts} attempts were each overtaken by another push ({last}); "
        f"the last commit {commit[:12]} is kept as {kept} — rerun to try again"
    )


def _head(review: Review | None) -> str:
    assert review is not None
    return review.head


def _write(repo: pygit2.Repository, base: Base, change: Change) -> str:
    """The change's tree: written whole when complete or on an unborn branch, else only along changed paths."""
    if change.complete or base.tree is None:
        files = {p: d for p, d in change.written.items() if p not in change.removed}
        kept = {p: b for p, b in change.kept.items() if p not in change.removed and p not in files}
        return git.write_tree(repo, files, existing=kept)
    return git.write_tree_changes(repo, base.tree, change.written, kept=change.kept, removed=change.removed)


def _kept_render(
    repo: pygit2.Repository, change: Change, landing: str, commit: str, author: git.Signature
) -> dict[str, str]:
    """The ref keeping the render reachable: the new commit itself when its tree holds the render, else a
    parentless commit of the render beside it (never part of the branch's history)."""
    if change.render is None:
        return {}
    target = commit
    if not change.render_in_tree:
        message = f"gitops-engine render of {landing}\n\nThe base of the next 3-way merge of a re-seed.\n"
        target = git.create_commit(repo, git.write_tree(repo, change.render), [], message, author)
    return {change.render_ref or f"{RENDER_REFS}{landing}": target}


def _land(
    session: Session,
    branch: str,
    base: Base,
    commit: str,
    tree_id: str,
    mode: PublishMode,
    review: Review | None,
    keep: Mapping[str, str],
    attempt: int,
    verify: Verify | None,
) -> PublishResult:
    """Land `commit`: on the branch, on the review head (unless it already holds the same tree) or for AGit
    review; `verify` sees the tree just before anything is written (a rerun that writes nothing checks nothing)."""
    endpoint, forge = session.endpoint, session.forge

    def check() -> None:
        if verify is not None:
            verify(base, endpoint.writable(), tree_id)

    if mode is PublishMode.PUSH or base.commit is None:
        check()
        endpoint.update(branch, commit, base.commit, lease=False, keep=keep)
        return PublishResult(branch, commit, tree_id, attempt)
    assert review is not None
    if mode is PublishMode.AGIT:
        check()
        endpoint.propose(commit, branch, review)
        pr = forge.find_open_pull_request(review.head, branch) if forge else None
        return PublishResult(f"refs/for/{branch}", commit, tree_id, attempt, pr)
    existing = endpoint.heads(review.head).get(review.head)
    if existing is None or not _same_tree(endpoint.repo, existing, tree_id):
        check()
        endpoint.update(review.head, commit, existing, lease=True, keep=keep)
    else:
        # a rerun with the same result: the branch already carries it, only the PR is refreshed
        commit = existing
    pr, closed = _propose(forge, branch, review) if forge else (None, ())
    return PublishResult(review.head, commit, tree_id, attempt, pr, closed)


def _same_tree(repo: pygit2.Repository | None, commit: str, tree_id: str) -> bool:
    """True when `commit` (if we have it) has `tree_id` as its tree."""
    return repo is not None and git.has_commit(repo, commit) and git.commit_tree(repo, commit) == tree_id


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


def _ensure_gitea_repository(client: GiteaClient, target: GiteaTarget, retry: RetryPolicy | None) -> str:
    """Create what is missing (user with admin credentials, organisation, repository); returns the token's login."""
    if target.admin_token is not None and target.create_user is not None:
        user = target.create_user
        from gitops_engine.adapters.forge.gitea import GiteaClient

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


class _LocalEndpoint:
    """A bare repository on this machine, opened when it exists and created on the first write when allowed."""

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        self._create = create
        self._repo = git.open_repository(path, create=False) if path.exists() else None

    @property
    def display(self) -> str:
        return str(self.path)

    @property
    def repo(self) -> pygit2.Repository | None:
        return self._repo

    def writable(self) -> pygit2.Repository:
        if self._repo is None:
            if not self._create:
                raise InputError(f"{self.path}: no repository there (check the path, or pass --create)")
            self._repo = git.open_repository(self.path, create=True)
        return self._repo

    def fetch(self, branch: str) -> git.BranchHead:
        if self._repo is None:
            return git.BranchHead(None, None)
        head = git.head_of(self._repo, branch)
        # a checkout in CI has the base as a remote-tracking branch (origin/main) and the head as a commit id
        return head if head.commit is not None else git.resolve(self._repo, branch)

    def heads(self, prefix: str) -> dict[str, str]:
        return git.branch_heads(self._repo, prefix) if self._repo is not None else {}

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool, keep: Mapping[str, str]) -> None:
        repo = self.writable()
        for ref, target in keep.items():
            git.set_ref(repo, ref, target)
        # the compare-and-swap on `expected` is both the fast-forward check and the lease
        git.move_branch(repo, branch, commit, expected, "gitops-engine publish")

    def delete(self, branch: str, expected: str) -> None:
        git.delete_branch(self.writable(), branch, expected)

    def propose(self, commit: str, base: str, review: Review) -> None:
        raise InputError(f"{self.path}: AGit review needs a git server; use mode 'push' or 'pr' locally")

    def keep(self, branch: str, commit: str) -> str:
        return commit


class _RemoteEndpoint:
    """A git remote through a local object store; `make`, when given, creates the missing repository before the
    first push (until then it reads as empty)."""

    def __init__(self, remote: transport.Remote, store: Path, make: Callable[[], None] | None = None) -> None:
        self.remote = remote
        self.store = store
        self._make = make
        self._repo = git.open_repository(store)

    @property
    def display(self) -> str:
        return self.remote.display

    @property
    def repo(self) -> pygit2.Repository:
        return self._repo

    def writable(self) -> pygit2.Repository:
        return self._repo

    def fetch(self, branch: str) -> git.BranchHead:
        if self._make is not None:
            return git.BranchHead(None, None)
        if transport.fetch_branch(self.remote, branch, self.store, also=(transport.RENDERS_REFSPEC,)) is None:
            return git.BranchHead(None, None)
        return git.head_of(self._repo, transport.fetched_ref(branch))

    def heads(self, prefix: str) -> dict[str, str]:
        return {} if self._make is not None else transport.remote_heads(self.remote, prefix, self.store)

    def update(self, branch: str, commit: str, expected: str | None, *, lease: bool, keep: Mapping[str, str]) -> None:
        self._made()
        transport.push_branch(self.remote, self.store, commit, branch, expected, lease=lease, also=keep)

    def delete(self, branch: str, expected: str) -> None:
        transport.delete_branch(self.remote, self.store, branch, expected)

    def propose(self, commit: str, base: str, review: Review) -> None:
        self._made()
        transport.push_for_review(self.remote, self.store, commit, base, review.head, review.title, review.body)

    def keep(self, branch: str, commit: str) -> str:
        return f"{transport.keep_commit(self.store, branch, commit)} in {self.store}"

    def _made(self) -> None:
        if self._make is not None:
            self._make()
            self._make = None
