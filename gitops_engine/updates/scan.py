"""Every pinned chart version in a repository tree, each resolved to its own source the way Flux resolves it.

A cluster is what one bootstrap sync Kustomization (a Flux Kustomization whose path contains its own file, as
`flux bootstrap` writes under `clusters/<name>/`) applies, followed through every Flux Kustomization it reaches.
A file reached through a Kustomization with `targetNamespace` lands in that namespace. A HelmRelease's source is
looked up by kind, name and namespace among the objects of the same cluster only. Repositories without sync
objects fall back to one cluster per `clusters/<name>/` directory, then to the whole repository.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from gitops_engine.core.shown import shown
from gitops_engine.core.yamlio import YamlError
from gitops_engine.flux.kinds import HELM_CHART, HELM_RELEASE, HELM_REPOSITORY, KUSTOMIZATION, OCI_REPOSITORY
from gitops_engine.flux.kustomization import Kustomization, clean_path
from gitops_engine.flux.roots import outermost, root_candidates
from gitops_engine.flux.sources import RepositorySources
from gitops_engine.flux.substitute import SubstitutionSyntaxError, sole_default, substitute
from gitops_engine.flux.tree import FolderTree, is_kustomization_file
from gitops_engine.updates.clusters import kubernetes_versions, management_cluster
from gitops_engine.updates.kubernetes import cluster_uses
from gitops_engine.updates.manifests import (
    FluxObject,
    ValueSource,
    kustomization_of,
    kustomize_config,
    might_hold_flux,
    might_hold_secret,
    read_objects,
    read_secrets,
    read_value_sources,
)
from gitops_engine.updates.uses import CatalogFolder, ChartSource, ChartUse, Scalar, ScanResult, SecretRef, Site
from gitops_engine.updates.versions import is_constraint, parse_version

__all__ = [
    "UNSCOPED",
    "CatalogFolder",
    "ChartSource",
    "ChartUse",
    "ScanResult",
    "Site",
    "scan_tree",
]

UNSCOPED = "(repository)"
_CLUSTER_DIR = re.compile(r"(?:^|/)clusters/([^/]+)/")
_CATALOG_DIR = re.compile(r"(?:^|/)applications/([^/]+)/([^/]+)/")
_VALUE_KIND = re.compile(rb"kind:\s*[\"']?(ConfigMap|Secret)\b")
Variables = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Context:
    cluster: str
    namespace: str | None
    variables: Variables = ()
    # True when the repository has no sync objects and clusters were guessed from `clusters/<name>/` folders
    guessed: bool = False


def resolved(text: str, variables: Mapping[str, str]) -> str:
    """`text` after Flux's postBuild substitution (flux.substitute, the one validate uses); text whose variables
    are not all set, or that does not parse, stays as written: the bot cannot know what Flux would make of it."""
    if "${" not in text:
        return text
    try:
        result = substitute(text, variables)
    except SubstitutionSyntaxError:
        return text
    return text if result.unset else result.text


def scan_tree(files: Mapping[str, bytes]) -> ScanResult:
    """Find and resolve every chart version in `files` (a repository tree at one ref)."""
    objects: list[FluxObject] = []
    kustomize: dict[str, tuple[tuple[str, ...], str | None]] = {}
    problems: list[str] = []
    for path in files:
        kustomization = is_kustomization_file(path)
        if not path.endswith((".yaml", ".yml")) and not kustomization:
            continue
        data = files[path]
        try:
            if kustomization:
                kustomize[path] = kustomize_config(data)
            if might_hold_flux(data):
                objects.extend(read_objects(path, data))
        except YamlError as exc:
            problems.append(f"{path}:{exc.line}: not valid YAML, skipped ({exc.problem})")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:1: not valid YAML, skipped ({exc})")
    if any(o.text("spec.secretRef.name") for o in objects):
        objects.extend(_secrets(files))
    layout = _Layout(files, kustomize)
    values = _value_sources(files, objects)
    membership = _clusters(objects, layout, values)
    uses = (*_resolve(objects, membership), *cluster_uses(files))
    management = management_cluster(files)
    clusters = {cluster for use in uses for cluster in use.clusters} | ({management} if management else set())
    return ScanResult(tuple(uses), tuple(problems), kubernetes_versions(files, clusters), management)


def _secrets(files: Mapping[str, bytes]) -> Iterator[FluxObject]:
    """The Secrets of the tree (identity only), for chart sources that authenticate with one; a file that is no
    valid YAML is left out (a source whose Secret is not found says so when it is looked up)."""
    for path, data in files.items():
        if path.endswith((".yaml", ".yml")) and might_hold_secret(data):
            try:
                yield from read_secrets(path, data)
            except (YamlError, UnicodeDecodeError):
                continue


def _value_sources(files: Mapping[str, bytes], objects: list[FluxObject]) -> dict[str, list[ValueSource]]:
    """By file, the ConfigMaps and Secrets some Kustomization names in postBuild.substituteFrom."""
    names = {ref.name for o in objects if o.kind == KUSTOMIZATION for ref in kustomization_of(o).substitute_from}
    found: dict[str, list[ValueSource]] = {}
    if not names:
        return found
    encoded = [name.encode() for name in names]
    for path, data in files.items():
        if path.endswith((".yaml", ".yml")) and _VALUE_KIND.search(data) and any(n in data for n in encoded):
            try:
                if sources := read_value_sources(path, data, names):
                    found[path] = sources
            except (YamlError, UnicodeDecodeError):
                continue  # reported with the other unreadable files when it holds Flux objects
    return found


class _Layout:
    """Directory structure of the tree and what a kustomize build of a directory includes."""

    def __init__(self, files: Mapping[str, bytes], kustomize: Mapping[str, tuple[tuple[str, ...], str | None]]) -> None:
        self.tree = FolderTree(files)
        self.kustomize = kustomize

    def expand(self, directory: str, namespace: str | None) -> Iterator[tuple[str, str | None]]:
        """(file, namespace override) for what applying `directory` applies, as kustomize-controller builds it."""
        seen: set[tuple[str, str | None]] = set()
        stack = [(directory, namespace)]
        while stack:
            current, ns = stack.pop()
            if (current, ns) in seen:
                continue
            seen.add((current, ns))
            config = self.tree.kustomization_in(current)
            if config is None:
                # Flux generates a kustomization: the one rule of the flux layer
                entries: tuple[str, ...] = tuple(self.tree.generated_resources(current))
                effective = ns
            else:
                entries, own_ns = self.kustomize.get(config, ((), None))
                # an outer namespace (or targetNamespace) wins over the inner kustomization's own
                effective = ns or own_ns
            for entry in entries:
                if "://" in entry or entry.startswith(("github.com/", "git@")):
                    continue
                target = posixpath.normpath(posixpath.join(current, entry))
                if target.startswith("../") or target == "..":
                    continue
                target = "" if target == "." else target
                if self.tree.is_file(target):
                    yield target, effective
                elif self.tree.is_folder(target):
                    stack.append((target, effective))


def _cluster_name(obj: FluxObject, path: str) -> str:
    match = _CLUSTER_DIR.search(obj.path + "/")
    return match.group(1) if match else (path or "root")


def _clusters(
    objects: list[FluxObject], layout: _Layout, values: Mapping[str, list[ValueSource]]
) -> dict[str, set[_Context]]:
    """Which cluster contexts (cluster, target namespace, variables) apply each file."""
    kustomizations = [kustomization_of(o) for o in objects if o.kind == KUSTOMIZATION]
    by_file: dict[str, list[Kustomization[FluxObject]]] = defaultdict(list)
    for ks in kustomizations:
        by_file[ks.origin.path].append(ks)
    roots = root_candidates(((ks.origin.path, ks) for ks in kustomizations), {})
    walks = [_Walk(root, layout, by_file, values) for root in roots]
    kept = outermost([(r.origin.path, r.origin.doc) for r in roots], lambda i, key: key in walks[i].reached)
    membership: dict[str, set[_Context]] = defaultdict(set)
    for i in kept:
        for file, contexts in walks[i].membership.items():
            membership[file] |= contexts
    # only files holding objects need a context; one shared context per guessed cluster
    holders = {o.path for o in objects}
    guessed: dict[str, _Context] = {}
    if not roots:
        for path in holders:
            match = _CLUSTER_DIR.search(path)
            if match is not None:
                name = match.group(1)
                membership[path].add(guessed.get(name) or guessed.setdefault(name, _Context(name, None, guessed=True)))
    unscoped = _Context(UNSCOPED, None, guessed=not roots)
    for path in holders:
        if path not in membership:
            membership[path].add(unscoped)
    return membership


class _Walk:
    """One cluster: the files its sync Kustomization applies through every Flux Kustomization of this repository,
    each with the namespace and variables it is applied with.

    Variables come from postBuild.substitute and from the ConfigMaps and Secrets postBuild.substituteFrom names,
    in the Kustomization's namespace, among the objects this cluster applies (as Flux reads them from the cluster).
    Which objects those are depends on the variables only through nested paths, so a first walk finds them with
    the inline variables and, when substituteFrom is used at all, a second walk applies them.
    """

    def __init__(
        self,
        root: Kustomization[FluxObject],
        layout: _Layout,
        by_file: Mapping[str, list[Kustomization[FluxObject]]],
        values: Mapping[str, list[ValueSource]],
    ) -> None:
        self.root = root
        self.layout = layout
        self.by_file = by_file
        self.cluster = _cluster_name(root.origin, root.path)
        self.sources = RepositorySources({}, frozenset()).with_own([root.source] if root.source else [])
        self.pool: dict[tuple[str, str, str], ValueSource] = {}
        self.uses_values = False
        self._run()
        if self.uses_values:
            self.pool = _pool(self.cluster, self.membership, values)
            self._run()

    def _run(self) -> None:
        self.membership: dict[str, set[_Context]] = defaultdict(set)
        self.reached: set[tuple[str, int]] = {(self.root.origin.path, self.root.origin.doc)}
        root_ns = self.root.target_namespace or None
        queue = [(self.root.path, root_ns, self._variables(self.root, {}))]
        while queue:
            directory, namespace, variables = queue.pop()
            for file, ns in self.layout.expand(directory, namespace):
                self.membership[file].add(_Context(self.cluster, ns, variables))
                for child in self.by_file.get(file, ()):
                    key = (child.origin.path, child.origin.doc)
                    if key in self.reached or child.remote:  # another cluster's sync applies what it builds
                        continue
                    self.reached.add(key)
                    # the child object is substituted with its parent's variables before Flux reads it
                    parent = dict(variables)
                    base = self.sources.folder_of(child.source)
                    if base is None:
                        continue  # another repository or artifact: its paths are not this tree's
                    path = clean_path(posixpath.join(base, resolved(child.origin.text("spec.path") or "", parent)))
                    target = resolved(child.target_namespace, parent) or None
                    queue.append((path, target, self._variables(child, parent, ns)))

    def _variables(
        self, ks: Kustomization[FluxObject], parent: Mapping[str, str], placed: str | None = None
    ) -> Variables:
        own: dict[str, str] = {}
        namespace = placed or ks.namespace or "default"
        for ref in ks.substitute_from:
            self.uses_values = True
            found = self.pool.get((ref.kind, namespace, ref.name))
            if found is not None:
                own.update(found.values)
        own.update({k: resolved(v, parent) for k, v in ks.substitute.items()})
        return tuple(sorted(own.items()))


def _pool(
    cluster: str, membership: Mapping[str, set[_Context]], values: Mapping[str, list[ValueSource]]
) -> dict[tuple[str, str, str], ValueSource]:
    """The ConfigMaps and Secrets a cluster applies, by (kind, namespace, name); SOPS-encrypted ones are left out
    (their values are not the bot's to read), so variables from them stay unresolved."""
    pool: dict[tuple[str, str, str], ValueSource] = {}
    for file, sources in values.items():
        for ctx in membership.get(file, ()):
            if ctx.cluster != cluster:
                continue
            for source in sources:
                if not source.sealed:
                    pool[(source.kind, ctx.namespace or source.namespace or "default", source.name)] = source
    return pool


@dataclass(frozen=True, slots=True)
class _Placed:
    obj: FluxObject
    ctx: _Context
    namespace: str

    def sub(self, text: str) -> str:
        return resolved(text, dict(self.ctx.variables)) if "${" in text else text


def _place(obj: FluxObject, ctx: _Context) -> _Placed:
    namespace = ctx.namespace or obj.namespace or "default"
    if "${" in namespace:
        namespace = resolved(namespace, dict(ctx.variables))
    return _Placed(obj, ctx, namespace)


def _resolve(objects: list[FluxObject], membership: Mapping[str, set[_Context]]) -> Iterator[ChartUse]:
    index: dict[tuple[str, str, str, str], list[_Placed]] = defaultdict(list)
    placed: list[_Placed] = []
    for obj in objects:
        for ctx in membership.get(obj.path, ()):
            item = _place(obj, ctx)
            placed.append(item)
            index[(ctx.cluster, obj.kind, item.namespace, item.sub(obj.name))].append(item)
    # one ChartUse per (holder site, source); the clusters that share both are listed together
    merged: dict[tuple[object, ...], tuple[ChartUse, set[str]]] = {}
    for item in placed:
        if item.obj.kind != HELM_RELEASE:
            continue
        cluster = item.ctx.cluster
        for use in _uses_of(item, index):
            key = (use.path, use.line, use.holder, use.source, use.skip)
            found = merged.get(key)
            if found is None:
                merged[key] = (use, {cluster})
            else:
                found[1].add(cluster)
    for use, clusters in merged.values():
        # a use is built with its own cluster; only files shared by clusters need the list rebuilt
        yield use if len(clusters) == 1 else replace(use, clusters=tuple(sorted(clusters)))


def _find(
    index: Mapping[tuple[str, str, str, str], list[_Placed]], cluster: str, kind: str, ns: str, name: str
) -> _Placed | None:
    found = index.get((cluster, kind, ns, name))
    return found[0] if found else None


def _uses_of(item: _Placed, index: Mapping[tuple[str, str, str, str], list[_Placed]]) -> Iterator[ChartUse]:
    obj, cluster = item.obj, item.ctx.cluster
    holder = f"HelmRelease {item.namespace}/{item.sub(obj.name)}"
    ref_kind = obj.text("spec.chartRef.kind")
    if ref_kind is not None:
        ref_ns = item.sub(obj.text("spec.chartRef.namespace") or item.namespace)
        ref_name = item.sub(obj.text("spec.chartRef.name") or "")
        target = _find(index, cluster, ref_kind, ref_ns, ref_name)
        ref = f"{ref_kind} {ref_ns}/{ref_name}"
        if target is None:
            yield _skipped(item, holder, ref, f"{ref} is not defined in cluster {cluster}")
        elif ref_kind == OCI_REPOSITORY:
            yield _oci_repository_use(target, ref, index)
        elif ref_kind == HELM_CHART:
            yield from _helm_chart_use(target, index)
        else:
            yield _skipped(item, holder, ref, f"chartRef kind {ref_kind} has no versions to bump")
        return
    chart = obj.text("spec.chart.spec.chart")
    if chart is None:
        yield _skipped(item, holder, "", "no spec.chart.spec.chart or spec.chartRef")
        return
    yield from _chart_spec_use(item, index, chart, holder)


def _chart_spec_use(
    item: _Placed, index: Mapping[tuple[str, str, str, str], list[_Placed]], chart: str, holder: str
) -> Iterator[ChartUse]:
    obj = item.obj
    kind = obj.text("spec.chart.spec.sourceRef.kind") or HELM_REPOSITORY
    ns = item.sub(obj.text("spec.chart.spec.sourceRef.namespace") or item.namespace)
    name = item.sub(obj.text("spec.chart.spec.sourceRef.name") or "")
    ref = f"{kind} {ns}/{name}"
    chart = item.sub(chart)
    version = obj.scalars.get("spec.chart.spec.version")
    if kind != HELM_REPOSITORY:
        yield _skipped(item, holder, ref, f"chart comes from a {kind}; bump that source's ref instead", chart)
        return
    repo = _find(index, item.ctx.cluster, kind, ns, name)
    if repo is None and item.ctx.guessed:
        repo, ref = _unambiguous(index, kind, ns, name, chart), f"{ref} (outside {item.ctx.cluster}: no sync objects)"
    if repo is None:
        yield _skipped(item, holder, ref, f"{ref} is not defined in cluster {item.ctx.cluster}", chart)
        return
    source = _source_of(repo, chart, index)
    if version is None:
        yield _skipped(item, holder, ref, "no version: Flux already follows the newest", chart, source)
        return
    yield _pinned(item, holder, ref, chart, source, version, ("spec", "chart", "spec", "version"))


def _unambiguous(
    index: Mapping[tuple[str, str, str, str], list[_Placed]], kind: str, ns: str, name: str, chart: str
) -> _Placed | None:
    """Without sync objects a cluster's folder is only a guess; accept a definition elsewhere if all agree."""
    found = [p for (_, k, n, m), items in index.items() if (k, n, m) == (kind, ns, name) for p in items]
    sources = (_source_of(p, chart, index) for p in found)
    urls = {(s.url, s.kind, s.insecure) for s in sources}
    return found[0] if len(urls) == 1 else None


def _helm_chart_use(target: _Placed, index: Mapping[tuple[str, str, str, str], list[_Placed]]) -> Iterator[ChartUse]:
    obj = target.obj
    holder = f"HelmChart {target.namespace}/{target.sub(obj.name)}"
    kind = obj.text("spec.sourceRef.kind") or HELM_REPOSITORY
    name = target.sub(obj.text("spec.sourceRef.name") or "")
    ns = target.sub(obj.text("spec.sourceRef.namespace") or target.namespace)
    ref = f"{kind} {ns}/{name}"
    chart = target.sub(obj.text("spec.chart") or "")
    repo = _find(index, target.ctx.cluster, kind, ns, name) if kind == HELM_REPOSITORY else None
    version = obj.scalars.get("spec.version")
    if repo is None or version is None:
        reason = f"{ref} is not defined in cluster {target.ctx.cluster}" if version else "no spec.version"
        yield _skipped(target, holder, ref, reason, chart)
        return
    yield _pinned(target, holder, ref, chart, _source_of(repo, chart, index), version, ("spec", "version"))


def _oci_repository_use(
    target: _Placed, ref: str, index: Mapping[tuple[str, str, str, str], list[_Placed]]
) -> ChartUse:
    obj = target.obj
    url = target.sub(obj.text("spec.url") or "").rstrip("/")
    chart = url.rpartition("/")[2]
    source = ChartSource(url, "oci", (chart,), obj.text("spec.insecure") == "true", _secret_of(target, index))
    tag = obj.scalars.get("spec.ref.tag")
    semver = obj.scalars.get("spec.ref.semver")
    if tag is not None:
        return _pinned(target, ref, ref, chart, source, tag, ("spec", "ref", "tag"))
    if semver is not None:
        return _pinned(target, ref, ref, chart, source, semver, ("spec", "ref", "semver"))
    reason = "pinned by digest" if obj.text("spec.ref.digest") else "no ref.tag or ref.semver"
    return _skipped(target, ref, ref, reason, chart, source)


def _source_of(repo: _Placed, chart: str, index: Mapping[tuple[str, str, str, str], list[_Placed]]) -> ChartSource:
    url = repo.sub(repo.obj.text("spec.url") or "").rstrip("/")
    secret = _secret_of(repo, index)
    if repo.obj.text("spec.type") == "oci" or url.startswith("oci://"):
        # one OCI repository per chart: the tag list of `<url>/<chart>` is its index
        return _source(f"{url}/{chart}", "oci", chart, repo.obj.text("spec.insecure") == "true", secret)
    return _source(url, "helm", chart, False, secret)


def _secret_of(source: _Placed, index: Mapping[tuple[str, str, str, str], list[_Placed]]) -> SecretRef | None:
    """The Secret a source's `spec.secretRef` names, looked up in the source's cluster and namespace."""
    name = source.obj.text("spec.secretRef.name")
    if not name:
        return None
    name, cluster = source.sub(name), source.ctx.cluster
    where = f"Secret {source.namespace}/{name} (cluster {cluster})"
    found = _find(index, cluster, "Secret", source.namespace, name)
    return SecretRef(where) if found is None else SecretRef(where, found.obj.path, found.obj.doc)


@functools.lru_cache(maxsize=4096)
def _source(url: str, kind: str, chart: str, insecure: bool, secret: SecretRef | None) -> ChartSource:
    """One shared value per distinct source: thousands of releases name the same few."""
    return ChartSource(url, kind, (chart,), insecure, secret)


def _catalog(path: str) -> CatalogFolder | None:
    # a fleet has more distinct paths than the cache holds; most are not catalog folders, which a substring says
    return _catalog_folder(path) if "applications/" in path else None


@functools.lru_cache(maxsize=4096)
def _catalog_folder(path: str) -> CatalogFolder | None:
    match = _CATALOG_DIR.search(path)
    if match is None or parse_version(match.group(2)) is None:
        return None
    return CatalogFolder(path[: match.end() - 1], match.group(1), match.group(2))


def _app_name(chart: str, path: str) -> str:
    folder = _catalog(path)
    return folder.app if folder is not None else chart


def _skipped(
    placed: _Placed,
    holder: str,
    ref: str,
    reason: str,
    chart: str = "",
    source: ChartSource | None = None,
    line: int | None = None,
) -> ChartUse:
    obj = placed.obj
    return ChartUse(
        app=_app_name(chart or obj.name, obj.path),
        chart=chart,
        holder=holder,
        path=obj.path,
        line=obj.line if line is None else line,
        clusters=(placed.ctx.cluster,),
        site=None,
        source=source,
        source_ref=ref,
        skip=reason,
    )


def _pinned(
    placed: _Placed, holder: str, ref: str, chart: str, source: ChartSource, scalar: Scalar, keys: tuple[str, ...]
) -> ChartUse:
    obj = placed.obj
    value = scalar.value
    version_text = value
    if "${" in value:
        default = sole_default(value)
        if default is None:
            reason = f"version {shown(value, 64)} has no default to bump"
            return _skipped(placed, holder, ref, reason, chart, source, scalar.line)
        version_text = default
    ranged = is_constraint(version_text)
    if not ranged and parse_version(version_text) is None:
        reason = f"'{shown(value, 64)}' is not a version or range"
        return _skipped(placed, holder, ref, reason, chart, source, scalar.line)
    return ChartUse(
        app=_app_name(chart, obj.path),
        chart=chart,
        holder=holder,
        path=obj.path,
        line=scalar.line,
        clusters=(placed.ctx.cluster,),
        site=Site(obj.path, obj.doc, keys, scalar, version_text),
        source=source,
        source_ref=ref,
        is_range=ranged,
        catalog=_catalog(obj.path),
    )
