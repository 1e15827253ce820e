"""The dashboard issue: one Markdown page per repository and base branch, rewritten by every bot pass.

It shows what a scheduled bot otherwise hides: the updates waiting for review and their pull requests, what the
policy or a cluster's Kubernetes version holds back and why, the chart repositories that could not be read, and
every app's currency window (seed 004). Its first line says when the bot last ran and whether that run failed, so
a bot that stopped, or that cannot reach anything, is visible to anyone who opens the issue.

The page is a function of the run's facts and the date, never of the time of day: a rerun the same day with
nothing new renders the same bytes, and the forge is not written to. The date changes daily, so a dashboard
whose "last run" is not today's tells that the bot has not run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gitops_engine.updates.branches import BranchPlan
from gitops_engine.updates.proposals import Held
from gitops_engine.updates.report import LOOKUP_FAILED, Row, Status

LABEL = "gitops-engine-dashboard"
# each table stops here: a fleet of thousands of clusters keeps a readable page (the report has every row)
MAX_ROWS = 100
_SEVERITY = {Status.OVERDUE: 0, Status.DUE: 1, Status.UNKNOWN: 2, Status.OK: 3}
_NAMED = 3  # clusters, files or changes named in one cell before "+N more"
_MAX_CELL = 300  # characters of free text (a server's error message) in one cell
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|<>&])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MARKER_UNSAFE = re.compile(r"[^A-Za-z0-9._/]")


def title(base: str) -> str:
    """The dashboard issue's title for base branch `base`."""
    return f"gitops-engine dashboard ({base})"


def marker(base: str) -> str:
    """The hidden line that identifies the dashboard of `base` (percent-encoded: no branch name can end it)."""
    safe = _MARKER_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), base)
    return f"<!-- gitops-engine:dashboard base={safe} -->"


@dataclass(frozen=True)
class PendingBranch:
    """A bot branch waiting for review, with its pull request when the forge has one, and one line on what it
    renders differently (app.impact; its pull request shows the rest)."""

    plan: BranchPlan
    pull_number: int | None = None
    pull_url: str = ""
    impact: str = ""


@dataclass(frozen=True)
class WaitingPull:
    """An open bot pull request a pass did not re-check."""

    head: str
    title: str
    number: int
    url: str = ""


@dataclass(frozen=True)
class Dashboard:
    """The facts of one bot pass over `base` at `now`, as the dashboard shows them."""

    base: str
    now: datetime
    pending: tuple[PendingBranch, ...]
    held: tuple[Held, ...]
    lookup_failures: Mapping[str, str]
    branch_failures: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]
    minor_window_days: int
    major_window_days: int
    # open bot pull requests this pass did not re-check (their chart repository could not be read)
    waiting: tuple[WaitingPull, ...] = ()

    @property
    def failures(self) -> int:
        """What failed in the pass: lookups and branches (the same count that makes `bump` exit 1)."""
        return len(self.lookup_failures) + len(self.branch_failures)

    def markdown(self) -> str:
        """The issue body."""
        failures = self.failures
        status = "ok" if not failures else f"{failures} failure{'s' if failures != 1 else ''}"
        day = f"{self.now.astimezone(UTC):%Y-%m-%d}"
        lines = [
            marker(self.base),
            f"**Last run:** {day} (UTC) · **status:** {status} · **base:** {_code(self.base)}",
            "",
            "This issue is rewritten by gitops-engine on every `bump` and `reconcile`; edits made here are lost.",
            "",
            "## Pending updates",
            "",
            *_table(("Branch", "Update", "Changes", "Pull request"), [_pending(p) for p in self.pending]),
            "",
            *_waiting(self.waiting),
            "## Held back by policy or compatibility",
            "",
            *_table(("App", "Chart", "Current", "Held back", "Why", "Where"), _held(self.held)),
            "",
            "## Failed lookups",
            "",
            *_table(
                ("Chart repository", "Reason"),
                [(_text(url), _text(reason)) for url, reason in sorted(self.lookup_failures.items())],
            ),
            "",
        ]
        if self.branch_failures:
            lines += [
                "## Failed branches",
                "",
                *_table(("Branch", "Error"), [(_code(n), _text(e)) for n, e in sorted(self.branch_failures)]),
                "",
            ]
        lines += [
            "## Currency windows",
            "",
            f"A new minor should land within {self.minor_window_days} days of its release, "
            f"a new major within {self.major_window_days}.",
            "",
            *_table(
                ("Window", "App", "Chart", "Current", "Clusters", "Newest minor", "Newest major", "Behind"),
                _windows(self.rows),
            ),
        ]
        return "\n".join(lines) + "\n"


def _waiting(pulls: Sequence[WaitingPull]) -> list[str]:
    if not pulls:
        return []
    rows = [(_code(p.head), _text(p.title), f"[#{p.number}]({p.url})") for p in sorted(pulls, key=lambda p: p.number)]
    return [
        "Not checked this run (a chart repository could not be read; the pull requests stay as they are):",
        "",
        *_table(("Branch", "Update", "Pull request"), rows),
        "",
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["None."]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"… and {len(rows) - MAX_ROWS} more (`gitops-engine report` lists every chart)."]
    return lines


def _pending(branch: PendingBranch) -> tuple[str, str, str, str]:
    changes: list[str] = []
    for p in branch.plan.proposals:
        written = p.use.site.scalar.value if p.use.site is not None else p.current.text
        change = f"{_text(p.use.chart)} {_code(written)} → {_code(p.new_value)} ({p.update.value})"
        if change not in changes:
            changes.append(change)
    pull = f"[#{branch.pull_number}]({branch.pull_url})" if branch.pull_number is not None else "—"
    if branch.impact:
        pull += f"<br>rendered: {_text(branch.impact)}"
    return _code(branch.plan.name), _text(branch.plan.title), _some(changes, "<br>"), pull


def _held(held: Iterable[Held]) -> list[tuple[str, ...]]:
    """One row per (app, chart, current version, held version, reason): a fleet repeats each many times."""
    where: dict[tuple[str, str, str, str, str], list[str]] = {}
    for h in held:
        current = h.use.site.version_text if h.use.site is not None else "-"
        places = where.setdefault((h.use.app, h.use.chart, current, h.version, h.reason), [])
        place = f"{h.use.path}:{h.use.line}"
        if place not in places:
            places.append(place)
    return [
        (_text(app), _text(chart), _code(current), _code(v) if v else "—", _text(why), _some(places, ", ", _code))
        for (app, chart, current, v, why), places in sorted(where.items())
    ]


def _windows(rows: Iterable[Row]) -> list[tuple[str, ...]]:
    """One row per app, chart, written version and standing; clusters merged, the longest wait kept."""
    merged: dict[tuple[int, str, str, str, str, str, str], tuple[list[str], int]] = {}
    for r in rows:
        # a failed lookup's reason is in its own section: here only that the window is unknown because of it
        note = LOOKUP_FAILED if r.note.startswith(LOOKUP_FAILED) else r.note
        standing = r.status.value + (f": {note}" if note else "")
        key = (_SEVERITY[r.status], r.app, r.chart, r.current, r.newest_minor or "", r.newest_major or "", standing)
        clusters, days = merged.get(key, ([], 0))
        clusters += [c for c in r.clusters if c not in clusters]
        merged[key] = (clusters, max(days, r.days_behind))
    return [
        (
            _text(standing),
            _text(app),
            _text(chart),
            _code(current),
            _some(sorted(clusters), ", ") if clusters else "-",
            _code(minor) if minor else "-",
            _code(major) if major else "-",
            f"{days} days" if days else "-",
        )
        for (_, app, chart, current, minor, major, standing), (clusters, days) in sorted(merged.items())
    ]


def _some(items: Sequence[str], joiner: str, show: Callable[[str], str] | None = None) -> str:
    """The first few items and how many more."""
    named = [show(i) if show else i for i in items[:_NAMED]]
    more = f" +{len(items) - _NAMED} more" if len(items) > _NAMED else ""
    return joiner.join(named) + more


def _text(value: str) -> str:
    """Plain text in a table cell: one line of at most _MAX_CELL characters, Markdown and HTML specials escaped
    (server text cannot add links, markup, or a second dashboard marker)."""
    flat = " ".join(value.split())
    flat = flat if len(flat) <= _MAX_CELL else flat[: _MAX_CELL - 1] + "…"
    return _MARKDOWN_SPECIALS.sub(lambda m: _ENTITIES.get(m.group(1), "\\" + m.group(1)), flat)


def _code(value: str) -> str:
    """A code span in a table cell; pipes stay escaped (GFM splits cells first), backticks get a longer fence."""
    flat = " ".join(value.split()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
