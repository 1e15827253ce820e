"""Commands of the reconciler: propagate (catalog GitRepositories) and reconcile (one scheduled pass)."""

from __future__ import annotations

import json

import click

from gitops_engine.adapters.targets import parse_target
from gitops_engine.app.propagate import PropagateOutcome, propagate
from gitops_engine.app.reconcile import reconcile, summarize
from gitops_engine.core.errors import LockedError
from gitops_engine.propagate import CopyStatus

_REPO = click.option(
    "--repo", default="fleet.git", show_default=True, help="Repository: a local path, file://, https:// or ssh:// URL."
)
_BRANCH = click.option("--branch", default="main", show_default=True, help="Branch to read and commit to.")


@click.command("propagate")
@_REPO
@_BRANCH
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
def propagate_command(repo: str, branch: str, dry_run: bool, as_json: bool) -> int:
    """Copy catalog GitRepositories into the workspaces and projects their labels select."""
    outcome = propagate(parse_target(repo, "--repo"), branch, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(_as_json(outcome), indent=2))
        return 0
    for item in outcome.plan.items:
        if item.status is not CopyStatus.UNCHANGED:
            click.echo(str(item))
    for warning in outcome.plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"propagate: {summarize(outcome)}")
    return 0


def _as_json(outcome: PropagateOutcome) -> dict[str, object]:
    change = outcome.plan.change
    return {
        "branch": outcome.branch,
        "dryRun": outcome.dry_run,
        "commit": outcome.commit,
        "ref": outcome.ref,
        "pullRequest": outcome.pull_request.url if outcome.pull_request else None,
        "items": [
            {
                "path": item.path,
                "source": item.source,
                "target": item.target,
                "status": item.status.value,
                "changes": list(item.changes),
                "reason": item.reason,
            }
            for item in outcome.plan.items
        ],
        "files": {"added": list(change.added), "changed": list(change.changed), "removed": list(change.removed)},
        "warnings": list(outcome.plan.warnings),
    }


@click.command("reconcile")
@_REPO
@_BRANCH
def reconcile_command(repo: str, branch: str) -> int:
    """Run one scheduled pass: propagate catalogs, then the currency bot when installed (exit 1 if a step failed)."""
    try:
        report = reconcile(
            parse_target(repo, "--repo"), branch, on_item=lambda step, line: click.echo(f"{step}: {line}")
        )
    except LockedError as exc:
        # a scheduled run finding another one at work is normal, not a failure
        click.echo(f"reconcile: skipped — {exc}")
        return 0
    for step in report.steps:
        click.echo(str(step))
    return 1 if report.failed else 0


COMMANDS: list[click.Command] = [propagate_command, reconcile_command]
