"""Kubernetes as a dependency: each managed cluster's version (`spec.topology.version` of its Cluster API Cluster)
found in the tree, the releases Kubernetes publishes, and the upgrade steps the bot proposes.

Releases come from the currency policy's source (policy.KubernetesReleases): the `stable-1.N.txt` files
Kubernetes publishes (the newest patch of each minor), or a list the platform team curates (one version per
line, optionally with its release date). Kubernetes itself sets the rules of a step:

- one minor at a time: a cluster may not skip a minor (the API server refuses), so 1.29 → 1.31 is two steps,
  each on its own branch, the second built on the first;
- patch first: before a cluster leaves its minor it moves to that minor's newest patch;
- never ahead of the management cluster that creates it;
- never to a version a chart deployed on the cluster excludes by its `kubeVersion`;
- the control plane before the workers: a step changes only the topology's version, and Cluster API's topology
  controller rolls the control plane, then each machine deployment in order.

Each proposal is an ordinary Proposal of the chart bot (app and chart `kubernetes`, one per step), so branches,
pull requests, the dashboard and the report treat a cluster's Kubernetes like any other dependency.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from gitops_engine.core.yamlio import YamlError, load, scalar_at
from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.clusters import VARS_FILE, VERSION_KEY
from gitops_engine.updates.policy import KubernetesReleases, Settings, judge
from gitops_engine.updates.releases import KUBERNETES, list_index
from gitops_engine.updates.uses import INLINE_RELEASES, RELEASE_KINDS, ChartSource, ChartUse, ScanResult, Site
from gitops_engine.updates.versions import UpdateType, Version, parse_constraint, parse_version

VERSION_KEYS = ("spec", "topology", "version")
BRANCH_PREFIX = "kubernetes-"
# how many minors Kubernetes supports at a time: the newest three get patches (N, N-1, N-2)
SUPPORTED_MINORS = 3
# a stable-file source reads at most this many minors below the newest (one request each)
MAX_MINORS = 12
_CLUSTER_API_PREFIX = b"cluster.x-k8s.io/"


ATTACHED = "attached: upgraded where it was created; then set its kubernetesVersion in the spec"


def cluster_uses(files: Mapping[str, bytes]) -> tuple[ChartUse, ...]:
    """Every cluster's Kubernetes version as a use: managed clusters' from their Cluster (the bot upgrades them),
    attached clusters' from their `kommander-vars` (reported, never bumped: nothing here upgrades them). A fleet
    without managed clusters has none: it asks no release source."""
    managed = topology_uses(files)
    if not managed:
        return ()
    names = {use.clusters[0] for use in managed}
    return (*managed, *(use for use in attached_uses(files) if use.clusters[0] not in names))


def attached_uses(files: Mapping[str, bytes]) -> Iterator[ChartUse]:
    """A skipped use per cluster whose `kommander-vars` names its Kubernetes version."""
    for path in sorted(files):
        found = VARS_FILE.match(path)
        if found is None or VERSION_KEY.encode() not in files[path]:
            continue
        try:
            scalar = scalar_at(files[path], 0, ("data", VERSION_KEY))
        except (YamlError, UnicodeDecodeError):
            continue
        if scalar is None or parse_version(scalar.value) is None:
            continue
        cluster = found.group(1)
        holder = f"kommander-vars of cluster {cluster}"
        site = Site(path, 0, ("data", VERSION_KEY), scalar, scalar.value)
        yield ChartUse(KUBERNETES, KUBERNETES, holder, path, scalar.line, (cluster,), site, None, holder, skip=ATTACHED)


def topology_uses(files: Mapping[str, bytes]) -> tuple[ChartUse, ...]:
    """A use per Cluster API Cluster with a managed topology in `files`: its Kubernetes version as a pinned
    dependency of the cluster it creates. A file that is not valid YAML is left out (validate reports it)."""
    uses: list[ChartUse] = []
    for path, data in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")) or _CLUSTER_API_PREFIX not in data or b"topology" not in data:
            continue
        try:
            docs = load(data)
        except (YamlError, UnicodeDecodeError):
            continue
        for index, doc in enumerate(docs):
            use = _use(path, data, index, doc)
            if use is not None:
                uses.append(use)
    return tuple(uses)


def _use(path: str, data: bytes, index: int, doc: object) -> ChartUse | None:
    if not isinstance(doc, dict) or doc.get("kind") != "Cluster":
        return None
    if not str(doc.get("apiVersion", "")).startswith("cluster.x-k8s.io/"):
        return None
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    name, ns = str(metadata.get("name", "")), str(metadata.get("namespace", "default"))
    scalar = scalar_at(data, index, VERSION_KEYS)
    if not name or scalar is None:
        return None
    holder = f"Cluster {ns}/{name}"
    site = Site(path, index, VERSION_KEYS, scalar, scalar.value)
    skip = "" if parse_version(scalar.value) is not None else f"{scalar.value!r} is not a Kubernetes version"
    return ChartUse(KUBERNETES, KUBERNETES, holder, path, scalar.line, (name,), site, None, holder, skip=skip)


def with_release_source(scan: ScanResult, releases: KubernetesReleases) -> ScanResult:
    """The scan with every Kubernetes use pointing at the policy's release source."""
    source = ChartSource(releases.url, releases.kind)
    uses = tuple(replace(u, source=source) if u.app == u.chart == KUBERNETES else u for u in scan.uses)
    return replace(scan, uses=uses)


def is_kubernetes(use: ChartUse) -> bool:
    """True for a cluster's Kubernetes version (not a chart)."""
    return use.app == KUBERNETES and use.source is not None and use.source.kind in RELEASE_KINDS


def inline_indexes(releases: KubernetesReleases) -> dict[str, ChartIndex]:
    """The index of a list written in the policy itself (nothing to look up), keyed by its source URL."""
    if releases.kind != INLINE_RELEASES:
        return {}
    return {releases.url: list_index(releases.url, "\n".join(releases.versions))}


# --- decisions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One upgrade step of one cluster: from `current` to `target`, built on the step of release line `after`
    (empty: on the base branch)."""

    current: Version
    target: Version
    release: ChartRelease
    written: str
    update: UpdateType
    line: str
    after: str = ""


@dataclass(frozen=True)
class Steps:
    """The steps proposed for one cluster, and the newest version held back and why (empty when none is)."""

    steps: tuple[Step, ...] = ()
    held: str = ""
    reason: str = ""
    skip: str = ""


@dataclass(frozen=True)
class ClusterFacts:
    """What the steps of one cluster depend on besides the releases: the management cluster's version (None:
    not known) and the `kubeVersion` constraints of the charts deployed on the cluster, as (chart and version,
    constraint, or None when the chart's repository could not be read)."""

    management: Version | None
    management_name: str
    charts: tuple[tuple[str, str | None], ...] = ()


def plan_steps(
    use: ChartUse, releases: list[tuple[Version, ChartRelease]], settings: Settings, facts: ClusterFacts, now: datetime
) -> Steps:
    """The ordered steps that bring one cluster's Kubernetes to the newest version the rules allow (see module
    doc); the first version they stop short of is reported as held back with the reason."""
    assert use.site is not None
    current = parse_version(use.site.version_text)
    if current is None:
        return Steps(skip=f"{use.site.version_text!r} is not a Kubernetes version")
    if facts.management is None:
        reason = f"the Kubernetes version of management cluster {facts.management_name or '(unknown)'} is not known"
        return Steps(skip=f"{reason}: give it kubernetesVersion in the spec")
    prefix = "v" if use.site.version_text.startswith("v") else ""
    known = list(releases)
    if all(v != facts.management for v, _ in known):
        # the management cluster's own version exists even when the source names only each minor's newest patch
        text = prefix + ".".join(str(part) for part in facts.management.core)
        spelled = parse_version(text)
        assert spelled is not None  # a core version spelled again
        known.append((spelled, ChartRelease(KUBERNETES, text)))
    known.sort(key=lambda pair: pair[0])
    steps: list[Step] = []
    position, held = current, ("", "")
    for minor in range(current.minor, current.minor + MAX_MINORS):
        in_minor = [(v, r) for v, r in known if (v.major, v.minor) == (current.major, minor) and v > position]
        if not in_minor:
            if minor == current.minor:
                continue  # already on the newest patch of its minor
            later = [v for v, _ in known if v.major == current.major and v.minor > minor]
            if later:
                held = (later[-1].text, f"no release of {current.major}.{minor} is known (a minor cannot be skipped)")
            break
        chosen, refused = _newest_allowed(in_minor, position, settings, facts, now)
        held = held if held[0] else refused
        if chosen is None:
            break
        version, release = chosen
        line = f"{version.major}.{version.minor}"
        update = UpdateType.PATCH if version.minor == position.minor else UpdateType.MINOR
        written = f"{prefix}{version.major}.{version.minor}.{version.patch}"
        steps.append(Step(position, version, release, written, update, line, steps[-1].line if steps else ""))
        position = version
        if refused[0]:
            break  # this minor's newest patch is held back: the cluster does not leave the minor before it
    return Steps(tuple(steps), *held)


def _newest_allowed(
    candidates: list[tuple[Version, ChartRelease]],
    position: Version,
    settings: Settings,
    facts: ClusterFacts,
    now: datetime,
) -> tuple[tuple[Version, ChartRelease] | None, tuple[str, str]]:
    """The newest candidate every rule allows, and the newest one refused with its reason (when it is newer)."""
    refused: tuple[str, str] = ("", "")
    for version, release in reversed(candidates):
        reason = _refusal(version, release, position, settings, facts, now)
        if reason is None:
            return (version, release), refused
        if not refused[0]:
            refused = (version.text, reason)
    return None, refused


def _refusal(
    version: Version, release: ChartRelease, position: Version, settings: Settings, facts: ClusterFacts, now: datetime
) -> str | None:
    verdict = judge(position, version, release.created, settings, now)
    if not verdict.allowed:
        return verdict.reason
    assert facts.management is not None
    if version > facts.management:
        return f"ahead of management cluster {facts.management_name} ({facts.management.text})"
    for chart, constraint in facts.charts:
        if constraint is None:
            return f"the kubeVersion of {chart} cannot be checked (its chart repository could not be read)"
        try:
            allowed = parse_constraint(constraint).matches(version)
        except ValueError:
            return f"the kubeVersion {constraint!r} of {chart} is not a constraint Helm can read"
        if not allowed:
            return f"{chart} (deployed on the cluster) requires kubeVersion {constraint}"
    return None


def deployed_charts(
    cluster: str, uses: Iterable[ChartUse], indexes: Mapping[str, ChartIndex]
) -> Iterator[tuple[str, str | None]]:
    """(chart and version, its kubeVersion constraint) of every chart pinned on `cluster` whose release states one;
    None as the constraint when the chart's repository could not be read."""
    seen: set[str] = set()
    for use in uses:
        if cluster not in use.clusters or use.site is None or use.source is None or use.skip or use.is_range:
            continue
        if use.app == KUBERNETES:
            continue
        name = f"chart {use.chart} {use.site.version_text}"
        if name in seen:
            continue
        seen.add(name)
        index = indexes.get(use.source.url)
        if index is None:
            yield name, None
            continue
        current = parse_version(use.site.version_text)
        release = next((r for r in index.releases(use.chart) if parse_version(r.version) == current), None)
        if release is not None and release.kube_version:
            yield name, release.kube_version


def support_window(current: Version, newest: Version | None) -> tuple[int | None, str]:
    """How many minors `current` is behind the newest published one, and whether Kubernetes still supports it
    (the newest three minors get patches)."""
    if newest is None or newest.major != current.major:
        return None, ""
    behind = max(0, newest.minor - current.minor)
    oldest = newest.minor - SUPPORTED_MINORS + 1
    supported = f"{newest.major}.{oldest}–{newest.major}.{newest.minor}"
    if behind < SUPPORTED_MINORS:
        return (
            behind,
            f"{behind} minor{'s' if behind != 1 else ''} behind {newest.major}.{newest.minor}, supported ({supported})",
        )
    return behind, f"{behind} minors behind {newest.major}.{newest.minor}: out of support (supported: {supported})"
