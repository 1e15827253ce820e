"""The rendered impact of a change on each HelmRelease: for `diff --render-helm` and for every bump pull request.

`bump_impacts` is the bot's one entry point: per branch, the releases whose rendered objects change, with
counts, risky changes first and a collapsed diff (`impact_section`). Rendering never fails a bump: a problem (no
Helm backend, no chart to be had, a build error) becomes the impact's `problem`, which the pull request shows
instead. The work is ordered cheapest first, because the bot shows an impact on every pass: without the backend
nothing is read at all; then the chart versions each branch moves to are fetched (failures are remembered for
FAILED_FETCH_TTL), and a branch none of whose charts can be had is told so without building anything; only the
rest pay for discovering the base (kustomize builds) and rendering; a branch that only rewrites version scalars
gets its head from the base's discovery (validate.scalar_edits), any other one is built. A complete impact is
kept by (base tree, the branch's edits): a scheduled rerun with nothing new renders nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from gitops_engine.adapters import runcache
from gitops_engine.adapters.charts import ChartStore, ChartUnavailable
from gitops_engine.adapters.helmrepo import default_cache_dir as default_lookup_cache
from gitops_engine.adapters.helmsdk import installed
from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.helm import HelmOptions, HelmRendering, backend_version
from gitops_engine.core.errors import GitopsError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.shown import one_line
from gitops_engine.helm.sources import ChartLocation
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.tree import Tree
from gitops_engine.validate.diff import Change
from gitops_engine.validate.discovery import Discovery, discover
from gitops_engine.validate.helmdiff import ReleaseDiff, RenderedChange, diff_releases
from gitops_engine.validate.helmreleases import ReleaseJob
from gitops_engine.validate.objects import ObjectId
from gitops_engine.validate.scalar_edits import ScalarEdit, with_scalar_edits

log = logging.getLogger(__name__)

# a pull request body has room for this much rendered diff; the rest is cut with a note
MAX_DIFF_CHARS = 40_000
# how long the bot believes that a chart could not be fetched: an hourly pass asks once, not every pass
FAILED_FETCH_TTL = 3600.0
NOT_INSTALLED = (
    "the Helm backend is not installed (pip install 'gitops-engine[helm]' shows here what the change renders)"
)
Side = tuple[Mapping[str, bytes], Discovery]
Files = Callable[[], Mapping[str, bytes]]


@dataclass(frozen=True)
class BranchImpact:
    """What one branch does to the rendered releases, or why that could not be shown."""

    releases: tuple[ReleaseDiff, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class BranchToRender:
    """One bot branch: the chart versions it moves releases to, the HelmReleases it edits (`HelmRelease/ns/name`),
    and its tree (made only if rendering gets that far; a GitopsError from it becomes the impact's problem)."""

    name: str
    targets: tuple[ChartLocation, ...]
    files: Files
    releases: tuple[str, ...] = ()
    key: str = ""  # names the base tree and the branch's change: a complete impact is kept under it
    edits: tuple[ScalarEdit, ...] = ()  # when the change is only these, its head is rendered without a build


def rendered_release_diff(
    base: Side, head: Side, sources: Mapping[str, str] | None, rendering: HelmRendering
) -> tuple[ReleaseDiff, ...]:
    """The per-release rendered change from `base` to `head` (each a tree and its discovery)."""
    before_jobs = rendering.jobs(base[1].clusters, base[0], sources)
    after_jobs = rendering.jobs(head[1].clusters, head[0], sources)
    same = _unchanged(before_jobs, after_jobs)
    before = rendering.render([j for j in before_jobs if _key(j) not in same], upgrade=True)
    after = rendering.render([j for j in after_jobs if _key(j) not in same], upgrade=True)
    return diff_releases(before, after)


def bump_impacts(
    base: Files,
    branches: Sequence[BranchToRender],
    options: HelmOptions,
    indexes: Mapping[str, ChartIndex] | None = None,
) -> dict[str, BranchImpact]:
    """Each branch's impact on the tree `base` makes; `indexes` are the Helm indexes the pass already read."""
    if not installed():
        return {branch.name: BranchImpact(problem=NOT_INSTALLED) for branch in branches}
    cache_dir = options.render_cache or options.lookups.cache_dir or default_lookup_cache()
    impacts: dict[str, BranchImpact] = {}
    for branch in branches:
        known = runcache.load_output(cache_dir, _kept_key(branch, options)) if branch.key else None
        if known is not None:
            impacts[branch.name] = _decoded(known)
    todo = [branch for branch in branches if branch.name not in impacts]
    store = ChartStore(options.lookups, offline=options.offline, indexes=indexes, retry_failed_after=FAILED_FETCH_TTL)
    archives = store.get_all(target for branch in todo for target in branch.targets)
    ready: list[BranchToRender] = []
    for branch in todo:
        missing = [found for t in branch.targets if isinstance(found := archives[t], ChartUnavailable)]
        if branch.targets and len(missing) == len(branch.targets):
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            impacts[branch.name] = BranchImpact(
                problem=f"no chart it moves to could be fetched: {missing[0].reason}{more}"
            )
        else:
            ready.append(branch)
    if ready:
        rendered = _rendered(base, ready, HelmRendering(options, store=store))
        impacts.update(rendered)
        for branch in ready:
            impact = rendered[branch.name]
            # only what may not change by itself is kept: a problem or an unrendered release may go away
            if branch.key and not impact.problem and not any(d.unrendered for d in impact.releases):
                runcache.store_output(cache_dir, _kept_key(branch, options), _encoded(impact))
    return {branch.name: impacts[branch.name] for branch in branches}


def _kept_key(branch: BranchToRender, options: HelmOptions) -> str:
    return sha256_hex(json.dumps(["bump-impact", branch.key, backend_version(), options.offline]).encode())


def _encoded(impact: BranchImpact) -> bytes:
    releases = [
        {
            **{name: getattr(d, name) for name in ("cluster", "release", "file", "line", "risks", "unrendered")},
            "changes": [[list(astuple(c.object)), c.change.value, c.template, c.diff] for c in d.changes],
        }
        for d in impact.releases
    ]
    return json.dumps(releases).encode()


def _decoded(data: bytes) -> BranchImpact:
    releases = tuple(
        ReleaseDiff(
            item["cluster"],
            item["release"],
            item["file"],
            item["line"],
            tuple(
                RenderedChange(ObjectId(*oid), Change(change), template, diff)
                for oid, change, template, diff in item["changes"]
            ),
            tuple(item["risks"]),
            item["unrendered"],
        )
        for item in json.loads(data)
    )
    return BranchImpact(releases)


def _rendered(base: Files, branches: Sequence[BranchToRender], rendering: HelmRendering) -> dict[str, BranchImpact]:
    cache = default_cache_dir()
    impacts: dict[str, BranchImpact] = {}
    try:
        files = base()
        base_side = (files, _discover(files, cache))
        built = {str(o.id) for c in base_side[1].clusters for o in c.objects if o.id.kind == "HelmRelease"}
        for branch in branches:
            unseen = [release for release in branch.releases if release not in built]
            if unseen and len(unseen) == len(branch.releases):
                # nothing it edits is applied by a Flux Kustomization (or its build fails): "no change" would lie
                impacts[branch.name] = BranchImpact(problem=_not_built(unseen, base_side[1]))
                continue
            try:
                head = branch.files()
                edited = with_scalar_edits(base_side[1], branch.edits)
                head_side = (head, edited if edited is not None else _discover(head, cache))
                diffs = rendered_release_diff(base_side, head_side, None, rendering)
            except GitopsError as exc:
                log.info("rendered impact of %s: %s", branch.name, exc)
                impacts[branch.name] = BranchImpact(problem=_problem(exc))
            else:
                impacts[branch.name] = BranchImpact(diffs)
    except GitopsError as exc:  # the base itself: no branch can be compared with it
        log.info("rendered impact of the base: %s", exc)
        impacts = {b.name: impacts.get(b.name, BranchImpact(problem=_problem(exc))) for b in branches}
    finally:
        rendering.close()
    return impacts


def _not_built(releases: Sequence[str], discovery: Discovery) -> str:
    more = f" (and {len(releases) - 1} more)" if len(releases) > 1 else ""
    text = f"{releases[0]}{more} is not among what this repository's Flux Kustomizations build"
    failed = [f for f in discovery.findings if f.rule == "build-failed"]
    return text + (f"; {one_line(failed[0].message)}" if failed else "")


def _problem(exc: GitopsError) -> str:
    return one_line(str(exc), 500)


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


def impact_summary(impact: BranchImpact) -> str:
    """A few words for the dashboard: how many releases render differently, how many changes are risky."""
    if impact.problem:
        return "not possible (see the pull request)"
    changed = sum(1 for d in impact.releases if d.changes or d.risks)
    risky = sum(len(d.risks) for d in impact.releases)
    unrendered = sum(1 for d in impact.releases if d.unrendered)
    if not changed and not unrendered:
        return "no HelmRelease renders differently"
    parts = [f"{changed} HelmRelease(s) change"]
    if risky:
        parts.append(f"⚠️ {risky} risky")
    if unrendered:
        parts.append(f"{unrendered} not rendered")
    return ", ".join(parts)


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
