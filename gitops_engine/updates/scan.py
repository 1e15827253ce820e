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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from gitops_engine.core.shown import shown
from gitops_engine.core.yamlio import YamlError
from gitops_engine.updates.clusters import kubernetes_versions
from gitops_engine.updates.manifests import (
    KUSTOMIZE_FILES,
    FluxObject,
    iter_substitute,
    kustomize_config,
    might_hold_flux,
    might_hold_secret,
    read_objects,
    read_secrets,
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
    "substitute",
]

UNSCOPED = "(repository)"
_CLUSTER_DIR = re.compile(r"(?:^|/)clusters/([^/]+)/")
_CATALOG_DIR = re.compile(r"(?:^|/)applications/([^/]+)/([^/]+)/")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[=-])([^}]*))?\}")


@dataclass(frozen=True)
class _Context:
    cluster: str
    namespace: str | None
    variables: tuple[tuple[str, str], ...] = ()
    # True when the repository has no sync objects and clusters were guessed from `clusters/<name>/` folders
    guessed: bool = False


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Flux postBuild-style substitution: `${v}`, `${v:=default}`, `${v:-default}`; unknown bare vars stay."""

    def one(match: re.Match[str]) -> str:
        name, op, default = match.groups()
        if name in variables:
            return variables[name]
        return default if op is not None else match.group(0)

    return _VAR.sub(one, text) if "${" in text else text


def scan_tree(files: Mapping[str, bytes]) -> ScanResult:
    """Find and resolve every chart version in `files` (a repository tree at one ref)."""
    objects: list[FluxObject] = []
    kustomize: dict[str, tuple[tuple[str, ...], str | None]] = {}
    problems: list[str] = []
    for path in files:
        name = posixpath.basename(path)
        if not path.endswith((".yaml", ".yml")) and name not in KUSTOMIZE_FILES:
            continue
        data = files[path]
        try:
            if name in KUSTOMIZE_FILES:
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
    membership = _clusters(objects, layout)
    uses = tuple(_resolve(objects, membership))
    kubernetes = kubernetes_versions(files, {cluster for use in uses for cluster in use.clusters})
    return ScanResult(uses, tuple(problems), kubernetes)


def _secrets(files: Mapping[str, bytes]) -> Iterator[FluxObject]:
    """The Secrets of the tree (identity only), for chart sources that authenticate with one; a file that is no
    valid YAML is left out (a source whose Secret is not found says so when it is looked up)."""
    for path, data in files.items():
        if path.endswith((".yaml", ".yml")) and might_hold_secret(data):
            try:
                yield from read_secrets(path, data)
            except (YamlError, UnicodeDecodeError):
                continue


class _Layout:
    """Directory structure of the tree and what a kustomize build of a directory includes."""

    def __init__(self, files: Iterable[str], kustomize: Mapping[str, tuple[tuple[str, ...], str | None]]) -> None:
        self.files = set(files)
        self.kustomize = kustomize
        self.children: dict[str, list[str]] = defaultdict(list)
        self.subdirs: dict[str, set[str]] = defaultdict(set)
        for path in self.files:
            parent = path.rpartition("/")[0]
            known = parent in self.children
            self.children[parent].append(path)
            # a directory seen before already has its whole chain of parents recorded
            while parent and not known:
                grand = parent.rpartition("/")[0]
                known = grand in self.children or grand in self.subdirs
                self.subdirs[grand].add(parent)
                parent = grand

    def is_dir(self, path: str) -> bool:
        return path in self.children or path in self.subdirs

    def config_of(self, directory: str) -> str | None:
        for name in KUSTOMIZE_FILES:
            candidate = posixpath.join(directory, name) if directory else name
            if candidate in self.kustomize:
                return candidate
        return None

    def expand(self, directory: str, namespace: str | None) -> Iterator[tuple[str, str | None]]:
        """(file, namespace override) for what applying `directory` applies, as kustomize-controller builds it."""
        seen: set[tuple[str, str | None]] = set()
        stack = [(directory, namespace)]
        while stack:
            current, ns = stack.pop()
            if (current, ns) in seen:
                continue
            seen.add((current, ns))
            config = self.config_of(current)
            if config is not None:
                resources, own_ns = self.kustomize[config]
                # an outer namespace (or targetNamespace) wins over the inner kustomization's own
                effective = ns or own_ns
                for entry in resources:
                    if "://" in entry or entry.startswith(("github.com/", "git@")):
                        continue
                    target = posixpath.normpath(posixpath.join(current, entry))
                    if target.startswith("../") or target == "..":
                        continue
                    target = "" if target == "." else target
                    if target in self.files:
                        yield target, effective
                    elif self.is_dir(target):
                        stack.append((target, effective))
                continue
            # no kustomization.yaml: Flux generates one with every manifest below, stopping at nested configs
            for path in self.children.get(current, ()):
                if path.endswith((".yaml", ".yml")):
                    yield path, ns
            stack.extend((sub, ns) for sub in self.subdirs.get(current, ()))


def _flux_path(value: str | None) -> str | None:
    if value is None:
        return None
    normal = posixpath.normpath(value.strip().lstrip("/")) if value.strip() not in ("", "./", ".") else "."
    if normal.startswith(".."):
        return None
    return "" if normal == "." else normal


def _cluster_name(obj: FluxObject, path: str) -> str:
    match = _CLUSTER_DIR.search(obj.path + "/")
    return match.group(1) if match else (path or "root")


def _clusters(objects: list[FluxObject], layout: _Layout) -> dict[str, set[_Context]]:
    """Which cluster contexts (cluster, target namespace, variables) apply each file."""
    kustomizations = [o for o in objects if o.kind == "Kustomization" and o.api_version.startswith("kustomize.")]
    by_file: dict[str, list[FluxObject]] = defaultdict(list)
    for ks in kustomizations:
        by_file[ks.path].append(ks)
    membership: dict[str, set[_Context]] = defaultdict(set)
    roots = []
    for ks in kustomizations:
        path = _flux_path(ks.text("spec.path"))
        if path is not None and any(f == ks.path for f, _ in layout.expand(path, None)):
            roots.append((ks, path))
    for root, path in roots:
        _walk_cluster(root, path, layout, by_file, membership)
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


def _walk_cluster(
    root: FluxObject,
    path: str,
    layout: _Layout,
    by_file: Mapping[str, list[FluxObject]],
    membership: dict[str, set[_Context]],
) -> None:
    """Follow one sync Kustomization through every Flux Kustomization it applies from the same source."""
    cluster = _cluster_name(root, path)
    source_name = root.text("spec.sourceRef.name")
    queue: list[tuple[str, str | None, tuple[tuple[str, str], ...]]] = [
        (path, root.text("spec.targetNamespace"), tuple(iter_substitute(root)))
    ]
    visited: set[tuple[str, int]] = {(root.path, root.doc)}
    while queue:
        directory, namespace, variables = queue.pop()
        parent_vars = dict(variables)
        for file, ns in layout.expand(directory, namespace):
            membership[file].add(_Context(cluster, ns, variables))
            for child in by_file.get(file, ()):
                # a Kustomization of another source applies paths of another repository
                if (child.path, child.doc) in visited or child.text("spec.sourceRef.name") != source_name:
                    continue
                visited.add((child.path, child.doc))
                child_path = _flux_path(substitute(child.text("spec.path") or "", parent_vars))
                if child_path is None:
                    continue
                target_ns = child.text("spec.targetNamespace")
                child_vars = tuple((k, substitute(v, parent_vars)) for k, v in iter_substitute(child))
                queue.append((child_path, substitute(target_ns, parent_vars) if target_ns else None, child_vars))


@dataclass(frozen=True, slots=True)
class _Placed:
    obj: FluxObject
    ctx: _Context
    namespace: str

    def sub(self, text: str) -> str:
        return substitute(text, dict(self.ctx.variables)) if "${" in text else text


def _place(obj: FluxObject, ctx: _Context) -> _Placed:
    namespace = ctx.namespace or obj.namespace or "default"
    if "${" in namespace:
        namespace = substitute(namespace, dict(ctx.variables))
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
        if item.obj.kind != "HelmRelease":
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
        elif ref_kind == "OCIRepository":
            yield _oci_repository_use(target, ref, index)
        elif ref_kind == "HelmChart":
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
    kind = obj.text("spec.chart.spec.sourceRef.kind") or "HelmRepository"
    ns = item.sub(obj.text("spec.chart.spec.sourceRef.namespace") or item.namespace)
    name = item.sub(obj.text("spec.chart.spec.sourceRef.name") or "")
    ref = f"{kind} {ns}/{name}"
    chart = item.sub(chart)
    version = obj.scalars.get("spec.chart.spec.version")
    if kind != "HelmRepository":
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
    kind = obj.text("spec.sourceRef.kind") or "HelmRepository"
    name = target.sub(obj.text("spec.sourceRef.name") or "")
    ns = target.sub(obj.text("spec.sourceRef.namespace") or target.namespace)
    ref = f"{kind} {ns}/{name}"
    chart = target.sub(obj.text("spec.chart") or "")
    repo = _find(index, target.ctx.cluster, kind, ns, name) if kind == "HelmRepository" else None
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


_DEFAULT_VAR = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?[=-]([^}]*)\}$")


def _pinned(
    placed: _Placed, holder: str, ref: str, chart: str, source: ChartSource, scalar: Scalar, keys: tuple[str, ...]
) -> ChartUse:
    obj = placed.obj
    value = scalar.value
    version_text = value
    if "${" in value:
        default = _DEFAULT_VAR.match(value)
        if default is None:
            reason = f"version {shown(value, 64)} has no default to bump"
            return _skipped(placed, holder, ref, reason, chart, source, scalar.line)
        version_text = default.group(1)
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
