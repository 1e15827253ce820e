"""Commands of the reconciler: propagate (catalog GitRepositories) and reconcile (one scheduled pass)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from gitops_engine.adapters.targets import RemoteTarget, Target
from gitops_engine.app.propagate import PropagateOutcome, propagate
from gitops_engine.app.reconcile import display_name, reconcile, summarize
from gitops_engine.app.repository_list import parse_shard, read_repository_list, shard_of
from gitops_engine.cli.currency_commands import dashboard_json
from gitops_engine.cli.targets import forge_options, resolve_target, verify_option
from gitops_engine.core.errors import InputError, LockedError
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
@click.option(
    "--repositories",
    "repository_list",
    type=click.Path(path_type=Path),
    help="A file of repositories (URLs or paths, one a line, # comments) to reconcile instead of --repo.",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="With --repositories: only shard I of N (0-based), every Nth line from line I; an Indexed Job passes "
    "$(JOB_COMPLETION_INDEX)/N.",
)
@forge_options
@_BRANCH
@click.option(
    "--age-key",
    type=click.Path(path_type=Path),
    help="The fleet's age identity: the re-seed's key (else the spec's recipients, else the key seed wrote; a "
    "missing file is an error) and the identity every step tries first to open encrypted files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each step's status, items and failures as JSON.")
@verify_option
@click.pass_context
def reconcile_command(
    ctx: click.Context,
    repo: str,
    repository_list: Path | None,
    shard: str | None,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str,
    age_key: Path | None,
    as_json: bool,
    no_verify: bool,
) -> int:
    """Run one scheduled pass: re-seed from the branch's own spec, propagate catalogs, then the currency bot.

    Exits 0 when every step did all it was asked, 1 when a step failed in part or whole (every other step still
    ran), 2 on bad input. Another pass holding the repository's lock makes this one a skip (exit 0), unless that
    pass has held it so long that it must be stuck (exit 1). On a Gitea repository the bot keeps the dashboard
    issue current; a dashboard that could not be kept fails the bump step. With --repositories, each repository
    of the list (or of the --shard) gets its own pass, one after the other, and the exit code covers them all.
    """
    if repository_list is None:
        if shard is not None:
            raise InputError("--shard splits a --repositories list; give the list too")
        targets = [resolve_target(repo, gitea_token_env, gitea_token_file)]
    else:
        if ctx.get_parameter_source("repo") not in (ParameterSource.DEFAULT, None):
            raise InputError("--repo and --repositories: give one of them")
        listed = read_repository_list(repository_list)
        if shard is not None:
            listed = shard_of(listed, parse_shard(shard))
        targets = [_with_token(item.target, gitea_token_env, gitea_token_file) for item in listed]
    passes = [
        _one_pass(target, branch, age_key, verify=not no_verify, as_json=as_json, headed=repository_list is not None)
        for target in targets
    ]
    if as_json:
        payload = passes[0][0] if repository_list is None else {"shard": shard, "repositories": [p for p, _ in passes]}
        click.echo(json.dumps(payload, indent=2))
    return 1 if any(failed for _, failed in passes) else 0


def _with_token(target: Target, token_env: str | None, token_file: Path | None) -> Target:
    """A listed remote as a Gitea repository when a token option is given (one Gitea server holds them all)."""
    if isinstance(target, RemoteTarget) and (token_env or token_file):
        return resolve_target(target.url, token_env, token_file)
    return target


def _one_pass(
    target: Target, branch: str, age_key: Path | None, *, verify: bool, as_json: bool, headed: bool
) -> tuple[dict[str, Any], bool]:
    """One repository's pass, printed unless JSON is asked for: (its JSON form, whether it failed)."""
    name = display_name(target)
    if headed and not as_json:
        click.echo(f"== {name}")
    sink = (lambda step, line: None) if as_json else (lambda step, line: click.echo(f"{step}: {line}"))
    try:
        report = reconcile(target, branch, on_item=sink, verify=verify, age_key=age_key)
    except LockedError as exc:
        stuck = exc.held_for is not None and exc.held_for > STUCK_AFTER_SECONDS
        if not as_json:
            click.echo(f"reconcile: {'failed — a pass looks stuck' if stuck else 'skipped'} — {exc}")
        return {"repository": name, "skipped": str(exc), "stuck": stuck}, stuck
    if not as_json:
        for step in report.steps:
            click.echo(str(step))
            for failure in step.failures:
                if failure != step.detail:
                    click.echo(f"  {failure}")
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
    return {**summary, "dashboard": dashboard_json(report.dashboard)}, report.failed


COMMANDS: list[click.Command] = [propagate_command, reconcile_command]
