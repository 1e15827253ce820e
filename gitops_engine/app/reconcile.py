"""Use case: one scheduled pass over a repository — re-seed from its spec, propagate catalogs, run the bot.

When the branch holds its own platform spec (.gitops-engine/platform.yaml), the pass first seeds from it: a
merged spec pull request reaches the rendered fleet without anyone running `seed` by hand, and an unchanged spec
and catalog (same input digest) cost nothing.

A per-repository lock keeps two passes from interleaving. Each step runs on its own: a failing step is recorded
and the next one still runs, so the summary always covers every step and every item that was reached. A step
whose lookups or branches partly failed is failed too: a scheduled bot must never look green while it cannot
reach what it checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_engine.adapters import git, lock, transport
from gitops_engine.adapters.targets import GiteaTarget, LocalTarget, RemoteTarget, Target
from gitops_engine.app.bump import run_pass
from gitops_engine.app.propagate import PropagateOutcome, propagate
from gitops_engine.app.publish import open_target
from gitops_engine.app.seed import SPEC_PATH, SeedRequest, seed
from gitops_engine.core.errors import GitopsError
from gitops_engine.propagate import CopyStatus

if TYPE_CHECKING:
    from gitops_engine.app.dashboard import DashboardOutcome

LOCK_NAME = "gitops-engine.lock"

ItemSink = Callable[[str, str], None]


class StepStatus(StrEnum):
    """How one step of the pass ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepReport:
    """One step's status, a one-line detail (counts, the error, why skipped), its item lines and, for the bot on
    a forge, the dashboard issue it kept."""

    name: str
    status: StepStatus
    detail: str
    items: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    dashboard: DashboardOutcome | None = None

    def __str__(self) -> str:
        return f"{self.name}: {self.status.value} — {self.detail}"


def _failed(name: str, exc: GitopsError) -> StepReport:
    """A step an error stopped: the error on one line (a tool's stderr folded in) as its detail and its failure."""
    line = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return StepReport(name, StepStatus.FAILED, line, failures=(line,))


@dataclass(frozen=True)
class ReconcileReport:
    """Every step of one pass, in order."""

    repository: str
    branch: str
    steps: tuple[StepReport, ...]

    @property
    def failed(self) -> bool:
        """True when any step failed."""
        return any(step.status is StepStatus.FAILED for step in self.steps)

    @property
    def dashboard(self) -> DashboardOutcome | None:
        """The dashboard issue the pass kept (None without a forge)."""
        return next((step.dashboard for step in self.steps if step.dashboard is not None), None)


def lock_path(target: Target, cache_root: Path | None = None) -> Path:
    """Where the repository's lock lives: inside a local repository's git directory, else beside its cache store."""
    if isinstance(target, LocalTarget):
        return Path(git.open_repository(target.path, create=False).path) / LOCK_NAME
    return transport.store_for(target_url(target), cache_root).with_suffix(".lock")


def reconcile(
    target: Target,
    branch: str = "main",
    *,
    on_item: ItemSink | None = None,
    cache_root: Path | None = None,
    verify: bool = True,
    age_key: Path | None = None,
) -> ReconcileReport:
    """Run one pass under the repository lock (LockedError when another pass holds it); items stream to `on_item`.

    `age_key` is the fleet's identity for every step: the re-seed opens and writes Secrets with it (else with the
    spec's recipients or the default key file) and keeps every Secret whose values it cannot read (see
    SeedRequest.scheduled); the bump opens private chart sources' Secrets with it."""
    sink: ItemSink = on_item or (lambda step, line: None)
    name = display_name(target)
    with lock.exclusive(lock_path(target, cache_root), f"repository {name}"):
        steps = (
            _seed_step(target, branch, cache_root, sink, verify, age_key),
            _propagate_step(target, branch, cache_root, sink, verify),
            _bump_step(target, branch, cache_root, sink, verify, age_key),
        )
    return ReconcileReport(name, branch, steps)


def display_name(target: Target) -> str:
    """How a pass names its repository: the local path, or the URL without credentials."""
    return str(target.path) if isinstance(target, LocalTarget) else transport.scrub_url(target_url(target))


def target_url(target: RemoteTarget | GiteaTarget) -> str:
    """The URL git fetches a remote target from."""
    return target.clone_url if isinstance(target, GiteaTarget) else target.url


def _seed_step(
    target: Target, branch: str, cache_root: Path | None, sink: ItemSink, verify: bool, age_key: Path | None
) -> StepReport:
    try:
        with open_target(target, cache_root=cache_root) as session:
            base = session.read(branch)
            holds_spec = base.repo is not None and git.read_file(base.repo, base.tree, SPEC_PATH) is not None
        if not holds_spec:
            return StepReport("seed", StepStatus.SKIPPED, f"the branch holds no {SPEC_PATH}")
        request = SeedRequest(
            Path(SPEC_PATH),
            branch=branch,
            spec_ref=branch,
            target=target,
            cache_root=cache_root,
            verify=verify,
            age_key_file=age_key,
            scheduled=True,
        )
        result = seed(request)
    except GitopsError as exc:
        return _failed("seed", exc)
    # encrypted files no available identity could re-wrap for new recipients: the rest is committed
    failures = tuple(result.plan.recipients.failure_lines())
    status = StepStatus.FAILED if failures else StepStatus.OK
    if result.commit is None:
        detail = f"{len(failures)} file(s) not re-wrapped" if failures else "up to date"
        return StepReport("seed", status, detail, failures=failures)
    where = f"pull request #{result.pull_request.number}" if result.pull_request else result.ref
    line = f"committed {result.commit[:12]} to {where} ({result.plan.changed_files} files)"
    sink("seed", line)
    return StepReport("seed", status, line, (line,), failures=failures)


def _propagate_step(target: Target, branch: str, cache_root: Path | None, sink: ItemSink, verify: bool) -> StepReport:
    try:
        outcome = propagate(target, branch, cache_root=cache_root, verify=verify)
    except GitopsError as exc:
        return _failed("propagate", exc)
    lines = [str(item) for item in outcome.plan.items if item.status is not CopyStatus.UNCHANGED]
    lines += outcome.plan.warnings
    for line in lines:
        sink("propagate", line)
    return StepReport("propagate", StepStatus.OK, summarize(outcome), tuple(lines))


def summarize(outcome: PropagateOutcome) -> str:
    """Counts per status and what was written, on one line."""
    plan = outcome.plan
    counts = ", ".join(f"{plan.count(status)} {status.value}" for status in CopyStatus)
    if outcome.dry_run:
        return f"{counts}; dry run, {len(plan.change.added + plan.change.changed + plan.change.removed)} files differ"
    if outcome.commit is None:
        return f"{counts}; nothing to commit"
    return f"{counts}; committed {outcome.commit[:12]} to {outcome.ref}"


def _bump_step(
    target: Target, branch: str, cache_root: Path | None, sink: ItemSink, verify: bool, age_key: Path | None
) -> StepReport:
    try:
        result = run_pass(target, branch, cache_root=cache_root, verify=verify, age_key=age_key)
    except GitopsError as exc:
        return _failed("bump", exc)
    lines = [str(outcome) for outcome in result.outcomes]
    if result.dashboard is not None:
        lines.append(str(result.dashboard))
    for line in lines:
        sink("bump", line)
    failures = [f"lookup failed: {message}" for _, message in sorted(result.lookup_failures.items())]
    failures += [f"branch failed: {outcome}" for outcome in result.outcomes if outcome.failed]
    if result.dashboard is not None and result.dashboard.failed:
        failures.append(str(result.dashboard))
    status = StepStatus.FAILED if failures else StepStatus.OK
    detail = f"{len(result.plan.proposals)} proposals, {len(result.outcomes)} branches, {len(failures)} failed"
    return StepReport("bump", status, detail, tuple(lines), tuple(failures), result.dashboard)
