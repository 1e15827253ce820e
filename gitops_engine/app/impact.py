"""The rendered impact of a change on each HelmRelease: for `diff --render-helm` and for every bump pull request.

`branch_impacts` is the bot's one entry point: per branch, the releases whose rendered objects change, with
counts, risky changes first and a collapsed diff (`impact_section`). Rendering never fails a bump: any problem
(no Helm backend, a chart that cannot be fetched, a build error) becomes the impact's `problem`, which the pull
request shows instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters.helmsdk import INSTALL_HINT
from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.helm import HelmOptions, HelmRendering, backend_version
from gitops_engine.core.errors import GitopsError
from gitops_engine.model.tree import Tree
from gitops_engine.validate.diff import Change
from gitops_engine.validate.discovery import Discovery, discover
from gitops_engine.validate.helmdiff import ReleaseDiff, diff_releases
from gitops_engine.validate.helmreleases import ReleaseJob

log = logging.getLogger(__name__)

# a pull request body has room for this much rendered diff; the rest is cut with a note
MAX_DIFF_CHARS = 40_000
Side = tuple[Mapping[str, bytes], Discovery]


@dataclass(frozen=True)
class BranchImpact:
    """What one branch does to the rendered releases, or why that could not be shown."""

    releases: tuple[ReleaseDiff, ...] = ()
    problem: str = ""


def rendered_release_diff(
    base: Side, head: Side, sources: Mapping[str, str] | None, rendering: HelmRendering
) -> tuple[ReleaseDiff, ...]:
    """The per-release rendered change from `base` to `head` (each a tree and its discovery)."""
    try:
        before_jobs = rendering.jobs(base[1].clusters, base[0], sources)
        after_jobs = rendering.jobs(head[1].clusters, head[0], sources)
        same = _unchanged(before_jobs, after_jobs)
        before = rendering.render([j for j in before_jobs if _key(j) not in same], upgrade=True)
        after = rendering.render([j for j in after_jobs if _key(j) not in same], upgrade=True)
    finally:
        rendering.close()
    return diff_releases(before, after)


def branch_impacts(
    base: Mapping[str, bytes], heads: Mapping[str, Mapping[str, bytes] | str], options: HelmOptions
) -> dict[str, BranchImpact]:
    """Each branch's impact (`heads`: branch → its tree, or why its tree could not be made)."""
    if backend_version() is None:
        return {name: BranchImpact(problem=f"the Helm backend is not installed: {INSTALL_HINT}") for name in heads}
    cache = default_cache_dir()
    impacts: dict[str, BranchImpact] = {}
    rendering = HelmRendering(options)
    try:
        base_side = (base, _discover(base, cache))
        for name, head in heads.items():
            if isinstance(head, str):
                impacts[name] = BranchImpact(problem=head)
                continue
            try:
                diffs = rendered_release_diff(base_side, (head, _discover(head, cache)), None, rendering)
            except Exception as exc:  # the impact is a courtesy: no fault of it may stop a bump
                log.info("rendered impact of %s: %s", name, exc)
                impacts[name] = BranchImpact(problem=_problem(exc))
            else:
                impacts[name] = BranchImpact(diffs)
    except Exception as exc:  # as above, for the base's discovery
        log.info("rendered impact of the base: %s", exc)
        impacts = {name: impacts.get(name, BranchImpact(problem=_problem(exc))) for name in heads}
    finally:
        rendering.close()
    return impacts


def _problem(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:500]
    return text if isinstance(exc, GitopsError) else f"{type(exc).__name__}: {text}"


def _discover(files: Mapping[str, bytes], cache: Path) -> Discovery:
    tree = files if isinstance(files, Tree) else Tree.of(files)
    with kustomize_builder(tree, cache) as builder:
        return discover(tree, builder)


def _key(job: ReleaseJob) -> tuple[str, str]:
    return job.cluster, str(job.release.id)


def _unchanged(before: Sequence[ReleaseJob], after: Sequence[ReleaseJob]) -> set[tuple[str, str]]:
    """Releases with the same chart, values and identity on both sides: they render the same, so neither is."""
    old = {_key(job): job for job in before}
    same: set[tuple[str, str]] = set()
    for job in after:
        other = old.get(_key(job))
        if other is None or not job.ready or not other.ready or job.location is None or other.location is None:
            continue
        same_chart = job.location == other.location and job.location.files == other.location.files
        if same_chart and job.values == other.values and job.spec == other.spec:
            same.add(_key(job))
    return same


def release_summary(diffs: Sequence[ReleaseDiff]) -> str:
    """One line: how many releases render differently, objects added/removed/changed, risky changes."""
    changed = [d for d in diffs if d.changes or d.risks]
    added = sum(d.count(Change.ADDED) for d in diffs)
    removed = sum(d.count(Change.REMOVED) for d in diffs)
    modified = sum(d.count(Change.CHANGED) for d in diffs)
    risky = sum(len(d.risks) for d in diffs)
    unrendered = sum(1 for d in diffs if d.unrendered)
    text = (
        f"{len(changed)} HelmRelease(s) render differently: {added} object(s) added, {removed} removed, "
        f"{modified} changed; {risky} risky change(s)"
    )
    return text + (f"; {unrendered} release(s) could not be rendered" if unrendered else "")


def release_diff_json(diff: ReleaseDiff) -> dict[str, object]:
    """The machine-readable form of one release's rendered change."""
    return {
        "cluster": diff.cluster,
        "helmRelease": diff.release,
        "file": diff.file,
        "line": diff.line,
        "added": diff.count(Change.ADDED),
        "removed": diff.count(Change.REMOVED),
        "changed": diff.count(Change.CHANGED),
        "risks": list(diff.risks),
        "unrendered": diff.unrendered or None,
        "objects": [
            {"object": str(c.object), "change": c.change.value, "template": c.template, "diff": c.diff}
            for c in diff.changes
        ],
    }


def impact_json(impact: BranchImpact) -> dict[str, object]:
    """The machine-readable form of one branch's impact."""
    return {"problem": impact.problem or None, "releases": [release_diff_json(d) for d in impact.releases]}


def impact_section(impact: BranchImpact) -> str:
    """The pull request's "Rendered impact" section (Markdown): table, risks, then each diff collapsed."""
    lines = ["", "### Rendered impact", ""]
    if impact.problem:
        return "\n".join([*lines, f"Rendering was not possible: {impact.problem}", ""])
    if not impact.releases:
        return "\n".join([*lines, "No HelmRelease renders differently.", ""])
    lines += [
        release_summary(impact.releases) + ".",
        "",
        "| Cluster | HelmRelease | Added | Removed | Changed | Risky |",
        "|---|---|---|---|---|---|",
    ]
    for d in impact.releases:
        counts = f"{d.count(Change.ADDED)} | {d.count(Change.REMOVED)} | {d.count(Change.CHANGED)}"
        risky = "not rendered" if d.unrendered else (f"⚠️ {len(d.risks)}" if d.risks else "0")
        lines.append(f"| {d.cluster} | {d.release} | {counts} | {risky} |")
    risks = [(d, risk) for d in impact.releases for risk in d.risks]
    if risks:
        lines += ["", "**Risky changes:**", ""]
        lines += [f"- ⚠️ {d.release} ({d.cluster}): {risk}" for d, risk in risks]
    unrendered = [d for d in impact.releases if d.unrendered]
    if unrendered:
        lines += ["", "**Not rendered:**", ""]
        lines += [f"- {d.release} ({d.cluster}): {d.unrendered}" for d in unrendered]
    budget = MAX_DIFF_CHARS
    for d in impact.releases:
        if not d.changes:
            continue
        text = "".join(c.diff for c in d.changes)
        cut = len(text) > budget
        text = text[: max(0, budget)]
        budget -= len(text)
        note = "\n(diff cut here: run `gitops-engine diff --render-helm` for all of it)" if cut else ""
        lines += [
            "",
            f"<details><summary>Rendered diff of {d.release} ({d.cluster})</summary>",
            "",
            "```diff",
            text.rstrip("\n") + note,
            "```",
            "</details>",
        ]
    return "\n".join([*lines, ""])
