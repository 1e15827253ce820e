"""Use case: the currency bot's pass over one repository — scan, look up, decide, and write one branch per change.

Every target takes one path: the base branch is read once (fetched into the local store for a remote), scanned,
and every branch is published on that same head through `publish`. A branch's tree is the base tree with the
branch's edits and its commit has the base as only parent, author time = the base commit's time. The same inputs
therefore give the same commit id, so a rerun with no upstream change moves nothing, a newer upstream version
moves the existing branch (rebased on the new base by construction), and bot branches no longer planned are
superseded: their PRs are closed where the target has a forge, and the branches deleted (compare-and-delete).
Each branch succeeds or fails on its own. The scan of a base tree is kept in the cache directory by tree id, so
a rerun on an unchanged base reads no file at all. On a forge, a pass that is not a dry run ends by keeping the
repository's dashboard issue current (app.dashboard).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_engine.adapters import fs, git, runcache, scancache
from gitops_engine.adapters import helmrepo as lookups
from gitops_engine.adapters.forge.base import Forge, PullRequest
from gitops_engine.adapters.targets import Target
from gitops_engine.app.chart_credentials import with_credentials
from gitops_engine.app.publish import RENDER_REFS, Base, Change, PublishMode, Review, Session, open_target, publish
from gitops_engine.core.errors import GitopsError, InputError
from gitops_engine.core.hashing import git_blob_ids, sha256_hex
from gitops_engine.core.shown import one_line
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.credentials import Credentials
from gitops_engine.model.state import STATE_PATH, State, decode
from gitops_engine.updates.branches import BRANCH_PREFIX, BranchPlan, branch_key, is_bot_branch, plan_branches
from gitops_engine.updates.engine_apps import EngineBumpError, engine_bump, hold_pinned, is_engine_folder
from gitops_engine.updates.kubernetes import inline_indexes, with_release_source
from gitops_engine.updates.policy import POLICY_PATH, Policy, parse_policy
from gitops_engine.updates.proposals import Plan, Proposal, propose
from gitops_engine.updates.uses import RELEASE_KINDS, ChartSource, ScanResult

if TYPE_CHECKING:
    from pygit2 import Repository

    from gitops_engine.app.dashboard import DashboardOutcome
    from gitops_engine.app.helm import HelmOptions
    from gitops_engine.app.impact import BranchImpact, Files
    from gitops_engine.app.verify import Verifier
    from gitops_engine.helm.sources import ChartLocation
    from gitops_engine.validate.scalar_edits import ScalarEdit

Lookup = Callable[[Sequence[ChartSource]], Mapping[str, ChartIndex]]
BOT = ("gitops-engine", "gitops-engine@localhost")
# how the bot's own closing comments begin (see _declined)
SUPERSEDED = "Superseded"


class Action(StrEnum):
    """What happened to one bot branch."""

    PLANNED = "planned"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"
    DECLINED = "declined"  # a human closed this very proposal: it waits for a newer version
    FAILED = "failed"


@dataclass(frozen=True)
class BranchOutcome:
    """One branch after the run; `pull_request` when a forge opened or updated one."""

    name: str
    action: Action
    commit: str | None = None
    pull_request: PullRequest | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        """True when writing this branch (or its pull request) failed."""
        return self.action is Action.FAILED

    def __str__(self) -> str:
        pr = f" (PR #{self.pull_request.number})" if self.pull_request else ""
        commit = f" {self.commit[:12]}" if self.commit else ""
        error = f": {self.error}" if self.error else ""
        return f"{self.name}: {self.action.value}{commit}{pr}{error}"


@dataclass(frozen=True)
class BumpResult:
    """The scan, the decisions, the branches and what was done with them; on a forge, the dashboard issue."""

    base: str
    scan: ScanResult
    plan: Plan
    branches: tuple[BranchPlan, ...]
    outcomes: tuple[BranchOutcome, ...]
    lookup_failures: Mapping[str, str] = field(default_factory=dict)  # URL → why (the message names the URL)
    dashboard: DashboardOutcome | None = None
    impacts: Mapping[str, BranchImpact] = field(default_factory=dict)  # branch → rendered impact (app.impact)


class AdapterLookup:
    """The lookup bound to the Helm/OCI adapters; failures are kept per URL for the report."""

    def __init__(self, options: lookups.LookupOptions | None = None) -> None:
        self.options = options
        self.failures: dict[str, str] = {}

    def __call__(self, sources: Sequence[ChartSource]) -> Mapping[str, ChartIndex]:
        """Fetch every source once (in parallel across sources)."""
        wanted = [
            lookups.ChartSource(
                source.url, source.auth, insecure=source.insecure, kind=source.kind, asked=source.charts
            )
            for source in sources
        ]
        results = lookups.fetch_indexes(wanted, self.options)
        found: dict[str, ChartIndex] = {}
        for url, result in results.items():
            if isinstance(result, ChartIndex):
                found[url] = result
            else:
                self.failures[url] = result.message
        return found


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for one bot pass.

    A fleet pass builds tens of thousands of small acyclic values (uses, proposals, output rows) that reference
    counting frees; the collector's passes over them find nothing (scripts/bench_bot.py shows what they cost).
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


def read_base(session: Session, branch: str) -> Base:
    """The head of `branch` on the session's target; an input error when the branch has no commits."""
    base = session.read(branch)
    if base.repo is None or base.commit is None or base.tree is None:
        raise InputError(f"{session.display}: branch {branch!r} has no commits (pass --branch with the base branch)")
    return base


def scan_head(
    repo: Repository, tree_id: str, policy_file: Path | None, cache_dir: Path | None
) -> tuple[ScanResult, Policy]:
    """The scan of `tree_id` (from the cache when it was scanned before) and the policy that applies."""
    policy = load_policy(git.read_file(repo, tree_id, POLICY_PATH), policy_file)
    scan = scancache.load_scan(cache_dir, tree_id) if cache_dir is not None else None
    if scan is None:
        from gitops_engine.updates.scan import scan_tree

        scan = scan_tree(git.read_tree(repo, tree_id))
        if cache_dir is not None:
            scancache.store_scan(cache_dir, tree_id, scan)
    return with_release_source(scan, policy.kubernetes), policy


def look_up(lookup: Lookup, sources: Sequence[ChartSource], policy: Policy) -> dict[str, ChartIndex]:
    """What every source offers: the lookup's answers, and the Kubernetes releases the policy lists itself."""
    return {**lookup(sources), **inline_indexes(policy.kubernetes)}


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
    verify: bool = True,
    age_key: Path | None = None,
    impact: HelmOptions | None = None,
) -> BumpResult:
    """One bot pass over any target (see module doc); `cache_dir` keeps scans and branch trees, `cache_root` the
    object stores of remotes; with `verify`, a branch that would introduce a `validate` error is not written;
    `age_key` opens the Secrets of private chart sources (before the identities discovered); with `impact`, each
    pull request shows what its change does to the rendered HelmReleases."""
    with open_target(target, cache_root=cache_root) as session:
        return bump(
            session,
            lookup,
            branch=branch,
            policy_file=policy_file,
            dry_run=dry_run,
            now=now,
            cache_dir=cache_dir,
            verify=verify,
            age_key=age_key,
            impact=impact,
        )


def bump(
    session: Session,
    lookup: Lookup,
    *,
    branch: str = "main",
    policy_file: Path | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    cache_dir: Path | None = None,
    verify: bool = True,
    age_key: Path | None = None,
    impact: HelmOptions | None = None,
) -> BumpResult:
    """One bot pass over an opened target."""
    base = read_base(session, branch)
    assert base.repo is not None and base.tree is not None
    scan, policy = scan_head(base.repo, base.tree, policy_file, cache_dir)
    state = git.read_file(base.repo, base.tree, STATE_PATH)
    scan = hold_pinned(scan, decode(state, STATE_PATH) if state is not None else None)
    moment = now or datetime.now(UTC)
    sources, unopened = with_credentials(scan.sources(), base.repo, base.tree, age_key)
    indexes = look_up(lookup, sources, policy)
    plan = propose(scan, indexes, policy, moment)
    branches = plan_branches(plan.proposals, moment)
    failures = {**unopened, **getattr(lookup, "failures", {})}
    # the impact is read in pull requests and in a dry run's answer: a pass that has neither renders nothing
    impacts: dict[str, BranchImpact] = {}
    # a Kubernetes step moves no chart: only branches that move one have a rendered impact
    charted = [b for b in branches if any(_moves_chart(p) for p in b.proposals)]
    if impact is not None and charted and (dry_run or session.forge is not None):
        # the key that opens the private sources' Secrets opens the values Secrets too
        options = impact if age_key is None else replace(impact, age_key=age_key)
        impacts = _rendered_impacts(base, charted, options, indexes, sources, cache_dir)
    if dry_run:
        outcomes = tuple(BranchOutcome(b.name, Action.PLANNED) for b in branches)
        return BumpResult(branch, scan, plan, branches, outcomes, failures, impacts=impacts)
    existing = session.endpoint.heads(BRANCH_PREFIX)
    # imported here: only a pass that writes branches loads the validator and its schemas
    from gitops_engine.app.verify import Verifier

    # version edits alone change no build; a moved folder can break what points at it
    verifiers = {moves: Verifier(builds=moves) for moves in (False, True)} if verify else {}
    declined = _declined(session.forge, branches)
    results: list[BranchOutcome] = []
    written: dict[str, BranchOutcome] = {}
    for b in branches:
        if b.name not in declined and b.after in declined:
            declined[b.name] = declined[b.after]  # a step built on a proposal a human declined waits with it
        if b.name in declined:
            outcome = BranchOutcome(b.name, Action.DECLINED, pull_request=declined[b.name])
        else:
            on = _stacked_base(base, b, written)
            verify_with = verifiers.get(_moves_folders(b))
            outcome = (
                _isolated(session, on, b, branch, existing, cache_dir, verify_with, impacts.get(b.name))
                if isinstance(on, Base)
                else BranchOutcome(b.name, Action.FAILED, error=on)
            )
        written[b.name] = outcome
        results.append(outcome)
    keep = {b.name for b in branches if b.name not in declined} | {f"{BRANCH_PREFIX}{key}" for key in plan.deferred}
    # a chart repository that could not be read says nothing about its apps' branches: they stay as they are
    keep |= {name for name in existing if branch_key(name) in plan.unread}
    results += _supersede(session, keep, branch, existing, reported=set(declined))
    result = BumpResult(branch, scan, plan, branches, tuple(results), failures, impacts=impacts)
    if session.forge is None:
        return result
    # imported here: only a pass on a forge keeps a dashboard, and app.dashboard builds on this module's result
    from gitops_engine.app.dashboard import update_dashboard

    return replace(result, dashboard=update_dashboard(session.forge, result, indexes, policy, moment))


def _stacked_base(base: Base, plan: BranchPlan, written: Mapping[str, BranchOutcome]) -> Base | str:
    """The base a branch is built on: the base branch, or the commit of the branch it follows (a Kubernetes step
    after the one before); when that one could not be written, why this one is not either."""
    if not plan.after:
        return base
    before = written.get(plan.after)
    if before is None or before.failed or before.commit is None:
        return f"builds on {plan.after}, which was not written"
    assert base.repo is not None
    return Base(base.repo, before.commit, git.commit_tree(base.repo, before.commit))


def _moves_folders(plan: BranchPlan) -> bool:
    """True when the branch moves a catalog folder (not only version scalars)."""
    return any(e.folder is not None and e.folder_version not in (None, e.folder.version) for e in plan.edits())


def _declined(forge: Forge | None, branches: Sequence[BranchPlan]) -> dict[str, PullRequest]:
    """The planned branches whose very proposal (same title) a human closed without merging: like Renovate, the
    bot then waits for a newer version instead of proposing the same one again. PRs the bot closed itself (its
    comment says superseded) do not count."""
    if forge is None or not branches:
        return {}
    titles = {b.name: b.title for b in branches}
    closed = [pr for pr in forge.list_closed_pull_requests(BRANCH_PREFIX) if titles.get(pr.head) == pr.title]
    declined: dict[str, PullRequest] = {}
    for pr in sorted(closed, key=lambda p: p.number):
        if not pr.merged and not any(c.body.startswith(SUPERSEDED) for c in forge.comments_of(pr.number)):
            declined[pr.head] = pr
    return declined


def _isolated(
    session: Session,
    base: Base,
    plan: BranchPlan,
    base_branch: str,
    existing: Mapping[str, str],
    cache_dir: Path | None,
    verify: Verifier | None,
    impact: BranchImpact | None = None,
) -> BranchOutcome:
    """One branch written on its own: its failure is its outcome, and the other branches still run."""
    try:
        return _write_branch(session, base, plan, base_branch, existing, cache_dir, verify, impact)
    except GitopsError as exc:
        return BranchOutcome(plan.name, Action.FAILED, error=one_line(str(exc), None))


def _write_branch(
    session: Session,
    base: Base,
    plan: BranchPlan,
    base_branch: str,
    existing: Mapping[str, str],
    cache_dir: Path | None,
    verify: Verifier | None,
    impact: BranchImpact | None = None,
) -> BranchOutcome:
    body = plan.body
    if impact is not None:
        from gitops_engine.app.impact import impact_section

        # the impact goes to the pull request only: the commit (and so its id) depends on the change alone
        body += impact_section(impact)
    review = Review(head=plan.name, title=plan.title, body=body, labels=("dependencies",))
    published = publish(
        session,
        base_branch,
        lambda on: _remembered_change(on, plan, cache_dir),
        plan.message,
        author=_at_base_time,
        mode=PublishMode.PR,
        review=review,
        base=base,
        verify=verify,
    )
    before = existing.get(plan.name)
    action = Action.CREATED if before is None else Action.UNCHANGED if published.commit == before else Action.UPDATED
    return BranchOutcome(plan.name, action, published.commit, published.pull_request)


def _rendered_impacts(
    base: Base,
    branches: Sequence[BranchPlan],
    options: HelmOptions,
    indexes: Mapping[str, ChartIndex],
    sources: Sequence[ChartSource],
    cache_dir: Path | None,
) -> dict[str, BranchImpact]:
    """Each branch's rendered impact on its base (app.impact.bump_impacts, which reads a tree only when it has a
    chart to render with): the chart versions each branch moves to, as the pass's lookups found them."""
    # imported here: only a pass that shows impacts loads the Helm layer
    from gitops_engine.app.impact import BranchToRender, bump_impacts

    assert base.repo is not None and base.tree is not None
    repo, tree = base.repo, base.tree
    read: dict[str, Mapping[str, bytes]] = {}

    def base_files() -> Mapping[str, bytes]:
        if "" not in read:
            read[""] = git.read_tree(repo, tree, links=False)
        return read[""]

    def head_files(plan: BranchPlan) -> Files:
        def files() -> Mapping[str, bytes]:
            change = _remembered_change(base, plan, cache_dir)
            kept = git.read_blobs(repo, dict(change.kept)) if change.kept else {}
            new = {**base_files(), **kept, **change.written}
            return {path: data for path, data in new.items() if path not in change.removed}

        return files

    auth = {(s.url, s.kind, s.insecure): s.auth for s in sources}
    wanted = [
        BranchToRender(
            plan.name,
            _targets(plan, auth),
            head_files(plan),
            _releases(plan),
            _change_key("bump-impact", base, plan),
            () if _moves_folders(plan) else _scalar_edits(plan),
        )
        for plan in branches
    ]
    return bump_impacts(base_files, wanted, options, indexes)


def _scalar_edits(plan: BranchPlan) -> tuple[ScalarEdit, ...]:
    """The plan's edits as validate.scalar_edits takes them (a plan that moves no folder rewrites scalars only)."""
    from gitops_engine.validate.scalar_edits import ScalarEdit

    return tuple(
        ScalarEdit(e.site.path, e.site.scalar.line, e.site.keys, e.site.scalar.value, e.value) for e in plan.edits()
    )


def _releases(plan: BranchPlan) -> tuple[str, ...]:
    """The HelmReleases `plan` edits, named as discovery names them (`HelmRelease/ns/name`)."""
    found: dict[str, None] = {}
    for proposal in plan.proposals:
        kind, _, name = proposal.use.holder.partition(" ")  # "HelmRelease apps/demo"
        if kind == "HelmRelease":
            found.setdefault(f"{kind}/{name}")
    return tuple(found)


def _moves_chart(proposal: Proposal) -> bool:
    source = proposal.use.source
    return source is not None and source.kind not in RELEASE_KINDS


def _targets(plan: BranchPlan, auth: Mapping[tuple[str, str, bool], Credentials | None]) -> tuple[ChartLocation, ...]:
    """Where the chart versions `plan` moves to are to be had, as rendering will ask for them."""
    from gitops_engine.helm.sources import ChartLocation

    found: dict[ChartLocation, None] = {}
    for proposal in plan.proposals:
        source = proposal.use.source
        if source is not None and _moves_chart(proposal):
            key = (source.url, source.kind, source.insecure)
            kind = "oci" if source.kind == "oci" else "helm"
            location = ChartLocation(
                kind,
                source.url.rstrip("/"),
                proposal.use.chart,
                proposal.release.version,
                auth.get(key),
                source.insecure,
            )
            found.setdefault(location)
    return tuple(found)


def _at_base_time(base: Base) -> git.Signature:
    """The bot's signature at the base commit's time: the same inputs give the same commit id."""
    assert base.repo is not None and base.commit is not None
    return git.Signature(*BOT, git.commit_time(base.repo, base.commit))


def _branch_change(base: Base, plan: BranchPlan) -> Change:
    """The branch's change to the base: the edited files and, for a catalog folder move, the files it moves.

    Scalar edits touch a few files, so only those are read. A folder move reads every file: an app folder the
    engine seeded moves the way a seed with the new version would render it (updates.engine_apps), any other
    catalog folder moves with every reference to it rewritten.
    """
    from gitops_engine.updates.edits import apply_to_tree

    assert base.repo is not None and base.tree is not None
    edits = plan.edits()
    if any(edit.kubernetes for edit in edits):
        return _kubernetes_change(base, plan)
    if not _moves_folders(plan):
        blobs = git.list_blobs(base.repo, base.tree)
        touched = git.read_blobs(base.repo, {edit.site.path: blobs[edit.site.path] for edit in edits})
        return Change(written=apply_to_tree(touched, edits))
    files = git.read_tree(base.repo, base.tree)
    state = _state_of(files)
    engine = [e for e in edits if e.folder is not None and is_engine_folder(state, e.folder)]
    new = apply_to_tree(files, [e for e in edits if e not in engine])
    written = {path: data for path, data in new.items() if files.get(path) is not data}
    removed = set(files.keys() - new.keys())
    render: dict[str, bytes] = {}
    for edit in engine:
        assert state is not None and edit.folder is not None and edit.folder_version is not None
        bumped = engine_bump(new, state, _blob_reader(base), edit.folder, edit.site.version_text, edit.folder_version)
        new = {p: d for p, d in {**new, **bumped.written}.items() if p not in bumped.removed}
        written.update(bumped.written)
        removed |= bumped.removed
        render.update(bumped.render)
        state = decode(bumped.written[STATE_PATH], STATE_PATH)
    in_tree = all(written.get(path) == data for path, data in render.items())
    ref = f"{RENDER_REFS}bump/{plan.key}/{plan.line}" if render else None
    return Change(
        written=written,
        removed=frozenset(removed - written.keys()),
        render=render or None,
        render_in_tree=in_tree,
        render_ref=ref,
    )


def _kubernetes_change(base: Base, plan: BranchPlan) -> Change:
    """A Kubernetes step: the Cluster's version, the cluster's variables and its version of record, written as a
    seed would render them (updates.engine_clusters); only those files are read."""
    from gitops_engine.updates.clusters import vars_file
    from gitops_engine.updates.engine_clusters import kubernetes_bump

    assert base.repo is not None and base.tree is not None
    blobs = git.list_blobs(base.repo, base.tree)
    written: dict[str, bytes] = {}
    render: dict[str, bytes] = {}
    for edit in plan.edits():
        assert edit.kubernetes is not None
        wanted = {edit.site.path, vars_file(edit.kubernetes), STATE_PATH}
        files = {**git.read_blobs(base.repo, {p: blobs[p] for p in wanted if p in blobs}), **written}
        state = _state_of(files)
        change = kubernetes_bump(files, state, _blob_reader(base), edit)
        written.update(change.written)
        render.update(change.render)
    in_tree = all(written.get(path) == data for path, data in render.items())
    ref = f"{RENDER_REFS}bump/{plan.key}/{plan.line}" if render else None
    return Change(written=written, render=render or None, render_in_tree=in_tree, render_ref=ref)


def _state_of(files: Mapping[str, bytes]) -> State | None:
    """What the last seed recorded, when the engine seeded this repository."""
    data = files.get(STATE_PATH)
    return decode(data, STATE_PATH) if data is not None else None


def _blob_reader(base: Base) -> Callable[[str], bytes]:
    """Recorded renders by blob id; a render the repository lost stops the branch with the fix."""
    assert base.repo is not None
    repo = base.repo

    def read(blob: str) -> bytes:
        if not git.has_blob(repo, blob):
            raise EngineBumpError(
                f"the last render (blob {blob[:12]}) is not in the repository; seed again before the bot bumps"
            )
        return git.read_blobs(repo, {"": blob})[""]

    return read


def _change_key(what: str, base: Base, plan: BranchPlan) -> str:
    """A key naming `what` is kept for `plan`'s edits on `base`'s tree (the same edits make the same change)."""
    edits = sorted(
        (e.site.path, e.site.scalar.start, e.site.scalar.end, e.value, repr(e.folder), e.folder_version or "")
        for e in plan.edits()
    )
    return sha256_hex(json.dumps([what, base.tree, edits]).encode())


def _remembered_change(base: Base, plan: BranchPlan, cache_dir: Path | None) -> Change:
    """_branch_change, remembered by (base tree, edits) under this build's code (see runcache) as the blob ids it
    writes: the same edits on the same base give the same files, so a scheduled rerun with nothing new skips
    re-applying and re-checking them. Changes that keep a render beside them are not remembered (they are few)."""
    if cache_dir is None:
        return _branch_change(base, plan)
    assert base.repo is not None
    key = _change_key("branch-change", base, plan)
    known = runcache.load_output(cache_dir, key)
    if known is not None:
        remembered = json.loads(known)
        if all(git.has_blob(base.repo, blob) for blob in remembered["kept"].values()):
            return Change(kept=remembered["kept"], removed=frozenset(remembered["removed"]))
    change = _branch_change(base, plan)
    if change.render is None:
        blob_ids = git_blob_ids(change.written)
        remembered_text = json.dumps({"kept": blob_ids, "removed": sorted(change.removed)})
        runcache.store_output(cache_dir, key, remembered_text.encode())
    return change


def _supersede(
    session: Session, keep: set[str], base: str, existing: Mapping[str, str], reported: set[str]
) -> list[BranchOutcome]:
    """Bot branches (and their open PRs) that no proposal wants any more: PRs closed, branches deleted.

    A branch whose open PR targets another base belongs to a pass over that base and is left alone; branches in
    `reported` (declined ones) are deleted without an outcome of their own.
    """
    forge = session.forge
    open_prs = {pr.head: pr for pr in forge.list_open_pull_requests(BRANCH_PREFIX)} if forge is not None else {}
    stale = {
        name
        for name in (*existing, *open_prs)
        if is_bot_branch(name) and name not in keep and (name not in open_prs or open_prs[name].base == base)
    }
    outcomes: list[BranchOutcome] = []
    for name in sorted(stale):
        pr, commit = open_prs.get(name), existing.get(name)
        try:
            if forge is not None and pr is not None:
                forge.close_pull_request(pr.number, f"{SUPERSEDED}: gitops-engine no longer proposes this change.")
            if commit is not None:
                session.endpoint.delete(name, commit)
        except GitopsError as exc:
            outcomes.append(BranchOutcome(name, Action.FAILED, commit, pr, str(exc).splitlines()[0]))
            continue
        if name not in reported:  # a declined branch is cleaned up under its own outcome
            outcomes.append(BranchOutcome(name, Action.SUPERSEDED, commit, pr))
    return outcomes


def run_pass(
    target: Target,
    branch: str = "main",
    *,
    cache_root: Path | None = None,
    verify: bool = True,
    age_key: Path | None = None,
) -> BumpResult:
    """The reconcile step: bump any target with the Helm/OCI adapters."""
    options = lookups.LookupOptions(cache_dir=cache_root / "charts" if cache_root else None)
    scans = cache_root / "scans" if cache_root else lookups.default_cache_dir()
    remotes = cache_root / "remotes" if cache_root else None
    lookup = AdapterLookup(options)
    from gitops_engine.app.helm import HelmOptions

    impact = HelmOptions(options, offline=False)
    return bump_target(
        target,
        lookup,
        branch=branch,
        cache_dir=scans,
        cache_root=remotes,
        verify=verify,
        age_key=age_key,
        impact=impact,
    )
