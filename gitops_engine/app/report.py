"""Use case: the currency report of a repository — scan, look up, and rate each chart against the windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitops_engine.app.bump import Lookup, scan_branch
from gitops_engine.currency.policy import Policy
from gitops_engine.currency.report import Row, build_report, render_html


@dataclass(frozen=True)
class Report:
    """The rows, the policy whose windows rated them, and when."""

    rows: tuple[Row, ...]
    policy: Policy
    generated: datetime

    def html(self) -> str:
        """The self-contained HTML page."""
        return render_html(self.rows, self.policy, self.generated)


def run_report(
    repo_path: Path,
    lookup: Lookup,
    *,
    branch: str = "main",
    policy_file: Path | None = None,
    now: datetime | None = None,
    cache_dir: Path | None = None,
) -> Report:
    """Report on `branch` of the local repository at `repo_path`; `cache_dir` keeps scans by tree id."""
    _repo, _head, scan, policy = scan_branch(repo_path, branch, policy_file, cache_dir)
    moment = now or datetime.now(UTC)
    return Report(build_report(scan, lookup(scan.sources()), policy, moment), policy, moment)
