"""Discover what each cluster applies, the way Flux does: from the sync Kustomization, level by level.

A cluster starts at a sync root (flux.roots): a Flux Kustomization whose own file lies inside the path it
builds, as `flux bootstrap` writes gotk-sync.yaml. `--path DIR` starts at DIR instead: at the sync
Kustomization that builds DIR when DIR holds one (so it is not applied twice), else at DIR itself. Each level's
paths are built in one batch; every Flux Kustomization a build produces is followed when its source is this
repository (flux.sources) or an ExternalArtifact rebuilt from it (flux.artifacts), otherwise it is recorded as
external and its source is reported once as not checked. One with a `kubeConfig` applies to another cluster
(which has its own sync root): it is recorded as remote and not followed into this one.

Builds arrive one by one while the rest of the batch is still running, and each is substituted and checked
at once, so this work overlaps with kustomize instead of following it. Only a Kustomization whose
substituteFrom names an object no earlier level applied has to wait for its whole level (a sibling might
apply it).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gitops_engine.core.yamlio import YamlError, emit, load
from gitops_engine.flux.artifacts import Artifact, Artifacts
from gitops_engine.flux.kinds import (
    CLUSTER_SCOPED_KINDS,
    EXTERNAL_ARTIFACT,
    KUSTOMIZE_GROUP,
    is_flux_kustomization,
)
from gitops_engine.flux.kustomization import Kustomization, Ref, clean_path, parse_kustomization
from gitops_engine.flux.roots import outermost, root_candidates
from gitops_engine.flux.sources import BOOTSTRAP_SOURCE, RepositorySources
from gitops_engine.flux.substitute import (
    SubstitutionSyntaxError,
    invalid_names,
    is_opted_out,
    substitute,
    variables_of,
)
from gitops_engine.flux.tree import KUSTOMIZATION_FILES
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.build import Builder, BuildOutput
from gitops_engine.validate.locate import SourceIndex
from gitops_engine.validate.objects import ObjectId, RenderedObject, is_manifest, object_id

FluxKustomization = Kustomization[RenderedObject]
# Findings about one rendered object, computed as soon as the object exists (see discover's `check`).
ObjectCheck = Callable[[RenderedObject], Iterable[Finding]]
# Where rebuilt artifacts are laid out beside the repository's files for kustomize (see mount_artifacts).
ARTIFACTS_DIR = ".gitops-engine-artifacts"


@dataclass(frozen=True)
class Cluster:
    """Everything one entry point applies, directly or through nested Flux Kustomizations."""

    name: str
    root: FluxKustomization
    kustomizations: tuple[FluxKustomization, ...]
    objects: tuple[RenderedObject, ...]
    external: tuple[FluxKustomization, ...] = ()
    sources: RepositorySources = field(default_factory=lambda: RepositorySources({}, frozenset()))
    # Kustomizations applying to another cluster through a kubeConfig (a managed cluster's sync): not followed
    remote: tuple[FluxKustomization, ...] = ()

    @property
    def id(self) -> ObjectId:
        """The root Kustomization's identity."""
        return self.root.origin.id


@dataclass(frozen=True)
class Discovery:
    """All clusters found in a tree and the problems met while building them."""

    clusters: tuple[Cluster, ...]
    findings: tuple[Finding, ...] = field(default=())


def artifact_folder(artifact: Artifact) -> str:
    """The folder a rebuilt artifact is laid out in, beside the repository's own files."""
    return f"{ARTIFACTS_DIR}/{artifact.namespace}/{artifact.name}"


def mount_artifacts(files: Mapping[str, bytes], artifacts: Artifacts) -> dict[str, bytes]:
    """`files` plus every complete artifact's files under its artifact_folder (what the builder builds from)."""
    mounted = dict(files)
    for artifact in artifacts.by_key.values():
        if artifact.complete:
            base = artifact_folder(artifact)
            mounted.update({f"{base}/{path}": data for path, data in artifact.files.items()})
    return mounted


def base_sources(files: Mapping[str, bytes], sources: Mapping[str, str], index: SourceIndex) -> RepositorySources:
    """This repository's sources for a walk with no sync root: the sources of the tree's sync Kustomizations, or
    the bootstrap GitRepository when the tree has none."""
    own = [ks.source for ks in find_roots(files, index, sources) if ks.source is not None]
    return RepositorySources(dict(sources), frozenset()).with_own(own or [BOOTSTRAP_SOURCE])


def discover(
    files: Mapping[str, bytes],
    builder: Builder,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    broken: Callable[[str], bool] | None = None,
    index: SourceIndex | None = None,
    check: ObjectCheck | None = None,
    artifacts: Artifacts | None = None,
) -> Discovery:
    """Find the entry points of `files` (or start at `path`) and render every cluster.

    `check` runs on every object as it is rendered; its findings join the discovery's. `index` shares
    parsed files with the caller. A failed build that reads a file `broken` accepts is not reported (the
    caller reports that file instead). `artifacts` are the tree's rebuilt ExternalArtifacts; `builder` must
    build from `mount_artifacts(files, artifacts)`.
    """
    index = index or SourceIndex(files)
    mapped = dict(sources or {})
    walker = _Walker(files, builder, index, broken or (lambda _: False), check, artifacts or Artifacts({}))
    candidates = find_roots(files, index, mapped)
    if path is not None:
        start = clean_path(path)
        own = RepositorySources(mapped, frozenset())
        # the sync Kustomization of DIR, when DIR holds it: starting from DIR itself would apply it a second time
        roots = [ks for ks in candidates if own.with_own([ks.source] if ks.source else []).build_path(ks) == start]
        roots = roots[:1] or [_synthetic_root(start)]
    else:
        roots = candidates or [_synthetic_root("")]
    fallback = base_sources(files, mapped, index)
    walks = [walker.walk(root, _sources_of(root, mapped, fallback)) for root in roots]
    # one sync Kustomization name (flux-system, management) serves every cluster: its file tells them apart (not its
    # path, which a patch may change on the way)
    applied = [{(ks.origin.id, ks.origin.file) for ks in (*w.kustomizations, *w.external)} for w in walks]
    kept = outermost([(w.root.origin.id, w.root.origin.file) for w in walks], lambda i, key: key in applied[i])
    findings = {f for i in kept for f in walker.findings_of[i]}
    findings.update(_not_checked(walks[i] for i in kept))
    return Discovery(tuple(walks[i] for i in kept), tuple(sorted(findings)))


def find_roots(files: Mapping[str, bytes], index: SourceIndex, sources: Mapping[str, str]) -> list[FluxKustomization]:
    """Flux Kustomizations that build a folder containing their own file, shortest path first."""
    found: list[tuple[str, FluxKustomization]] = []
    for file in index.yaml_paths:
        if KUSTOMIZE_GROUP.encode() not in files[file]:
            continue
        for doc in index.data(file):
            if is_manifest(doc) and is_flux_kustomization(doc):
                found.append((file, parse_kustomization(doc, _rendered(doc, file, index, None))))
    return root_candidates(found, sources)


def _sources_of(root: FluxKustomization, mapped: Mapping[str, str], fallback: RepositorySources) -> RepositorySources:
    if root.source is None:
        return fallback
    return RepositorySources(dict(mapped), frozenset()).with_own([root.source])


def _not_checked(clusters: Iterable[Cluster]) -> Iterable[Finding]:
    """One warning per source that is not this repository, at the first Kustomization that reads it."""
    first: dict[tuple[str, str, str], FluxKustomization] = {}
    for cluster in clusters:
        for ks in cluster.external:
            assert ks.source is not None
            key = (ks.source.kind, ks.source.namespace, ks.source.name)
            if key not in first or (ks.origin.file, ks.origin.id) < (first[key].origin.file, first[key].origin.id):
                first[key] = ks
    for (kind, namespace, name), ks in first.items():
        yield Finding(
            ks.origin.file,
            ks.origin.line_of(("spec", "sourceRef")),
            "source-not-checked",
            f"{kind} {namespace}/{name} is not {'made from ' if kind == EXTERNAL_ARTIFACT else ''}this repository: "
            f"{ks.origin.id} and whatever reads the same source were not built",
            "validate that repository on its own, or map the source to a folder here with --source NAME=DIR",
            Severity.WARNING,
        )


def _synthetic_root(path: str) -> FluxKustomization:
    body = {"metadata": {"name": path or "root", "namespace": "flux-system"}, "spec": {"path": path}}
    ks_id = ObjectId(KUSTOMIZE_GROUP, "Kustomization", "flux-system", path or "root")
    origin = RenderedObject(ks_id, f"{KUSTOMIZE_GROUP}/v1", {}, path or ".")
    return parse_kustomization(body, origin)


def _rendered(body: Mapping[str, Any], file: str, index: SourceIndex, producer: ObjectId | None) -> RenderedObject:
    oid = object_id(body)
    return RenderedObject(
        oid, str(body["apiVersion"]), body, file, producer, partial(index.find, file, oid.kind, oid.name)
    )


class _Walker:
    def __init__(
        self,
        files: Mapping[str, bytes],
        builder: Builder,
        index: SourceIndex,
        broken: Callable[[str], bool],
        check: ObjectCheck | None,
        artifacts: Artifacts,
    ) -> None:
        self.files = files
        self.builder = builder
        self.index = index
        self.broken = broken
        self.check = check
        self.artifacts = artifacts
        self.findings: list[Finding] = []
        self.findings_of: list[list[Finding]] = []
        folders = {posixpath.dirname(p) for p in files}
        for artifact in artifacts.by_key.values():
            base = artifact_folder(artifact)
            folders.update(posixpath.dirname(f"{base}/{p}") for p in artifact.files)
        self._dirs = folders | {d for p in folders for d in _ancestors(p)}
        # rebuilt artifact files → the repository file each was copied from
        self._origins = {
            f"{artifact_folder(a)}/{p}": origin for a in artifacts.by_key.values() for p, origin in a.origins.items()
        }

    def walk(self, root: FluxKustomization, sources: RepositorySources) -> Cluster:
        self.findings = []
        self.findings_of.append(self.findings)
        seen: set[ObjectId] = {root.origin.id}
        followed: list[FluxKustomization] = [root]
        objects: list[RenderedObject] = []
        external: list[FluxKustomization] = []
        remote: list[FluxKustomization] = []
        level = [root]
        while level:
            targets = {ks.origin.id: self._target(ks, sources) for ks in level}
            rendered = self._render_level(level, targets, objects)
            next_level: list[FluxKustomization] = []
            for ks in level:
                for obj in rendered[ks.origin.id]:
                    objects.append(obj)
                    if not is_flux_kustomization(obj.body) or obj.id in seen:
                        continue
                    child = parse_kustomization(obj.body, obj)
                    seen.add(child.origin.id)
                    if child.remote:
                        remote.append(child)
                    else:
                        (next_level if self._target(child, sources) is not None else external).append(child)
            followed.extend(next_level)
            level = next_level
        return Cluster(root.path or ".", root, tuple(followed), tuple(objects), tuple(external), sources, tuple(remote))

    def _target(self, ks: FluxKustomization, sources: RepositorySources) -> str | None:
        """The folder `ks` builds (in the repository or a rebuilt artifact), or None when its source is elsewhere."""
        if ks.source is not None and ks.source.kind == EXTERNAL_ARTIFACT and ks.source.name not in sources.mapped:
            artifact = self.artifacts.get(ks.source)
            if artifact is None or not artifact.complete:
                return None
            return clean_path(posixpath.join(artifact_folder(artifact), ks.path))
        return sources.build_path(ks)

    def _render_level(
        self,
        level: list[FluxKustomization],
        targets: Mapping[ObjectId, str | None],
        objects: list[RenderedObject],
    ) -> dict[ObjectId, list[RenderedObject]]:
        """The objects each Kustomization of `level` applies, rendering each build as soon as it arrives."""
        by_path: dict[str, list[FluxKustomization]] = defaultdict(list)
        for ks in level:
            target = targets[ks.origin.id]
            if target is not None and target in self._dirs:
                by_path[target].append(ks)
        earlier = _value_pool(objects)
        outputs: dict[str, BuildOutput] = {}
        rendered: dict[ObjectId, list[RenderedObject]] = {}
        waiting: list[FluxKustomization] = []
        for output in self.builder(sorted(by_path)):
            outputs[output.path] = output
            for ks in by_path[output.path]:
                if all(_ref_id(ref) in earlier for ref in ks.substitute_from):
                    rendered[ks.origin.id] = self._apply(ks, output.path, outputs, earlier)
                else:
                    waiting.append(ks)
        if waiting:
            # this level's own ConfigMaps and Secrets, before substitution; earlier levels' win on a clash
            pool = _value_pool(objects, ((ks, outputs[path]) for path, group in by_path.items() for ks in group))
            for ks in waiting:
                rendered[ks.origin.id] = self._apply(ks, targets[ks.origin.id], outputs, pool)
        for ks in level:
            if ks.origin.id not in rendered:
                rendered[ks.origin.id] = self._apply(ks, targets[ks.origin.id], outputs, earlier)
        return rendered

    def _apply(
        self,
        ks: FluxKustomization,
        full_path: str | None,
        outputs: Mapping[str, BuildOutput],
        pool: Mapping[ObjectId, Mapping[str, Any]],
    ) -> list[RenderedObject]:
        if full_path is None:
            return []
        origin = ks.origin
        if full_path not in self._dirs:
            if ks.source is not None and ks.source.kind == EXTERNAL_ARTIFACT:
                what = f"./{ks.path} of {ks.source.kind} {ks.source.namespace}/{ks.source.name}, which it does not hold"
            else:
                what = f"./{full_path}, which does not exist in the repository"
            self.findings.append(
                Finding(
                    origin.file,
                    origin.line_of(("spec", "path")),
                    "ks-path-missing",
                    f"Kustomization {origin.id} builds {what}",
                    "point spec.path at an existing folder (paths are relative to the source root)",
                )
            )
            return []
        output = outputs[full_path]
        if output.error is not None:
            if not any(self.broken(self._origins.get(file, file)) for file in output.files):
                self.findings.append(self._build_failure(ks, full_path, output.error))
            return []
        variables = self._variables(ks, pool)
        if variables is None:
            return []
        rendered: list[RenderedObject] = []
        for built in output.objects:
            body = _with_namespace(built.body, ks.target_namespace)
            file = built.origin or full_path
            before = _rendered(body, self._origins.get(file, file), self.index, origin.id)
            after = self._substitute(ks, before, variables) if variables else before
            if after is not None:
                rendered.append(after)
                if self.check is not None:
                    self.findings.extend(self.check(after))
        return rendered

    def _build_failure(self, ks: FluxKustomization, full_path: str, error: str) -> Finding:
        kustomization = next(
            (
                f"{full_path}/{n}".lstrip("/")
                for n in KUSTOMIZATION_FILES
                if f"{full_path}/{n}".lstrip("/") in self.files
            ),
            None,
        )
        file, line = (kustomization, 1) if kustomization else (ks.origin.file, ks.origin.line_of(("spec", "path")))
        summary = " ".join(error.strip().splitlines()[-3:])[:400]
        return Finding(
            file, line, "build-failed", f"kustomize build of ./{full_path} failed: {summary}", "fix the kustomization"
        )

    def _variables(self, ks: FluxKustomization, pool: Mapping[ObjectId, Mapping[str, Any]]) -> dict[str, str] | None:
        """The variables of `ks`, or None when a required substituteFrom is missing (Flux fails the build)."""
        variables: dict[str, str] = {}
        missing = False
        for position, ref in enumerate(ks.substitute_from):
            found = pool.get(_ref_id(ref))
            if found is None:
                if not ref.optional:
                    missing = True
                    self.findings.append(
                        Finding(
                            ks.origin.file,
                            ks.origin.line_of(("spec", "postBuild", "substituteFrom", position)),
                            "subst-from-missing",
                            f"Kustomization {ks.origin.id} substitutes from {ref.kind} {ref.namespace}/{ref.name}, "
                            "which no Kustomization of this cluster applies",
                            "add the object to the repository or mark the entry optional: true",
                        )
                    )
                continue
            variables.update(variables_of(found))
        variables.update(ks.substitute)
        for name in invalid_names(variables):
            self.findings.append(
                Finding(
                    ks.origin.file,
                    ks.origin.line_of(("spec", "postBuild")),
                    "subst-invalid-name",
                    f"variable name {name!r} is invalid for Flux substitution",
                    "use letters, digits and underscores, not starting with a digit",
                )
            )
        return None if missing else variables

    def _substitute(
        self, ks: FluxKustomization, obj: RenderedObject, variables: Mapping[str, str]
    ) -> RenderedObject | None:
        if is_opted_out(obj.body) or not _has_dollar(obj.body):
            return obj
        try:
            result = substitute(emit(obj.body), variables)
        except SubstitutionSyntaxError as exc:
            start = obj.line_of()
            self.findings.append(
                Finding(obj.file, start, "subst-syntax", f"{obj.id}: {exc}", "fix the ${...} expression")
            )
            return None
        for name in result.unset:
            start = obj.line_of()
            self.findings.append(
                Finding(
                    obj.file,
                    self.index.line_containing(obj.file, "${" + name, start) or start,
                    "subst-unset",
                    f"variable {name} is not set and has no default; Flux's strict substitution fails "
                    f"Kustomization {ks.origin.id}",
                    f"set {name} in postBuild.substitute or substituteFrom, or write ${{{name}:=default}}",
                )
            )
        if result.unset:
            return None
        try:
            docs = load(result.text)
        except YamlError as exc:
            self.findings.append(
                Finding(
                    obj.file,
                    obj.line_of(),
                    "subst-yaml",
                    f"{obj.id} is not valid YAML after substitution: {exc}",
                    "quote the substituted value",
                )
            )
            return None
        body = docs[0] if docs and isinstance(docs[0], dict) else {}
        return RenderedObject(
            object_id(body), str(body.get("apiVersion", "")), body, obj.file, ks.origin.id, obj.locate
        )


def _ancestors(directory: str) -> list[str]:
    parts = directory.split("/") if directory else []
    return ["/".join(parts[:i]) for i in range(len(parts))]


def _with_namespace(body: Mapping[str, Any], target: str) -> Mapping[str, Any]:
    if not target or body.get("kind") in CLUSTER_SCOPED_KINDS:
        return body
    meta = dict(body.get("metadata") or {})
    meta["namespace"] = target
    return {**body, "metadata": meta}


def _value_pool(
    objects: Iterable[RenderedObject], builds: Iterable[tuple[FluxKustomization, BuildOutput]] = ()
) -> dict[ObjectId, Mapping[str, Any]]:
    """ConfigMaps and Secrets by identity: those `builds` produce (before substitution), then `objects`."""
    pool: dict[ObjectId, Mapping[str, Any]] = {}
    for ks, output in builds:
        for built in output.objects:
            _pool_add(pool, _with_namespace(built.body, ks.target_namespace))
    for obj in objects:
        _pool_add(pool, obj.body)
    return pool


def _ref_id(ref: Ref) -> ObjectId:
    return ObjectId("", ref.kind, ref.namespace, ref.name)


def _has_dollar(value: Any) -> bool:
    """True when any key or string below `value` has a `$` (without one, substitution changes nothing)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "$" in item:
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _pool_add(pool: dict[ObjectId, Mapping[str, Any]], body: Mapping[str, Any]) -> None:
    if body.get("apiVersion") == "v1" and body.get("kind") in ("ConfigMap", "Secret"):
        pool[object_id(body)] = body
