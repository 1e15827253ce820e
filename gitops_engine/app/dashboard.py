"""Use case: keep the repository's dashboard issue current at the end of a bot pass on a forge.

The issue is found by its label and the marker line in its body (updates.dashboard), created when missing and
edited only when its title or body would change. Two runs racing past "not found" each open one; whoever sees
two keeps the lowest number and closes the other, and a run that has just opened one looks again at once, so a
race is settled in the same pass. Whatever fails here is the outcome, never an exception: the branches and pull
requests of the pass are already done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from gitops_engine.adapters.forge.base import Forge, Issue
from gitops_engine.app.bump import BumpResult
from gitops_engine.core.errors import GitopsError
from gitops_engine.model.charts import ChartIndex
from gitops_engine.updates import dashboard
from gitops_engine.updates.branches import BRANCH_PREFIX, is_bot_branch
from gitops_engine.updates.policy import Policy
from gitops_engine.updates.report import build_report


class DashboardAction(StrEnum):
    """What a pass did to the dashboard issue."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class DashboardOutcome:
    """The dashboard issue after the pass (`number`, `url`), duplicates closed, or why it could not be kept."""

    action: DashboardAction
    number: int | None = None
    url: str = ""
    closed: tuple[int, ...] = ()
    error: str = ""

    @property
    def failed(self) -> bool:
        """True when the dashboard could not be read or written."""
        return self.action is DashboardAction.FAILED

    def __str__(self) -> str:
        if self.failed:
            return f"dashboard: failed: {self.error}"
        closed = f", closed duplicate {', '.join(f'#{n}' for n in self.closed)}" if self.closed else ""
        return f"dashboard: {self.action.value} #{self.number} {self.url}{closed}"


def update_dashboard(
    forge: Forge, result: BumpResult, indexes: Mapping[str, ChartIndex], policy: Policy, now: datetime
) -> DashboardOutcome:
    """Render the pass's dashboard (currency rows from the pass's own scan and indexes) and keep the issue."""
    try:
        facts = _facts(result, indexes, policy, now)
        planned = {p.plan.name for p in facts.pending}
        # open bot PRs this pass did not re-check (their chart repository could not be read) are still pending
        waiting = tuple(
            dashboard.WaitingPull(pr.head, pr.title, pr.number, pr.url)
            for pr in forge.list_open_pull_requests(BRANCH_PREFIX)
            if pr.base == result.base and is_bot_branch(pr.head) and pr.head not in planned
        )
        return _keep(forge, result.base, replace(facts, waiting=waiting).markdown())
    except GitopsError as exc:
        return DashboardOutcome(DashboardAction.FAILED, error=str(exc).splitlines()[0])


def _facts(result: BumpResult, indexes: Mapping[str, ChartIndex], policy: Policy, now: datetime) -> dashboard.Dashboard:
    """What the dashboard of a pass shows."""
    outcomes = {outcome.name: outcome for outcome in result.outcomes}
    impacts: dict[str, str] = {}
    if result.impacts:
        # imported here: a pass that rendered nothing does not load the Helm layer
        from gitops_engine.app.impact import impact_summary

        impacts = {name: impact_summary(impact) for name, impact in result.impacts.items()}
    pending = []
    for plan in result.branches:
        outcome = outcomes.get(plan.name)
        pr = outcome.pull_request if outcome is not None else None
        impact = impacts.get(plan.name, "")
        pending.append(dashboard.PendingBranch(plan, pr.number if pr else None, pr.url if pr else "", impact))
    return dashboard.Dashboard(
        base=result.base,
        now=now,
        pending=tuple(pending),
        held=result.plan.held,
        lookup_failures=result.lookup_failures,
        branch_failures=tuple((o.name, o.error) for o in result.outcomes if o.failed),
        rows=build_report(result.scan, indexes, policy, now, result.lookup_failures),
        minor_window_days=policy.minor_window_days,
        major_window_days=policy.major_window_days,
    )


def _keep(forge: Forge, base: str, body: str) -> DashboardOutcome:
    marker, title = dashboard.marker(base), dashboard.title(base)
    found = forge.find_issues(dashboard.LABEL, marker)
    opened: Issue | None = None
    if not found:
        opened = forge.open_issue(title, body, (dashboard.LABEL,))
        # a run racing ours may have opened one too: look again, and the lowest number wins
        found = forge.find_issues(dashboard.LABEL, marker) or [opened]
    kept, *extra = found
    for duplicate in extra:
        forge.close_issue(duplicate.number, f"gitops-engine keeps one dashboard: #{kept.number}.")
    closed = tuple(duplicate.number for duplicate in extra)
    if (kept.title, kept.body) != (title, body):
        kept = forge.edit_issue(kept.number, title, body)
        action = DashboardAction.UPDATED
    else:
        action = DashboardAction.UNCHANGED
    if opened is not None and opened.number == kept.number:
        action = DashboardAction.CREATED
    return DashboardOutcome(action, kept.number, kept.url, closed)
