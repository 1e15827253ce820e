"""Commands that check a repository offline: validate and diff.

validate exits 0 when clean (warnings allowed), 1 when any finding is an error, 2 on bad input.
diff exits 0 when the rendered objects are the same, 1 when they differ, 2 on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby

import click

from gitops_engine.app.diff import RenderedDiff, diff_repository
from gitops_engine.app.helm import HelmOptions
from gitops_engine.app.impact import release_diff_json, release_summary
from gitops_engine.app.validate import parse_sources, validate_repository
from gitops_engine.core.shown import shown
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.diff import ScopeCount, count_changes

_repo_option = click.option(
    "--repo",
    default=".",
    show_default=True,
    help="A directory, a bare git repository, or a git URL.",
)
_path_option = click.option(
    "--path", "start", default=None, help="Start at this folder instead of each cluster's sync Kustomization."
)
_source_option = click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=DIR",
    help="Treat Flux source NAME (e.g. an OCIRepository) as this repository's folder DIR.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
_render_helm_option = click.option(
    "--render-helm",
    is_flag=True,
    help="Also render every HelmRelease with Helm (needs gitops-engine[helm]); charts come from the cache, or with "
    "--online from their repositories.",
)


@click.command("validate")
@_repo_option
@click.option("--ref", default=None, help="Revision to check (default: the files on disk, or HEAD of a bare repo).")
@_path_option
@_source_option
@click.option("--kubernetes-version", default=None, help="Kubernetes version for core schemas (default: newest).")
@click.option(
    "--online",
    is_flag=True,
    help="Also check that HelmRelease chart versions exist in their Helm repositories (and fetch charts to render).",
)
@_render_helm_option
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="kustomize builds run at once (default: the number of CPUs).",
)
@_json_option
def validate_command(
    repo: str,
    ref: str | None,
    start: str | None,
    sources: tuple[str, ...],
    kubernetes_version: str | None,
    online: bool,
    render_helm: bool,
    jobs: int | None,
    as_json: bool,
) -> int:
    """Build every Flux Kustomization and check schemas, references, substitutions and secrets.

    With --render-helm, every HelmRelease is rendered as helm-controller would (values from valuesFrom and
    spec.values) and the objects it renders are checked against Kubernetes schemas and the CRDs the charts and
    the repository ship. Releases whose chart cannot be had (offline and not cached) are listed, not errors.
    """
    report, stats = validate_repository(
        repo,
        ref,
        path=start,
        sources=parse_sources(sources),
        kubernetes_version=kubernetes_version,
        online=online,
        workers=jobs,
        render_helm=HelmOptions(offline=not online, workers=jobs) if render_helm else None,
    )
    for line in report.unchecked:
        click.echo(f"note: {line}", err=True)
    if as_json:
        click.echo(json.dumps([_finding_json(f) for f in report.findings], indent=2))
    else:
        _print_findings(report.findings)
        warnings = len(report.findings) - len(report.errors)
        clusters = len(report.discovery.clusters)
        click.echo(
            f"{len(report.errors)} error(s), {warnings} warning(s); {clusters} cluster(s), "
            f"{stats.built} build(s) run, {stats.cached} from cache"
        )
    return 1 if report.errors else 0


@click.command("diff")
@click.argument("base")
@click.argument("head")
@_repo_option
@_path_option
@_source_option
@_render_helm_option
@click.option("--online", is_flag=True, help="With --render-helm: fetch charts missing from the cache.")
@_json_option
def diff_command(
    base: str,
    head: str,
    repo: str,
    start: str | None,
    sources: tuple[str, ...],
    render_helm: bool,
    online: bool,
    as_json: bool,
) -> int:
    """Show the objects a change from BASE to HEAD adds, removes and changes (Secret values masked).

    With --render-helm, also what each HelmRelease renders differently, summary first, risky changes flagged.
    """
    helm = HelmOptions(offline=not online) if render_helm else None
    result = diff_repository(repo, base, head, path=start, sources=parse_sources(sources), render_helm=helm)
    for problem in result.problems:
        click.echo(f"warning: the diff may be partial: {problem}", err=True)
    if as_json:
        payload: dict[str, object] | list[dict[str, object]] = [
            {
                "cluster": c.cluster,
                "kustomization": c.kustomization,
                "object": str(c.object),
                "change": c.change.value,
                "diff": c.diff,
            }
            for c in result.changes
        ]
        if helm is not None:
            payload = {"objects": payload, "helmReleases": [release_diff_json(d) for d in result.releases]}
        click.echo(json.dumps(payload, indent=2))
    else:
        _print_diff(result)
    return 1 if result.changes or any(d.changes or d.risks for d in result.releases) else 0


def _print_diff(result: RenderedDiff) -> None:
    if result.releases:
        click.echo(release_summary(result.releases))
    if not result.changes and not result.releases:
        click.echo("no rendered changes")
    if result.changes:
        _print_summary(count_changes(result.changes))
    for (cluster, ks), changes in groupby(result.changes, key=lambda c: (c.cluster, c.kustomization)):
        click.echo(f"## cluster {cluster} — {ks}")
        for change in changes:
            click.echo(f"{change.change.value}: {change.object}")
            click.echo(change.diff, nl=False)
    for release in result.releases:
        click.echo(f"## cluster {release.cluster} — HelmRelease {release.release} ({release.file}:{release.line})")
        if release.unrendered:
            click.echo(f"not rendered: {release.unrendered}")
        for risk in release.risks:
            click.echo(f"risk: {risk}")
        for rendered in release.changes:
            click.echo(f"{rendered.change.value}: {rendered.object} ({rendered.template})")
            click.echo(rendered.diff, nl=False)


def _print_summary(counts: Sequence[ScopeCount]) -> None:
    """The counts first, one row per cluster and Kustomization, so a long diff starts with its shape."""
    clusters = len({c.cluster for c in counts})
    total = sum(c.added + c.changed + c.removed for c in counts)
    click.echo(f"{total} object(s) differ in {len(counts)} Kustomization(s) on {clusters} cluster(s):")
    table = [("CLUSTER", "KUSTOMIZATION", "ADDED", "CHANGED", "REMOVED")]
    table += [(c.cluster, c.kustomization, str(c.added), str(c.changed), str(c.removed)) for c in counts]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        click.echo("  " + "  ".join(cells).rstrip())
    click.echo("")


def _finding_json(finding: Finding) -> dict[str, object]:
    return {
        "file": finding.file,
        "line": finding.line,
        "rule": finding.rule,
        "severity": finding.severity.value,
        "message": finding.message,
        "hint": finding.hint,
    }


def _print_findings(findings: Sequence[Finding]) -> None:
    # findings quote the repository (names, values, paths), which anyone who can open a pull request writes:
    # escaped, so that no escape sequence or line break of theirs reaches the terminal or the CI log
    for file, group in groupby(findings, key=lambda f: f.file):
        click.echo(shown(file, None))
        for finding in group:
            label = "error" if finding.severity is Severity.ERROR else "warning"
            click.echo(f"  {finding.line}: {label} [{finding.rule}] {shown(finding.message, None)}")
            if finding.hint:
                click.echo(f"      fix: {shown(finding.hint, None)}")


COMMANDS: list[click.Command] = [validate_command, diff_command]
