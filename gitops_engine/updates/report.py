"""The currency report: per pinned chart, how far behind it is and whether seed 004's windows are kept.

A new minor should be adopted within `minor_window_days` (30) of its release and a new major within
`major_window_days` (60); the policy may set other windows per app or group. Status: ok (nothing newer in minor
or major), due (newer exists, still inside its window), overdue (a window has passed). Whether a newer version is
a patch, minor or major is `versions.update_type`'s step, so a compound version is rated by its base technology
and an app whose minors count as majors has its minors rated as majors. Days behind count from the first release
newer than the current one. A row also names the newer version the bot holds back (policy or compatibility) and
why, as the plan of the same run decided.

A managed cluster's Kubernetes version is a row too (app and chart `kubernetes`): its note says how many minors it
is behind the newest one and whether Kubernetes still supports it (the newest three minors get patches); a cluster
out of support is overdue whatever the windows say.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.kubernetes import SUPPORTED_MINORS, is_kubernetes, support_window
from gitops_engine.updates.policy import Policy, Settings
from gitops_engine.updates.proposals import Held, releases_by_version
from gitops_engine.updates.uses import ChartUse, ScanResult
from gitops_engine.updates.versions import UpdateType, Version, parse_constraint, parse_version, update_type

# how a row whose chart repository could not be read starts its note (the dashboard lists the reason apart)
LOOKUP_FAILED = "lookup failed"


class Status(StrEnum):
    """Where a chart stands against the currency windows."""

    OK = "ok"
    DUE = "due"
    OVERDUE = "overdue"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Row:
    """One chart use in the report."""

    app: str
    chart: str
    clusters: tuple[str, ...]
    file: str
    line: int
    current: str
    newest_patch: str | None
    newest_minor: str | None
    newest_major: str | None
    days_behind: int
    status: Status
    note: str = ""
    held: str = ""  # the newer version held back and why, e.g. "2.0.0: major updates are not allowed"
    # the open bot pull request that proposes this row's update (it shows what the update renders)
    pull_number: int | None = None
    pull_url: str = ""
    minors_behind: int | None = None  # a cluster's Kubernetes: minors behind the newest published one


def build_report(
    scan: ScanResult,
    indexes: Mapping[str, ChartIndex],
    policy: Policy,
    now: datetime,
    failures: Mapping[str, str] | None = None,
    held: Iterable[Held] = (),
    pulls: Mapping[ChartUse, tuple[int, str]] | None = None,
) -> tuple[Row, ...]:
    """A row per pinned chart use (skipped ones carry their reason as the note, and uses whose chart repository
    could not be read say so: their currency is unknown, not ok); `held` is the run's `Plan.held`, `pulls` the
    open bot pull request (number, URL) proposing each use's update."""
    failures = failures or {}
    held_of: dict[ChartUse, list[str]] = defaultdict(list)
    for h in held:
        text = f"{h.version}: {h.reason}" if h.version else h.reason
        if text not in held_of[h.use]:
            held_of[h.use].append(text)
    settings: dict[str, Settings] = {}
    rows: list[Row] = []
    for use in scan.uses:
        base = (use.app, use.chart, use.clusters, use.path, use.line)
        # an attached cluster's Kubernetes is never bumped from here, but how current it is still shows
        rated = is_kubernetes(use) and use.site is not None and use.source is not None
        if use.site is None or use.source is None or (use.skip and not rated):
            rows.append(Row(*base, "-", None, None, None, 0, Status.UNKNOWN, use.skip or "no version"))
            continue
        index = indexes.get(use.source.url)
        available = releases_by_version(index, use.chart) if index is not None else []
        current = _current(use.site.version_text, use.is_range, available) if available else None
        if current is None:
            failure = failures.get(use.source.url)
            note = f"{LOOKUP_FAILED}: {failure}" if failure is not None else "no index data"
            rows.append(Row(*base, use.site.version_text, None, None, None, 0, Status.UNKNOWN, note))
            continue
        app = settings.get(use.app) or settings.setdefault(use.app, policy.for_app(use.app))
        row = (
            _kubernetes_row(base, use.site.version_text, current, available, app, now, use.skip)
            if rated
            else _row(base, use.site.version_text, current, available, app, now)
        )
        if use in held_of:
            row = replace(row, held="; ".join(held_of[use]))
        if pulls and use in pulls:
            row = replace(row, pull_number=pulls[use][0], pull_url=pulls[use][1])
        rows.append(row)
    return tuple(sorted(rows, key=lambda r: (r.app, r.file, r.line)))


def _current(text: str, is_range: bool, available: list[tuple[Version, ChartRelease]]) -> Version | None:
    if not is_range:
        return parse_version(text)
    constraint = parse_constraint(text)
    matching = [v for v, _ in available if constraint.matches(v)]
    return matching[-1] if matching else None


def _row(
    base: tuple[str, str, tuple[str, ...], str, int],
    written: str,
    current: Version,
    available: list[tuple[Version, ChartRelease]],
    settings: Settings,
    now: datetime,
) -> Row:
    newer = [(v, r) for v, r in available if v > current and (current.is_prerelease or not v.is_prerelease)]
    steps = [(update_type(current, v, settings.minor_is_major), v, r) for v, r in newer]
    patch = [v for step, v, _ in steps if step is UpdateType.PATCH]
    minor = [(v, r) for step, v, r in steps if step is UpdateType.MINOR]
    major = [(v, r) for step, v, r in steps if step is UpdateType.MAJOR]
    oldest = min((r.created for _, r in newer if r.created is not None), default=None)
    days = (now - oldest).days if oldest is not None else 0
    status = Status.OK
    for group, window in ((minor, settings.minor_window_days), (major, settings.major_window_days)):
        if not group:
            continue
        first = min((r.created for _, r in group if r.created is not None), default=None)
        if first is not None and (now - first).days > window:
            status = Status.OVERDUE
        elif status is Status.OK:
            status = Status.DUE
    return Row(
        *base,
        written,
        patch[-1].text if patch else None,
        minor[-1][0].text if minor else None,
        major[-1][0].text if major else None,
        max(0, days),
        status,
    )


def _kubernetes_row(
    base: tuple[str, str, tuple[str, ...], str, int],
    written: str,
    current: Version,
    available: list[tuple[Version, ChartRelease]],
    settings: Settings,
    now: datetime,
    skip: str,
) -> Row:
    """A cluster's Kubernetes: a chart row whose note is its place in Kubernetes' support window (and, for an
    attached cluster, why the bot does not upgrade it)."""
    row = _row(base, written, current, available, settings, now)
    newest = max((v for v, _ in available if not v.is_prerelease), default=None)
    behind, support = support_window(current, newest)
    status = Status.OVERDUE if behind is not None and behind >= SUPPORTED_MINORS else row.status
    note = "; ".join(part for part in (support, skip) if part)
    return replace(row, status=status, note=note, minors_behind=behind)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;font-size:.9rem}
th{background:#f6f8fa}.ok{background:#dafbe1}.due{background:#fff8c5}.overdue{background:#ffebe9}
.unknown{background:#eaeef2}.summary span{margin-right:1.2rem;font-weight:600}
"""


def render_html(rows: tuple[Row, ...], policy: Policy, now: datetime) -> str:
    """One self-contained HTML page (inline CSS, no scripts, no external resources)."""
    counts = {status: sum(1 for r in rows if r.status is status) for status in Status}
    summary = "".join(f'<span class="{s.value}">{s.value}: {n}</span>' for s, n in counts.items())
    body_rows = []
    for r in rows:
        cells = (
            r.app,
            r.chart,
            ", ".join(r.clusters) or "-",
            f"{r.file}:{r.line}",
            r.current,
            r.newest_patch or "-",
            r.newest_minor or "-",
            r.newest_major or "-",
            str(r.days_behind),
            r.status.value,
            r.note,
            r.held,
        )
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        body_rows.append(f'<tr class="{r.status.value}">{tds}<td>{_pull_link(r)}</td></tr>')
    headers = (
        *("App", "Chart", "Clusters", "File", "Current"),
        *("Newest patch", "Newest minor", "Newest major", "Days behind", "Status", "Note", "Held back"),
        "Pull request (rendered impact)",
    )
    head = "".join(f"<th>{h}</th>" for h in headers)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Chart currency report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Chart currency report — {now:%Y-%m-%d}</h1>"
        f"<p>Windows: a new minor within {policy.minor_window_days} days, "
        f"a new major within {policy.major_window_days} days.</p>"
        f'<p class="summary">{summary}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body_rows)}</tbody></table>"
        "</body></html>\n"
    )


def _pull_link(row: Row) -> str:
    if row.pull_number is None:
        return "-"
    if not row.pull_url.startswith(("https://", "http://")):
        return f"#{row.pull_number}"
    return f'<a href="{html.escape(row.pull_url, quote=True)}">#{row.pull_number}</a>'
