"""Commands of the reconciler: propagate (catalog GitRepositories) and reconcile (one scheduled pass)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gitops_engine.app.propagate import PropagateOutcome, propagate
from gitops_engine.app.reconcile import reconcile, summarize
from gitops_engine.cli.currency_commands import dashboard_json
from gitops_engine.cli.targets import forge_options, resolve_target, verify_option
from gitops_engine.core.errors import LockedError
from gitops_engine.propagate import CopyStatus

_REPO = click.option(
    "--repo", default="fleet.git", show_default=True, help="Repository: a local path, file://, https:// or ssh:// URL."
)
_BRANCH = click.option("--branch", default="main", show_default=True, help="Branch to read and commit to.")
# a pass is bounded by its lookups' deadlines; one holding the lock for this long is hung, not busy
STUCK_AFTER_SECONDS = 2 * 3600


@click.command("propagate")
@_REPO
@forge_options
@_BRANCH
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and result as JSON.")
@verify_option
def propagate_command(
    repo: str,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str,
    dry_run: bool,
    as_json: bool,
    no_verify: bool,
) -> int:
    """Copy catalog GitRepositories into the workspaces and projects their labels select."""
    target = resolve_target(repo, gitea_token_env, gitea_token_file)
    outcome = propagate(target, branch, dry_run=dry_run, verify=not no_verify)
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
@forge_options
@_BRANCH
@click.option("--json", "as_json", is_flag=True, help="Print each step's status, items and failures as JSON.")
@verify_option
def reconcile_command(
    repo: str, gitea_token_env: str | None, gitea_token_file: Path | None, branch: str, as_json: bool, no_verify: bool
) -> int:
    """Run one scheduled pass: re-seed from the branch's own spec, propagate catalogs, then the currency bot.

    Exits 0 when every step did all it was asked, 1 when a step failed in part or whole (every other step still
    ran), 2 on bad input. Another pass holding the repository's lock makes this one a skip (exit 0), unless that
    pass has held it so long that it must be stuck (exit 1). On a Gitea repository the bot keeps the dashboard
    issue current; a dashboard that could not be kept fails the bump step.
    """
    sink = (lambda step, line: None) if as_json else (lambda step, line: click.echo(f"{step}: {line}"))
    try:
        target = resolve_target(repo, gitea_token_env, gitea_token_file)
        report = reconcile(target, branch, on_item=sink, verify=not no_verify)
    except LockedError as exc:
        stuck = exc.held_for is not None and exc.held_for > STUCK_AFTER_SECONDS
        if as_json:
            click.echo(json.dumps({"skipped": str(exc), "stuck": stuck}, indent=2))
        else:
            click.echo(f"reconcile: {'failed — a pass looks stuck' if stuck else 'skipped'} — {exc}")
        return 1 if stuck else 0
    if as_json:
        steps = [
            {
                "name": step.name,
                "status": step.status.value,
                "detail": step.detail,
                "items": list(step.items),
                "failures": list(step.failures),
            }
            for step in report.steps
        ]
        summary = {"repository": report.repository, "branch": branch, "steps": steps}
        click.echo(json.dumps({**summary, "dashboard": dashboard_json(report.dashboard)}, indent=2))
    else:
        for step in report.steps:
            click.echo(str(step))
            for failure in step.failures:
                click.echo(f"  {failure}")
    return 1 if report.failed else 0


COMMANDS: list[click.Command] = [propagate_command, reconcile_command]
