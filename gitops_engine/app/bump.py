"""Use case: the currency bot's pass over one repository — scan, look up, decide, and write one branch per change.

Every branch is rebuilt from the current base each run: its tree is the base tree with the branch's edits and
its commit has the base as only parent, author time = the base commit's time. The same inputs therefore give
the same commit id, so a rerun with no upstream change moves nothing, a newer upstream version moves the
existing branch (which is then rebased on the new base by construction), and bot branches no longer planned
are superseded: their PRs are closed when a forge is given, else the branches are deleted (compare-and-delete).
The scan of a base tree is kept in the cache directory by tree id, so a rerun on an unchanged base reads no
file at all. A rerun on an unchanged base is the common scheduled case, so what it does not use is imported
only where it is used: the YAML scanner on a scan-cache miss, the editor when a branch is written, and the forge
client, publish and the secrets guard when writing to a remote.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_engine import __version__
from gitops_engine.adapters import forked, fs, git, runcache, scancache, transport
from gitops_engine.adapters import helmrepo as lookups
from gitops_engine.adapters.forge.base import Forge, PullRequest
from gitops_engine.adapters.targets import GiteaTarget, LocalTarget, RemoteTarget, Target
from gitops_engine.core.errors import InputError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.currency.branches import BRANCH_PREFIX, BranchPlan, plan_branches
from gitops_engine.currency.policy import POLICY_PATH, Policy, parse_policy
from gitops_engine.currency.proposals import Plan, propose
from gitops_engine.currency.uses import ChartSource, ScanResult
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.tree import Tree

if TYPE_CHECKING:
    from pygit2 import Repository

Lookup = Callable[[Sequence[ChartSource]], Mapping[str, ChartIndex]]
BOT = ("gitops-engine", "gitops-engine@localhost")
# below this many files a scan takes well under a tenth of a second: not worth a fork
_PARALLEL_SCAN_FILES = 2000


class Action(StrEnum):
    """What happened to one bot branch."""

    PLANNED = "planned"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class BranchOutcome:
    """One branch after the run; `pull_request` when a forge opened or updated one."""

    name: str
    action: Action
    commit: str | None = None
    pull_request: PullRequest | None = None
    failed: bool = False

    def __str__(self) -> str:
        pr = f" (PR #{self.pull_request.number})" if self.pull_request else ""
        commit = f" {self.commit[:12]}" if self.commit else ""
        return f"{self.name}: {self.action.value}{commit}{pr}"


@dataclass(frozen=True)
class BumpResult:
    """The scan, the decisions, the branches and what was done with them."""

    base: str
    scan: ScanResult
    plan: Plan
    branches: tuple[BranchPlan, ...]
    outcomes: tuple[BranchOutcome, ...]
    lookup_failures: Mapping[str, str] = field(default_factory=dict)


class AdapterLookup:
    """The lookup bound to the Helm/OCI adapters; failures are kept per URL for the report."""

    def __init__(self, options: lookups.LookupOptions | None = None) -> None:
        self.options = options
        self.failures: dict[str, str] = {}
        self.found: dict[str, ChartIndex] = {}
        self._early: Future[dict[str, ChartIndex | lookups.LookupFailure]] | None = None

    def prefetch(self, urls: Sequence[str]) -> None:
        """Start fetching the Helm repositories a tree declares while the rest of its scan runs."""
        wanted = [lookups.ChartSource(url) for url in dict.fromkeys(urls)]
        if wanted and self._early is None:
            pool = ThreadPoolExecutor(max_workers=1)
            self._early = pool.submit(lookups.fetch_indexes, wanted, self.options)
            pool.shutdown(wait=False)  # the worker ends with its one task

    def __call__(self, sources: Sequence[ChartSource]) -> Mapping[str, ChartIndex]:
        """Fetch every source once (in parallel across sources); what prefetch fetched is not fetched again."""
        early: dict[str, ChartIndex | lookups.LookupFailure] = {}
        if self._early is not None:
            early = {url.rstrip("/"): result for url, result in self._early.result().items()}
            self._early = None
        results: dict[str, ChartIndex | lookups.LookupFailure] = {}
        wanted: list[lookups.ChartSource] = []
        for source in sources:
            prefetched = None if source.insecure else early.get(source.url.rstrip("/"))
            if prefetched is not None:
                results[source.url] = prefetched
            else:
                wanted.append(lookups.ChartSource(source.url, insecure=source.insecure))
        results.update(lookups.fetch_indexes(wanted, self.options))
        found: dict[str, ChartIndex] = {}
        for url, result in results.items():
            if isinstance(result, ChartIndex):
                found[url] = result
            else:
                self.failures[url] = result.message
        self.found.update(found)
        return found


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for one bot pass.

    A fleet pass builds tens of thousands of small acyclic values (uses, proposals, output rows) that reference
    counting frees; the collector's passes over them cost about a quarter of a 10,000-release run and find nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_policy(in_repo: bytes | None, policy_file: Path | None) -> Policy:
    """The policy from `--policy FILE`, else the repository's own (`in_repo`), else the defaults."""
    if policy_file is not None:
        return parse_policy(fs.read_bytes(policy_file, "currency policy"), str(policy_file))
    if in_repo is not None:
        return parse_policy(in_repo, POLICY_PATH)
    return Policy()


def scan_branch(
    repo_path: Path,
    branch: str,
    policy_file: Path | None,
    cache_dir: Path | None,
    declared: Callable[[Sequence[str]], None] | None = None,
) -> tuple[Repository, tuple[str, str], ScanResult, Policy]:
    """Open the local repository, check `branch` has commits, scan its head (see scan_head); the head as
    (commit, tree)."""
    repo = git.open_repository(repo_path, create=False)
    head = git.head_of(repo, branch)
    if head.commit is None or head.tree is None:
        raise InputError(f"{repo_path}: branch {branch!r} has no commits (pass --branch with the base branch)")
    scan, policy = scan_head(repo, head.tree, policy_file, cache_dir, declared)
    return repo, (head.commit, head.tree), scan, policy


def scan_head(
    repo: Repository,
    tree_id: str,
    policy_file: Path | None,
    cache_dir: Path | None,
    declared: Callable[[Sequence[str]], None] | None = None,
) -> tuple[ScanResult, Policy]:
    """The scan of `tree_id` (from the cache when it was scanned before) and the policy that applies.

    `declared`, when given, hears the Helm repository URLs the tree declares as soon as its files are read, before
    releases are resolved to them: a lookup can start fetching meanwhile.
    """
    policy = load_policy(git.read_file(repo, tree_id, POLICY_PATH), policy_file)
    scan = scancache.load_scan(cache_dir, tree_id) if cache_dir is not None else None
    if scan is None:
        scan = _scan(git.read_tree(repo, tree_id), declared)
        if cache_dir is not None:
            scancache.store_scan(cache_dir, tree_id, scan)
    return scan, policy


def _scan(files: Tree, declared: Callable[[Sequence[str]], None] | None = None) -> ScanResult:
    """scan_tree, with the reading of the files split with a forked worker when the tree is big enough to pay."""
    from gitops_engine.currency.scan import declared_helm_urls, read_manifests, resolve_readings

    paths = list(files)
    if len(paths) < _PARALLEL_SCAN_FILES:
        readings = [read_manifests(files, paths)]
    else:
        # the child also pickles what it read, so it takes a little less than half
        split = len(paths) * 9 // 20
        with forked.in_child(lambda: read_manifests(files, paths[:split])) as first:
            second = read_manifests(files, paths[split:])
            readings = [first.result(), second]
    if declared is not None:
        declared(declared_helm_urls(readings))
    return resolve_readings(files, readings)


def run_bump(
    repo_path: Path,
    lookup: Lookup,
    *,
    branch: str = "main",
    policy_file: Path | None = None,
    dry_run: bool = False,
    forge: Forge | None = None,
    now: datetime | None = None,
    cache_dir: Path | None = None,
) -> BumpResult:
    """One bot pass over the local repository at `repo_path` against its `branch`; `cache_dir` keeps scans."""
    prefetch = getattr(lookup, "prefetch", None)
    repo, (head_commit, head_tree), scan, policy = scan_branch(repo_path, branch, policy_file, cache_dir, prefetch)
    moment = now or datetime.now(UTC)
    indexes = lookup(scan.sources())
    plan = propose(scan, indexes, policy, moment)
    branches = plan_branches(plan.proposals, moment)
    failures = dict(getattr(lookup, "failures", {}))
    if dry_run:
        outcomes = tuple(BranchOutcome(b.name, Action.PLANNED) for b in branches)
        return BumpResult(branch, scan, plan, branches, outcomes, failures)
    base = _Base(repo, head_tree, head_commit)
    author = git.Signature(*BOT, git.commit_time(repo, head_commit))
    results = [_write_branch(repo, base, plan_, author, branch, forge, cache_dir) for plan_ in branches]
    keep = {b.name for b in branches} | {f"{BRANCH_PREFIX}{key}" for key in plan.deferred}
    results += _supersede(repo, keep, branch, forge)
    return BumpResult(branch, scan, plan, branches, tuple(results), failures)


@dataclass(frozen=True)
class _Base:
    """The base commit, and its files when a branch needs all of them (read at most once)."""

    repo: Repository
    tree: str
    commit: str

    @cached_property
    def files(self) -> Mapping[str, bytes]:
        return git.read_tree(self.repo, self.tree)

    @cached_property
    def blobs(self) -> Mapping[str, str]:
        return git.list_blobs(self.repo, self.tree)


def _write_branch(
    repo: Repository,
    base: _Base,
    plan: BranchPlan,
    author: git.Signature,
    base_branch: str,
    forge: Forge | None,
    cache_dir: Path | None,
) -> BranchOutcome:
    tree_id = _remembered_branch_tree(base, plan, cache_dir)
    commit = git.create_commit(repo, tree_id, [base.commit], plan.message, author)
    existing = git.head_of(repo, plan.name).commit
    if existing == commit:
        action = Action.UNCHANGED
    else:
        git.move_branch(repo, plan.name, commit, existing, f"gitops-engine: {plan.title}")
        action = Action.CREATED if existing is None else Action.UPDATED
    pull_request = _sync_pull_request(forge, plan, base_branch) if forge is not None else None
    return BranchOutcome(plan.name, action, commit, pull_request)


def _branch_tree(base: _Base, plan: BranchPlan) -> str:
    """The branch's tree: the base with the plan's edits.

    Scalar edits touch a few files, so only those are read and only the trees on their paths rebuilt. A catalog
    folder move rewrites references anywhere in the tree: then every file is read, and the files it changed are
    written beside the base's own blobs (only those are hashed and checked for plaintext Secrets).
    """
    from gitops_engine.currency.edits import apply_to_tree

    edits = plan.edits()
    if any(e.folder is not None and e.folder_version not in (None, e.folder.version) for e in edits):
        new = apply_to_tree(base.files, edits)
        changed = {path: data for path, data in new.items() if base.files.get(path) is not data}
        kept = {path: base.blobs[path] for path in new if path not in changed}
        return git.write_tree(base.repo, changed, existing=kept)
    paths = {edit.site.path for edit in edits}
    touched = git.read_blobs(base.repo, {path: base.blobs[path] for path in paths})
    return git.write_tree_changes(base.repo, base.tree, apply_to_tree(touched, edits))


def _remembered_branch_tree(base: _Base, plan: BranchPlan, cache_dir: Path | None) -> str:
    """_branch_tree, remembered by (engine, base tree, edits): the same edits on the same base give the same tree,
    so a scheduled rerun with nothing new skips re-applying and re-checking thousands of edits."""
    if cache_dir is None:
        return _branch_tree(base, plan)
    edits = sorted(
        (e.site.path, e.site.scalar.start, e.site.scalar.end, e.value, repr(e.folder), e.folder_version or "")
        for e in plan.edits()
    )
    key = sha256_hex(json.dumps([__version__, "branch-tree", base.tree, edits]).encode())
    known = runcache.load_output(cache_dir, key)
    if known is not None and git.has_tree(base.repo, known.decode()):
        return known.decode()
    tree_id = _branch_tree(base, plan)
    runcache.store_output(cache_dir, key, tree_id.encode())
    return tree_id


def _sync_pull_request(forge: Forge, plan: BranchPlan, base: str) -> PullRequest:
    current = forge.find_open_pull_request(plan.name, base)
    if current is None:
        return forge.open_pull_request(plan.name, base, plan.title, plan.body, labels=("dependencies",))
    if (current.title, current.body) != (plan.title, plan.body):
        return forge.update_pull_request(current.number, plan.title, plan.body)
    return current


def _supersede(repo: Repository, keep: set[str], base: str, forge: Forge | None) -> list[BranchOutcome]:
    """Bot branches (or their open PRs) that no proposal wants any more."""
    outcomes: list[BranchOutcome] = []
    if forge is not None:
        for pr in forge.list_open_pull_requests(BRANCH_PREFIX):
            if pr.head not in keep and pr.base == base:
                forge.close_pull_request(pr.number, "Superseded: gitops-engine no longer proposes this change.")
                outcomes.append(BranchOutcome(pr.head, Action.SUPERSEDED, pull_request=pr))
        return outcomes
    for name in git.branch_names(repo, BRANCH_PREFIX):
        commit = git.head_of(repo, name).commit
        if name not in keep and commit is not None:
            git.delete_branch(repo, name, commit)
            outcomes.append(BranchOutcome(name, Action.SUPERSEDED, commit))
    return outcomes


def bump_target(
    target: Target,
    lookup: Lookup,
    *,
    branch: str = "main",
    policy_file: Path | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    cache_dir: Path | None = None,
    cache_root: Path | None = None,
) -> BumpResult:
    """One bot pass over any target: a local repository directly, a git remote or Gitea through publish.

    For a remote, the base branch is fetched into the local object store (`cache_root`, see transport) and
    scanned there; each branch is then published as a pull-request branch. With Gitea the PRs are opened,
    updated and (when superseded) closed through the forge; a plain remote gets the branches pushed only.
    """
    if isinstance(target, LocalTarget):
        return run_bump(
            target.path, lookup, branch=branch, policy_file=policy_file, dry_run=dry_run, now=now, cache_dir=cache_dir
        )
    job = _RemoteJob(target, branch, policy_file, dry_run, now, cache_dir, cache_root)
    if isinstance(target, GiteaTarget):
        from gitops_engine.adapters.forge.gitea import GiteaClient

        token = target.token.read()
        with GiteaClient(target.server, token) as client:
            remote = transport.Remote(target.clone_url, Credentials(client.current_user(), token))
            return _bump_remote(job, remote, lookup, client.forge(target.owner, target.repository))
    return _bump_remote(job, transport.Remote(target.url), lookup, None)


@dataclass(frozen=True)
class _RemoteJob:
    target: RemoteTarget | GiteaTarget
    branch: str
    policy_file: Path | None
    dry_run: bool
    now: datetime | None
    cache_dir: Path | None
    cache_root: Path | None


def _bump_remote(job: _RemoteJob, remote: transport.Remote, lookup: Lookup, forge: Forge | None) -> BumpResult:
    store = transport.store_for(remote.url, job.cache_root)
    repo = git.open_repository(store)
    if transport.fetch_branch(remote, job.branch, store) is None:
        raise InputError(f"{remote.display}: branch {job.branch!r} does not exist (pass --branch with the base branch)")
    head = git.head_of(repo, transport.fetched_ref(job.branch))
    assert head.commit is not None and head.tree is not None  # just fetched
    scan, policy = scan_head(repo, head.tree, job.policy_file, job.cache_dir, getattr(lookup, "prefetch", None))
    moment = job.now or datetime.now(UTC)
    plan = propose(scan, lookup(scan.sources()), policy, moment)
    branches = plan_branches(plan.proposals, moment)
    failures = dict(getattr(lookup, "failures", {}))
    if job.dry_run:
        outcomes = tuple(BranchOutcome(b.name, Action.PLANNED) for b in branches)
        return BumpResult(job.branch, scan, plan, branches, outcomes, failures)
    author = git.Signature(*BOT, git.commit_time(repo, head.commit))
    results = [_publish_branch(job, remote, store, plan_, author) for plan_ in branches]
    if forge is not None:
        keep = {b.name for b in branches} | {f"{BRANCH_PREFIX}{key}" for key in plan.deferred}
        results += _supersede(repo, keep, job.branch, forge)
    return BumpResult(job.branch, scan, plan, branches, tuple(results), failures)


def _publish_branch(
    job: _RemoteJob, remote: transport.Remote, store: Path, plan: BranchPlan, author: git.Signature
) -> BranchOutcome:
    from gitops_engine.app.publish import PublishMode, Review, publish
    from gitops_engine.currency.edits import apply_to_tree
    from gitops_engine.secrets.guard import plaintext_violations

    edits = plan.edits()
    touched = {edit.site.path for edit in edits}
    moved_to = tuple(
        f"{e.folder.root[: -len(e.folder.version)]}{e.folder_version}/"
        for e in edits
        if e.folder is not None and e.folder_version is not None
    )

    def change(base: Tree) -> Tree:
        return Tree(apply_to_tree(base, edits))

    def guard(files: Mapping[str, bytes]) -> list[str]:
        # the bot answers for what it writes: the files it edits and any catalog folder it moves
        return plaintext_violations({p: d for p, d in files.items() if p in touched or p.startswith(moved_to)})

    before = transport.remote_head(remote, plan.name, store)
    review = Review(head=plan.name, title=plan.title, body=plan.body, labels=("dependencies",))
    published = publish(
        job.target,
        job.branch,
        change,
        plan.message,
        author=author,
        mode=PublishMode.PR,
        review=review,
        cache_root=job.cache_root,
        guard=guard,
    )
    action = Action.UPDATED
    if before is None:
        action = Action.CREATED
    elif published.commit == before:
        action = Action.UNCHANGED
    return BranchOutcome(plan.name, action, published.commit, published.pull_request)


def run_pass(target: Target, branch: str = "main", *, cache_root: Path | None = None) -> tuple[BranchOutcome, ...]:
    """The reconcile step: bump any target with the Helm/OCI adapters; one outcome per branch."""
    options = lookups.LookupOptions(cache_dir=cache_root / "charts" if cache_root else None)
    scans = cache_root / "scans" if cache_root else lookups.default_cache_dir()
    remotes = cache_root / "remotes" if cache_root else None
    return bump_target(target, AdapterLookup(options), branch=branch, cache_dir=scans, cache_root=remotes).outcomes
