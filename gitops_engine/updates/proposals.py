"""From scanned chart uses, looked-up indexes and the policy to proposals: what to bump, to which version, why not.

Like Renovate's `separateMajorMinor`, a use can get two proposals: the newest allowed version in its current
major and the newest allowed one overall when that is a higher major (each lands on its own branch). The major
is the release line of `versions.release_line`: the base technology's for a compound version, `major.minor`
for an app whose policy counts minors as majors. When one
file is applied by clusters whose same-named sources differ, only versions every one of those sources has are
proposed, so no cluster is pointed at a version its own repository lacks. Likewise no version is proposed whose
chart `kubeVersion` (a Helm constraint in the index) excludes the Kubernetes version of a cluster the use runs
in: the newest such version is held back with the clusters named, and an older one that fits may be proposed.
A managed cluster's Kubernetes version is decided by its own rules (updates.kubernetes): one proposal per upgrade
step, each step on its own branch built on the one before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.kubernetes import (
    BRANCH_PREFIX as KUBERNETES_BRANCH,
)
from gitops_engine.updates.kubernetes import (
    ClusterFacts,
    deployed_charts,
    is_kubernetes,
    plan_steps,
)
from gitops_engine.updates.policy import Policy, Settings, Verdict, judge
from gitops_engine.updates.releases import KUBERNETES
from gitops_engine.updates.uses import ChartUse, Edit, ScanResult
from gitops_engine.updates.versions import (
    Constraint,
    UpdateType,
    Version,
    parse_constraint,
    parse_version,
    release_line,
    rewrite_range,
    update_type,
)


@dataclass(frozen=True)
class Proposal:
    """Move one use from `current` to `target`; `new_value` is the scalar as it will be written.

    `written` is the version part of `new_value`: the target, or the rewritten range; `line` the target's release
    line (its major, see versions.release_line), which names the branch.
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
    line: str
    after: str = ""  # the release line of the proposal this one builds on (a Kubernetes step after another)

    def edit(self) -> Edit:
        """The byte-level edit this proposal makes."""
        assert self.use.site is not None  # only pinned uses get proposals
        if is_kubernetes(self.use):
            return Edit(self.use.site, self.new_value, kubernetes=self.use.clusters[0])
        folder = self.use.catalog if not self.use.is_range else None
        return Edit(self.use.site, self.new_value, folder, self.target.text if folder else None)


@dataclass(frozen=True)
class Skip:
    """A use that gets no proposal, and why (unknown source, policy, schedule, …)."""

    use: ChartUse
    reason: str


@dataclass(frozen=True)
class Held:
    """A newer version the policy keeps from a use, and why; `version` is empty when no version was looked at
    (the app is disabled). Recorded also when an older allowed version is proposed instead."""

    use: ChartUse
    version: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Proposals and skips of one run; `deferred` are branch keys held back by a schedule (kept, not closed);
    `held` what the policy holds back, for the dashboard; `unread` the apps or groups (branch keys without their
    major) with a use whose chart repository could not be read: their branches are kept, since nothing is known
    about what they should hold now."""

    proposals: tuple[Proposal, ...]
    skips: tuple[Skip, ...]
    deferred: frozenset[str] = frozenset()
    held: tuple[Held, ...] = ()
    unread: frozenset[str] = frozenset()


def releases_by_version(index: ChartIndex, chart: str) -> list[tuple[Version, ChartRelease]]:
    """The chart's releases that carry a valid version, oldest to newest."""
    parsed = [(v, r) for r in index.releases(chart) if (v := parse_version(r.version)) is not None]
    return sorted(parsed, key=lambda pair: pair[0])


_Move = tuple[Version, Version, ChartRelease, str, UpdateType, str]


class _Decision(NamedTuple):
    """What every use with the same inputs gets: the moves to propose (none when current) or why none (`skip`),
    and the newest version the policy or compatibility holds back with its reason, if any; `blocked` are the
    Kubernetes versions that kept it back (the clusters running them are named per use)."""

    moves: tuple[_Move, ...] = ()
    skip: str = ""
    held: tuple[str, str] | None = None
    blocked: tuple[str, ...] = ()


def propose(scan: ScanResult, indexes: Mapping[str, ChartIndex], policy: Policy, now: datetime) -> Plan:
    """Decide every use of `scan` against the looked-up `indexes` under `policy` at time `now`."""
    proposals: list[Proposal] = []
    skips: list[Skip] = []
    deferred: set[str] = set()
    held: list[Held] = []
    unread: set[str] = set()
    shared = _shared_versions(scan.uses, indexes)
    cache: dict[tuple[str, str], list[tuple[Version, ChartRelease]]] = {}
    # a fleet repeats a few (source, chart, version, settings) combinations thousands of times: decide each once
    decisions: dict[tuple[object, ...], _Decision] = {}
    per_app: dict[str, _AppSettings] = {}
    # equal settings share one number, so memo keys hash an int rather than the whole Settings value per use
    numbers: dict[Settings, int] = {}
    kubernetes = dict(scan.kubernetes)
    charts, clusters = _partition(scan.uses)
    for use in charts:
        site, source = use.site, use.source
        if use.skip or site is None or source is None:
            skips.append(Skip(use, use.skip or "no version to bump"))
            continue
        app = per_app.get(use.app)
        if app is None:
            settings = policy.for_app(use.app)
            number = numbers.setdefault(settings, len(numbers))
            app = per_app[use.app] = _AppSettings(
                settings, number, settings.group or use.app, settings.in_schedule(now)
            )
        url = source.url
        index = indexes.get(url)
        if index is None:
            skips.append(Skip(use, f"no index for {url} (lookup failed or was not asked)"))
            unread.add(app.branch_key)
            continue
        key = (url, use.chart)
        available = cache.get(key)
        if available is None:
            available = cache[key] = releases_by_version(index, use.chart)
        if not available:
            skips.append(Skip(use, f"chart {use.chart} not found in {url}"))
            continue
        allowed_texts = shared.get((site.path, site.scalar.start)) if shared else None
        if allowed_texts is not None:
            available = [(v, r) for v, r in available if r.version in allowed_texts]
        # the decision depends on the Kubernetes versions the use runs on, not on which clusters run them
        kube = tuple(sorted({kubernetes[c] for c in use.clusters if c in kubernetes})) if kubernetes else ()
        memo_key = (url, use.chart, site.version_text, use.is_range, app.number, allowed_texts, kube)
        decided = decisions.get(memo_key)
        if decided is None:
            decided = decisions[memo_key] = _decide(use, available, app.settings, now, kube)
        where = _clusters_running(decided.blocked, use, kubernetes)
        if decided.held is not None:
            held.append(Held(use, decided.held[0], decided.held[1] + where))
        if decided.skip:
            skips.append(Skip(use, decided.skip + where))
            continue
        if not decided.moves:
            continue
        branch_key = app.branch_key
        if not app.in_schedule:
            deferred.update(f"{branch_key}-{line}" for *_, line in decided.moves)
            skips.append(Skip(use, _OUTSIDE_SCHEDULE))
            held.append(Held(use, max(move[1] for move in decided.moves).text, _OUTSIDE_SCHEDULE))
            continue
        for current, target, release, written, update, line in decided.moves:
            value = site.value_with(written)
            proposals.append(Proposal(use, current, target, value, update, release, branch_key, url, written, line))
    upgrades = _kubernetes_upgrades(clusters, scan, indexes, policy, now)
    return Plan(
        (*proposals, *upgrades.proposals),
        (*skips, *upgrades.skips),
        frozenset(deferred | upgrades.deferred),
        (*held, *upgrades.held),
        frozenset(unread | upgrades.unread),
    )


def _partition(uses: Iterable[ChartUse]) -> tuple[list[ChartUse], list[ChartUse]]:
    """The uses of charts, and those of managed clusters' Kubernetes versions."""
    charts: list[ChartUse] = []
    clusters: list[ChartUse] = []
    for use in uses:
        (clusters if is_kubernetes(use) else charts).append(use)
    return charts, clusters


def _kubernetes_upgrades(
    uses: Iterable[ChartUse], scan: ScanResult, indexes: Mapping[str, ChartIndex], policy: Policy, now: datetime
) -> Plan:
    """The upgrade steps of every managed cluster (updates.kubernetes), one proposal per step; the branch of a
    cluster is `kubernetes-<cluster>-<minor>`, each step's built on the one before."""
    settings = policy.for_app(KUBERNETES)
    versions = dict(scan.kubernetes)
    management = parse_version(versions.get(scan.management, ""))
    proposals: list[Proposal] = []
    skips: list[Skip] = []
    held: list[Held] = []
    deferred: set[str] = set()
    unread: set[str] = set()
    for use in uses:
        assert use.source is not None and use.site is not None
        cluster = use.clusters[0]
        key = f"{KUBERNETES_BRANCH}{cluster}"
        if use.skip:
            skips.append(Skip(use, use.skip))
            continue
        if not settings.enabled:
            skips.append(Skip(use, "disabled by policy"))
            held.append(Held(use, "", "disabled by policy"))
            continue
        index = indexes.get(use.source.url)
        if index is None:
            skips.append(Skip(use, f"no index for {use.source.url} (lookup failed or was not asked)"))
            unread.add(key)
            continue
        facts = ClusterFacts(management, scan.management, tuple(deployed_charts(cluster, scan.uses, indexes)))
        steps = plan_steps(use, releases_by_version(index, KUBERNETES), settings, facts, now)
        if steps.held:
            held.append(Held(use, steps.held, steps.reason))
        if steps.skip:
            skips.append(Skip(use, steps.skip))
            continue
        if steps.steps and not settings.in_schedule(now):
            deferred.update(f"{key}-{step.line}" for step in steps.steps)
            skips.append(Skip(use, _OUTSIDE_SCHEDULE))
            held.append(Held(use, steps.steps[-1].target.text, _OUTSIDE_SCHEDULE))
            continue
        for step in steps.steps:
            value = use.site.value_with(step.written)
            proposals.append(
                Proposal(
                    use,
                    step.current,
                    step.target,
                    value,
                    step.update,
                    step.release,
                    key,
                    use.source.url,
                    step.written,
                    step.line,
                    step.after,
                )
            )
    return Plan(tuple(proposals), tuple(skips), frozenset(deferred), tuple(held), frozenset(unread))


_OUTSIDE_SCHEDULE = "outside the policy's schedule windows; existing branches are kept"


def _clusters_running(versions: tuple[str, ...], use: ChartUse, kubernetes: Mapping[str, str]) -> str:
    """` (cluster a, b)`: the use's clusters that run one of `versions`; empty when none is named."""
    if not versions:
        return ""
    names = [cluster for cluster in use.clusters if kubernetes.get(cluster) in versions]
    return f" (cluster{'s' if len(names) > 1 else ''} {', '.join(names)})"


class _AppSettings(NamedTuple):
    settings: Settings
    number: int
    branch_key: str
    in_schedule: bool


def _decide(
    use: ChartUse,
    available: list[tuple[Version, ChartRelease]],
    settings: Settings,
    now: datetime,
    kube: tuple[str, ...] = (),
) -> _Decision:
    """What every use like `use` (same source, chart, written version, settings and Kubernetes versions `kube`)
    gets; it names no use."""
    assert use.site is not None
    if not settings.enabled:
        return _Decision(skip="disabled by policy", held=("", "disabled by policy"))
    text = use.site.version_text
    constraint = parse_constraint(text) if use.is_range else None
    if constraint is not None:
        matching = [v for v, _ in available if constraint.matches(v)]
        if not matching:
            return _Decision(skip=f"no published version satisfies {text}")
        current = matching[-1]
    else:
        parsed = parse_version(text)
        assert parsed is not None  # the scan only pins parseable versions
        current = parsed
    candidates: list[tuple[Version, ChartRelease]] = []
    held: tuple[Version, str, tuple[str, ...]] | None = None
    for version, release in available:
        verdict = judge(current, version, release.created, settings, now)
        blocked: tuple[str, ...] = ()
        if verdict.allowed and kube and release.kube_version:
            verdict, blocked = _runs_on(release.kube_version, kube)
        if verdict.allowed:
            candidates.append((version, release))
        elif version > current and not (version.is_prerelease and not current.is_prerelease):
            held = (version, verdict.reason, blocked)
    if not candidates:
        if held is None:
            return _Decision()
        version, reason, blocked = held
        skip = f"newest {version.text} not proposed: {reason}"
        return _Decision(skip=skip, held=(version.text, reason), blocked=blocked)
    # a newer version than every allowed one: proposed are the allowed ones, the newest is held back
    beyond = held if held is not None and held[0] > candidates[-1][0] else None
    kept = (beyond[0].text, beyond[1]) if beyond is not None else None
    blocked = beyond[2] if beyond is not None else ()
    if constraint is not None:
        target, release = candidates[-1]
        if constraint.matches(target):
            return _Decision(held=kept, blocked=blocked)  # Flux already resolves the range to it
        new_text = rewrite_range(constraint, target, settings.range_strategy)
        if new_text is None:
            return _Decision(skip=f"range {text} cannot be rewritten to admit {target.text}; edit it by hand")
        return _Decision((_move(current, target, release, new_text, settings),), held=kept, blocked=blocked)
    line = release_line(current, settings.minor_is_major)
    picks = [pair for pair in candidates if release_line(pair[0], settings.minor_is_major) == line][-1:]
    if release_line(candidates[-1][0], settings.minor_is_major) != line:
        picks.append(candidates[-1])
    moves = tuple(_move(current, target, release, target.text, settings) for target, release in picks)
    return _Decision(moves, held=kept, blocked=blocked)


def _runs_on(kube_version: str, kube: tuple[str, ...]) -> tuple[Verdict, tuple[str, ...]]:
    """Whether a chart with this `kubeVersion` installs on every Kubernetes version of `kube`, as Helm checks it
    (Masterminds constraints: a cluster's prerelease-style version such as `1.29.4-eks-1` satisfies only a term
    that names a prerelease, hence charts' `>=1.25.0-0`); the versions it excludes."""
    try:
        constraint = parse_constraint(kube_version)
    except ValueError:
        return Verdict(False, f"its kubeVersion {kube_version!r} is not a constraint Helm can read"), kube
    excluded = tuple(k for k in kube if not _satisfies(constraint, k))
    if not excluded:
        return Verdict(True), ()
    return Verdict(False, f"kubeVersion {kube_version} excludes Kubernetes {', '.join(excluded)}"), excluded


def _satisfies(constraint: Constraint, kubernetes: str) -> bool:
    version = parse_version(kubernetes)
    assert version is not None  # the scan keeps only versions that parse (updates.clusters)
    return constraint.matches(version)


def _move(current: Version, target: Version, release: ChartRelease, written: str, settings: Settings) -> _Move:
    step = update_type(current, target, settings.minor_is_major)
    return (current, target, release, written, step, release_line(target, settings.minor_is_major))


def _shared_versions(
    uses: Iterable[ChartUse], indexes: Mapping[str, ChartIndex]
) -> dict[tuple[str, int], frozenset[str]]:
    """For files applied with different sources in different clusters: the versions all those sources offer."""
    first: dict[tuple[str, int], ChartUse] = {}
    sources: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for use in uses:
        site, source = use.site, use.source
        if site is None or source is None or use.skip:
            continue
        # nearly every site has one use: only a second one with a different source or chart starts a set
        seen = first.setdefault((site.path, site.scalar.start), use)
        if seen is not use and seen.source is not None and (seen.source.url, seen.chart) != (source.url, use.chart):
            pairs = sources.setdefault((site.path, site.scalar.start), {(seen.source.url, seen.chart)})
            pairs.add((source.url, use.chart))
    shared: dict[tuple[str, int], frozenset[str]] = {}
    for site_key, pairs in sources.items():
        sets = [{r.version for r in indexes[url].releases(chart)} if url in indexes else set() for url, chart in pairs]
        shared[site_key] = frozenset(set.intersection(*sets))
    return shared
