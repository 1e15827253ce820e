"""Use case: the currency report of a repository — scan, look up, and rate each chart against the windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gitops_engine.adapters.targets import Target
from gitops_engine.app.bump import Lookup, look_up, read_base, scan_head
from gitops_engine.app.chart_credentials import with_credentials
from gitops_engine.app.publish import open_target
from gitops_engine.updates.branches import BRANCH_PREFIX, plan_branches
from gitops_engine.updates.policy import Policy
from gitops_engine.updates.proposals import propose
from gitops_engine.updates.report import Row, build_report, render_html


@dataclass(frozen=True)
class Report:
    """The rows, the policy whose windows rated them, and when."""

    rows: tuple[Row, ...]
    policy: Policy
    generated: datetime
    lookup_failures: Mapping[str, str] = field(default_factory=dict)

    def html(self) -> str:
        """The self-contained HTML page."""
        return render_html(self.rows, self.policy, self.generated)


def run_report(
    target: Target,
    lookup: Lookup,
    *,
    branch: str = "main",
    policy_file: Path | None = None,
    now: datetime | None = None,
    cache_dir: Path | None = None,
    cache_root: Path | None = None,
    age_key: Path | None = None,
) -> Report:
    """Report on `branch` of any target; `cache_dir` keeps scans by tree id, `cache_root` remotes' stores;
    `age_key` opens the Secrets of private chart sources (before the identities discovered)."""
    with open_target(target, cache_root=cache_root) as session:
        base = read_base(session, branch)
        assert base.repo is not None and base.tree is not None
        scan, policy = scan_head(base.repo, base.tree, policy_file, cache_dir)
        sources, unopened = with_credentials(scan.sources(), base.repo, base.tree, age_key)
        forge = session.forge
        open_pulls = {
            pr.head: pr for pr in (forge.list_open_pull_requests(BRANCH_PREFIX) if forge else ()) if pr.base == branch
        }
    moment = now or datetime.now(UTC)
    indexes = look_up(lookup, sources, policy)
    failures = {**unopened, **getattr(lookup, "failures", {})}
    # what the bot would hold back (policy, compatibility) is part of each row, and the pull request it has open
    plan = propose(scan, indexes, policy, moment)
    pulls = {
        proposal.use: (pr.number, pr.url)
        for planned in plan_branches(plan.proposals, moment)
        if (pr := open_pulls.get(planned.name)) is not None
        for proposal in planned.proposals
    }
    rows = build_report(scan, indexes, policy, moment, failures, plan.held, pulls)
    return Report(rows, policy, moment, failures)
