"""Proposals grouped into branches, one per (app or group, target release line), with commit message and PR body.

A release line is a major (`versions.release_line`): the base technology's for compound versions, `major.minor`
when the policy counts an app's minors as majors.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gitops_engine.updates.kubernetes import is_kubernetes
from gitops_engine.updates.proposals import Proposal
from gitops_engine.updates.uses import Edit

BRANCH_PREFIX = "gitops-engine/"
# the bot's own branches end in their target release line (a major, or `major.minor` for an app whose minors
# count as majors); the engine's other branches (seed, conflicts, propagation) share the prefix but never that ending
_BOT_BRANCH = re.compile(r"^gitops-engine/(?P<key>.+)-\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class BranchPlan:
    """What one bot branch should contain: its proposals, title and the PR/commit text."""

    name: str
    key: str
    line: str
    proposals: tuple[Proposal, ...]
    title: str
    now: datetime
    # the bot branch this one is built on (a Kubernetes step after the one before it), empty for the base branch
    after: str = ""

    @functools.cached_property
    def body(self) -> str:
        """The PR body (and commit message body): a table of the changes and the upstream links.

        Written on first use: a dry run over a big fleet never needs it.
        """
        if self.proposals and is_kubernetes(self.proposals[0].use):
            return _kubernetes_body(self.proposals, self.after)
        return _body(self.proposals, self.now)

    @property
    def message(self) -> str:
        """The commit message: the title, a blank line, the body."""
        return f"{self.title}\n\n{self.body}"

    def edits(self) -> tuple[Edit, ...]:
        """Each distinct edit once (a file shared by clusters may appear under several proposals)."""
        seen: dict[tuple[str, int], Edit] = {}
        for proposal in self.proposals:
            edit = proposal.edit()
            seen.setdefault((edit.site.path, edit.site.scalar.start), edit)
        return tuple(seen.values())


def is_bot_branch(name: str) -> bool:
    """True for a branch the currency bot writes (and may supersede)."""
    return _BOT_BRANCH.match(name) is not None


def branch_key(name: str) -> str | None:
    """The app or group a bot branch is for (None for any other branch)."""
    found = _BOT_BRANCH.match(name)
    return found["key"] if found else None


def branch_name(key: str, line: str) -> str:
    """The deterministic branch name for (app or group, target release line)."""
    return f"{BRANCH_PREFIX}{key}-{line}"


def plan_branches(proposals: Iterable[Proposal], now: datetime) -> tuple[BranchPlan, ...]:
    """Group proposals by (branch key, target release line) and write their title and body."""
    grouped: dict[tuple[str, str], list[Proposal]] = defaultdict(list)
    for proposal in proposals:
        grouped[(proposal.branch_key, proposal.line)].append(proposal)
    plans = []
    for (key, line), items in sorted(grouped.items(), key=lambda item: (item[0][0], _line_key(item[0][1]))):
        items.sort(key=lambda p: (p.use.path, p.use.line, p.use.clusters))
        after = branch_name(key, items[0].after) if items[0].after else ""
        title = _title(key, line, items)
        plans.append(BranchPlan(branch_name(key, line), key, line, tuple(items), title, now, after))
    return tuple(plans)


def _line_key(line: str) -> tuple[int, ...]:
    """Release lines in numeric order (1.9 before 1.10): a stacked branch comes after the one it builds on."""
    return tuple(int(part) for part in line.split(".") if part.isdigit())


def _title(key: str, line: str, items: list[Proposal]) -> str:
    if is_kubernetes(items[0].use):
        return f"Update Kubernetes of {', '.join(items[0].use.clusters)} to {items[0].written}"
    targets = sorted({p.target for p in items})
    if len(targets) == 1:
        return f"Update {key} to {targets[0].text}"
    return f"Update {key} to {line}.x ({', '.join(t.text for t in targets)})"


def release_age_days(proposal: Proposal, now: datetime) -> int | None:
    """Whole days since the target was published, when the index says."""
    created = proposal.release.created
    return None if created is None else max(0, (now - created).days)


def _kubernetes_body(items: tuple[Proposal, ...], after: str) -> str:
    """The PR body of one Kubernetes upgrade step of a managed cluster."""
    step = items[0]
    assert step.use.site is not None
    cluster = ", ".join(step.use.clusters)
    lines = [
        "This branch was written by gitops-engine's currency bot; merge it to roll the upgrade out.",
        "",
        "| Cluster | From → To | Update | File |",
        "|---|---|---|---|",
        f"| {cluster} | `{step.use.site.scalar.value}` → `{step.new_value}` | {step.update.value} | "
        f"`{step.use.path}:{step.use.line}` |",
        "",
        "Cluster API's topology controller upgrades the control plane first, one machine at a time, then each "
        "machine deployment in the order the Cluster lists them.",
    ]
    if after:
        lines += [
            "",
            f"Built on `{after}`: Kubernetes upgrades one minor at a time, so merge that branch first and let its "
            "rollout finish (the Cluster's `TopologyReconciled` condition is true again); Cluster API refuses a "
            "version change while machines still run the previous one. Until then this branch also shows that "
            "step's change.",
        ]
    lines += ["", "Upstream:", f"- {step.source_url}"]
    return "\n".join(lines) + "\n"


def _body(items: tuple[Proposal, ...], now: datetime) -> str:
    lines = [
        "This branch was written by gitops-engine's currency bot; merge it to roll the change out.",
        "",
        "| App | Cluster(s) | From → To | Update | Release age | File |",
        "|---|---|---|---|---|---|",
    ]
    for p in items:
        age = release_age_days(p, now)
        age_text = "unknown" if age is None else f"{age} days"
        clusters = ", ".join(p.use.clusters) or "-"
        change = f"`{p.use.site.scalar.value if p.use.site else p.current.text}` → `{p.new_value}`"
        lines.append(
            f"| {p.use.chart} | {clusters} | {change} | {p.update.value} | {age_text} | `{p.use.path}:{p.use.line}` |"
        )
    lines += ["", "Upstream:"]
    links: list[str] = []
    for p in items:
        for link in (p.release.home, *p.release.sources, *p.release.urls[:1]):
            if link and link not in links:
                links.append(link)
        index_link = f"{p.source_url} (chart {p.use.chart})"
        if index_link not in links:
            links.append(index_link)
    lines += [f"- {link}" for link in links]
    return "\n".join(lines) + "\n"
