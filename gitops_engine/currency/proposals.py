"""From scanned chart uses, looked-up indexes and the policy to proposals: what to bump, to which version, why not.

Like Renovate's `separateMajorMinor`, a use can get two proposals: the newest allowed version in its current
major and the newest allowed one overall when that is a higher major (each lands on its own branch). When one
file is applied by clusters whose same-named sources differ, only versions every one of those sources has are
proposed, so no cluster is pointed at a version its own repository lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gitops_engine.currency.policy import Policy, Settings, judge
from gitops_engine.currency.uses import ChartUse, Edit, ScanResult
from gitops_engine.currency.versions import (
    UpdateType,
    Version,
    parse_constraint,
    parse_version,
    rewrite_range,
    update_type,
)
from gitops_engine.model.charts import ChartIndex, ChartRelease


@dataclass(frozen=True)
class Proposal:
    """Move one use from `current` to `target`; `new_value` is the scalar as it will be written.

    `written` is the version part of `new_value`: the target, or the rewritten range.
    """

    use: ChartUse
    current: Version
    target: Version
    new_value: str
    update: UpdateType
    release: ChartRelease
    branch_key: str
    source_url: str
    written: str

    def edit(self) -> Edit:
        """The byte-level edit this proposal makes."""
        assert self.use.site is not None  # only pinned uses get proposals
        folder = self.use.catalog if not self.use.is_range else None
        return Edit(self.use.site, self.new_value, folder, self.target.text if folder else None)


@dataclass(frozen=True)
class Skip:
    """A use that gets no proposal, and why (unknown source, policy, schedule, …)."""

    use: ChartUse
    reason: str


@dataclass(frozen=True)
class Plan:
    """Proposals and skips of one run; `deferred` are branch keys held back by a schedule (kept, not closed)."""

    proposals: tuple[Proposal, ...]
    skips: tuple[Skip, ...]
    deferred: frozenset[str] = frozenset()


def releases_by_version(index: ChartIndex, chart: str) -> list[tuple[Version, ChartRelease]]:
    """The chart's releases that carry a valid version, oldest to newest."""
    parsed = [(v, r) for r in index.releases(chart) if (v := parse_version(r.version)) is not None]
    return sorted(parsed, key=lambda pair: pair[0])


def propose(scan: ScanResult, indexes: Mapping[str, ChartIndex], policy: Policy, now: datetime) -> Plan:
    """Decide every use of `scan` against the looked-up `indexes` under `policy` at time `now`."""
    proposals: list[Proposal] = []
    skips: list[Skip] = []
    deferred: set[str] = set()
    shared = _shared_versions(scan.uses, indexes)
    cache: dict[tuple[str, str], list[tuple[Version, ChartRelease]]] = {}
    decisions: dict[tuple[object, ...], list[Proposal] | Skip | None] = {}
    settings_of: dict[str, Settings] = {}
    for use in scan.uses:
        if use.skip or use.site is None or use.source is None:
            skips.append(Skip(use, use.skip or "no version to bump"))
            continue
        index = indexes.get(use.source.url)
        if index is None:
            skips.append(Skip(use, f"no index for {use.source.url} (lookup failed or was not asked)"))
            continue
        key = (use.source.url, use.chart)
        if key not in cache:
            cache[key] = releases_by_version(index, use.chart)
        available = cache[key]
        if not available:
            skips.append(Skip(use, f"chart {use.chart} not found in {use.source.url}"))
            continue
        allowed_texts = shared.get((use.site.path, use.site.scalar.start))
        if allowed_texts is not None:
            available = [(v, r) for v, r in available if r.version in allowed_texts]
        settings = settings_of.get(use.app) or settings_of.setdefault(use.app, policy.for_app(use.app))
        branch_key = settings.group or use.app
        # uses that share source, chart, written version and app decide alike: decide once, apply to each
        memo_key = (use.source.url, use.chart, use.site.version_text, use.is_range, use.app, allowed_texts)
        if memo_key not in decisions:
            decisions[memo_key] = _decide(use, available, settings, now, branch_key)
        decided = _rebind(decisions[memo_key], use)
        if isinstance(decided, Skip):
            skips.append(decided)
        elif decided is None:
            continue
        elif not settings.in_schedule(now):
            deferred.update(f"{branch_key}-{p.target.major}" for p in decided)
            skips.append(Skip(use, "outside the policy's schedule windows; existing branches are kept"))
        else:
            proposals.extend(decided)
    return Plan(tuple(proposals), tuple(skips), frozenset(deferred))


def _rebind(decided: list[Proposal] | Skip | None, use: ChartUse) -> list[Proposal] | Skip | None:
    """A memoised decision applied to another use with the same inputs (its own site and clusters)."""
    if decided is None:
        return None
    if isinstance(decided, Skip):
        return decided if decided.use is use else Skip(use, decided.reason)
    return [
        p if p.use is use else _proposal(use, p.current, p.target, p.release, p.written, p.branch_key) for p in decided
    ]


def _decide(
    use: ChartUse,
    available: list[tuple[Version, ChartRelease]],
    settings: Settings,
    now: datetime,
    branch_key: str,
) -> list[Proposal] | Skip | None:
    assert use.site is not None and use.source is not None
    if not settings.enabled:
        return Skip(use, "disabled by policy")
    text = use.site.version_text
    constraint = parse_constraint(text) if use.is_range else None
    if constraint is not None:
        matching = [v for v, _ in available if constraint.matches(v)]
        if not matching:
            return Skip(use, f"no published version satisfies {text}")
        current = matching[-1]
    else:
        parsed = parse_version(text)
        assert parsed is not None  # the scan only pins parseable versions
        current = parsed
    candidates: list[tuple[Version, ChartRelease]] = []
    held: tuple[Version, str] | None = None
    for version, release in available:
        verdict = judge(current, version, release.created, settings, now)
        if verdict.allowed:
            candidates.append((version, release))
        elif version > current and not (version.is_prerelease and not current.is_prerelease):
            held = (version, verdict.reason)
    if not candidates:
        return Skip(use, f"newest {held[0].text} not proposed: {held[1]}") if held else None
    if constraint is not None:
        target, release = candidates[-1]
        if constraint.matches(target):
            return None  # Flux already resolves the range to it
        new_text = rewrite_range(constraint, target, settings.range_strategy)
        if new_text is None:
            return Skip(use, f"range {text} cannot be rewritten to admit {target.text}; edit it by hand")
        return [_proposal(use, current, target, release, new_text, branch_key)]
    picks = [pair for pair in candidates if pair[0].major == current.major][-1:]
    if candidates[-1][0].major != current.major:
        picks.append(candidates[-1])
    return [_proposal(use, current, target, release, target.text, branch_key) for target, release in picks]


def _proposal(
    use: ChartUse, current: Version, target: Version, release: ChartRelease, version_text: str, branch_key: str
) -> Proposal:
    assert use.site is not None and use.source is not None
    return Proposal(
        use=use,
        current=current,
        target=target,
        new_value=use.site.value_with(version_text),
        update=update_type(current, target),
        release=release,
        branch_key=branch_key,
        source_url=use.source.url,
        written=version_text,
    )


def _shared_versions(
    uses: Iterable[ChartUse], indexes: Mapping[str, ChartIndex]
) -> dict[tuple[str, int], frozenset[str]]:
    """For files applied with different sources in different clusters: the versions all those sources offer."""
    first: dict[tuple[str, int], tuple[str, str]] = {}
    sources: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for use in uses:
        if use.site is not None and use.source is not None and not use.skip:
            site, pair = (use.site.path, use.site.scalar.start), (use.source.url, use.chart)
            # nearly every site has one source: only a second, different one starts a set
            seen = first.setdefault(site, pair)
            if seen != pair:
                sources.setdefault(site, {seen}).add(pair)
    shared: dict[tuple[str, int], frozenset[str]] = {}
    for site, pairs in sources.items():
        sets = [{r.version for r in indexes[url].releases(chart)} if url in indexes else set() for url, chart in pairs]
        shared[site] = frozenset(set.intersection(*sets))
    return shared
