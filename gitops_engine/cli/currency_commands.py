"""Commands of the currency bot: bump (propose chart updates as branches) and report (how current each chart is)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops_engine.adapters import fs
from gitops_engine.adapters.helmrepo import LookupOptions, default_cache_dir
from gitops_engine.adapters.targets import GiteaTarget
from gitops_engine.cli.targets import age_key_option, forge_options, resolve_target, verify_option

if TYPE_CHECKING:
    from gitops_engine.app.bump import BumpResult
    from gitops_engine.app.dashboard import DashboardOutcome
    from gitops_engine.updates.report import Row

_BRANCH = click.option("--branch", default="main", show_default=True, help="Base branch to read and propose against.")
_LOOKUP_TIMEOUT = click.option(
    "--lookup-timeout",
    type=click.FloatRange(min=0.1),
    default=LookupOptions().timeout,
    show_default=True,
    help="Seconds to wait for a chart server to connect or to send the next part of its answer.",
)
_LOOKUP_DEADLINE = click.option(
    "--lookup-deadline",
    type=click.FloatRange(min=0.1),
    default=LookupOptions().source_deadline,
    show_default=True,
    help="Most seconds one chart repository or registry may take, retries included; then it counts as failed.",
)
_POLICY = click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path),
    help="Policy file (default: .gitops-engine/currency.yaml).",
)


@click.command("bump")
@click.option(
    "--repo",
    default="fleet.git",
    show_default=True,
    help="Local git repository, or a git remote URL (branches are pushed there).",
)
@forge_options
@_BRANCH
@click.option("--dry-run", is_flag=True, help="Print the proposals and skips; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print proposals, skips and branches as JSON.")
@_POLICY
@verify_option
@_LOOKUP_TIMEOUT
@_LOOKUP_DEADLINE
@age_key_option
@click.option(
    "--no-render-impact",
    is_flag=True,
    help="Leave out the rendered impact on HelmReleases (shown in each pull request and in the JSON of a dry run; "
    "it needs gitops-engine[helm]).",
)
def bump_command(
    repo: str,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str,
    dry_run: bool,
    as_json: bool,
    policy_file: Path | None,
    no_verify: bool,
    lookup_timeout: float,
    lookup_deadline: float,
    age_key: Path | None,
    no_render_impact: bool,
) -> int:
    """Propose chart updates: one branch (and, on Gitea, one pull request) per (app or group, target major).

    On Gitea a pass that is not a dry run also keeps the repository's dashboard issue current. Exits 0 when every
    lookup, branch and the dashboard succeeded, 1 when any failed (the rest still done), 2 on bad input.
    """
    # imported here: the other commands of the CLI need none of the bot
    from gitops_engine.app.bump import AdapterLookup, bump_target, without_cycle_collection

    target = resolve_target(repo, gitea_token_env, gitea_token_file)
    options = LookupOptions(timeout=lookup_timeout, source_deadline=lookup_deadline)
    lookup = AdapterLookup(options)
    impact = None
    # the impact is shown by a dry run's JSON and by pull requests (a Gitea target's), nowhere else
    if not no_render_impact and (as_json if dry_run else isinstance(target, GiteaTarget)):
        from gitops_engine.app.helm import HelmOptions

        impact = HelmOptions(options, offline=False)
    with without_cycle_collection():
        result = bump_target(
            target,
            lookup,
            branch=branch,
            policy_file=policy_file,
            dry_run=dry_run,
            cache_dir=default_cache_dir(),
            verify=not no_verify,
            age_key=age_key,
            impact=impact,
        )
        if as_json:
            # freshly built rows cannot be cyclic: skip the encoder's per-container cycle bookkeeping
            output = json.dumps(bump_json(result), separators=(",", ":"), check_circular=False) + "\n"
        else:
            output = "".join(f"{line}\n" for line in bump_lines(result))
    click.echo(output, nl=False)
    for _, message in sorted(result.lookup_failures.items()):
        click.echo(f"lookup failed: {message}", err=True)
    failed = [o for o in result.outcomes if o.failed]
    for outcome in failed:
        click.echo(f"branch failed: {outcome}", err=True)
    dashboard_failed = result.dashboard is not None and result.dashboard.failed
    if dashboard_failed:
        click.echo(str(result.dashboard), err=True)
    # a pass that could not look something up or write a branch is not a success, however much else it did
    return 1 if result.lookup_failures or failed or dashboard_failed else 0


def bump_lines(result: BumpResult) -> list[str]:
    """The human-readable form of a bump run (lookup failures go to stderr separately)."""
    lines = [
        f"{p.use.path}:{p.use.line}: {p.use.chart} {p.current.text} -> {p.target.text} "
        f"({p.update.value}) from {p.source_url} [{', '.join(p.use.clusters)}]"
        for p in result.plan.proposals
    ]
    lines += [
        f"{s.use.path}:{s.use.line}: {s.use.chart or s.use.holder} skipped: {s.reason}" for s in result.plan.skips
    ]
    lines += [str(outcome) for outcome in result.outcomes]
    if result.dashboard is not None:
        lines.append(str(result.dashboard))
    return lines


def bump_json(result: BumpResult) -> dict[str, object]:
    """The machine-readable form of a bump run."""
    from gitops_engine.updates.branches import branch_name

    return {
        "base": result.base,
        "proposals": [
            {
                "file": p.use.path,
                "line": p.use.line,
                "chart": p.use.chart,
                "clusters": list(p.use.clusters),
                "current": p.use.site.scalar.value if p.use.site else p.current.text,
                "proposed": p.target.text,
                "newValue": p.new_value,
                "updateType": p.update.value,
                "source": p.source_url,
                "branch": branch_name(p.branch_key, p.line),
                # a Kubernetes step is built on the branch of the step before it
                "after": branch_name(p.branch_key, p.after) if p.after else None,
            }
            for p in result.plan.proposals
        ],
        "skips": [
            {"file": s.use.path, "line": s.use.line, "chart": s.use.chart, "holder": s.use.holder, "reason": s.reason}
            for s in result.plan.skips
        ],
        "branches": [
            {
                "name": o.name,
                "action": o.action.value,
                "commit": o.commit,
                "error": o.error or None,
                "impact": _impact_json(result, o.name),
            }
            for o in result.outcomes
        ],
        "lookupFailures": dict(result.lookup_failures),
        "problems": list(result.scan.problems),
        "dashboard": dashboard_json(result.dashboard),
    }


def dashboard_json(outcome: DashboardOutcome | None) -> dict[str, object] | None:
    """The dashboard issue of a pass on a forge (None elsewhere, and on dry runs)."""
    if outcome is None:
        return None
    return {
        "number": outcome.number,
        "url": outcome.url or None,
        "action": outcome.action.value,
        "closed": list(outcome.closed),
        "error": outcome.error or None,
    }


@click.command("report")
@click.option("--repo", default="fleet.git", show_default=True, help="Local git repository or a git remote URL.")
@forge_options
@_BRANCH
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--html", "html_file", type=click.Path(path_type=Path), help="Also write a self-contained HTML page.")
@_POLICY
@_LOOKUP_TIMEOUT
@_LOOKUP_DEADLINE
@age_key_option
def report_command(
    repo: str,
    gitea_token_env: str | None,
    gitea_token_file: Path | None,
    branch: str,
    as_json: bool,
    html_file: Path | None,
    policy_file: Path | None,
    lookup_timeout: float,
    lookup_deadline: float,
    age_key: Path | None,
) -> int:
    """How current each chart is: newest patch/minor/major, days behind, window status.

    Exits 1 when a chart repository could not be read (its rows say so), 0 otherwise.
    """
    # imported here: the scheduled `bump` (the common command of this module) never renders a report
    from gitops_engine.app.bump import AdapterLookup
    from gitops_engine.app.report import run_report

    target = resolve_target(repo, gitea_token_env, gitea_token_file)
    lookup = AdapterLookup(LookupOptions(timeout=lookup_timeout, source_deadline=lookup_deadline))
    report = run_report(
        target, lookup, branch=branch, policy_file=policy_file, cache_dir=default_cache_dir(), age_key=age_key
    )
    if html_file is not None:
        fs.write_atomic(html_file, report.html().encode())
    if as_json:
        rows = [{**r.__dict__, "clusters": list(r.clusters), "status": r.status.value} for r in report.rows]
        click.echo(json.dumps({"rows": rows, "lookupFailures": dict(report.lookup_failures)}, indent=1))
    else:
        _print_report(report.rows)
    for _, message in sorted(report.lookup_failures.items()):
        click.echo(f"lookup failed: {message}", err=True)
    return 1 if report.lookup_failures else 0


def _print_report(rows: Sequence[Row]) -> None:
    header = ("STATUS", "APP", "CLUSTERS", "CURRENT", "PATCH", "MINOR", "MAJOR", "BEHIND", "FILE")
    table = [header] + [
        (
            r.status.value,
            r.app,
            ",".join(r.clusters) or "-",
            r.current,
            r.newest_patch or "-",
            r.newest_minor or "-",
            r.newest_major or "-",
            f"{r.days_behind}d",
            f"{r.file}:{r.line}" + (f" ({r.note})" if r.note else "") + (f" (held back {r.held})" if r.held else ""),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])


COMMANDS: list[click.Command] = [bump_command, report_command]


def _impact_json(result: BumpResult, branch: str) -> dict[str, object] | None:
    if branch not in result.impacts:
        return None
    # imported here: a pass without impacts does not load the Helm layer
    from gitops_engine.app.impact import impact_json

    return impact_json(result.impacts[branch])
