"""Discover what each cluster applies, the way Flux does: from the sync Kustomization, level by level.

A cluster's entry point is a Flux Kustomization whose own file lies inside the path it builds (that is
what `flux bootstrap` writes as gotk-sync.yaml). Each level's paths are built in one batch; every Flux
Kustomization a build produces is followed when its source is this repository (the entry point's source,
or a source mapped to a folder with `sources`), otherwise it is recorded as external.

Builds arrive one by one while the rest of the batch is still running, and each is substituted and checked
at once, so this work overlaps with kustomize instead of following it. Only a Kustomization whose
substituteFrom names an object no earlier level applied has to wait for its whole level (a sibling might
apply it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gitops_engine.core.yamlio import YamlError, emit, load
from gitops_engine.model.finding import Finding
from gitops_engine.validate.build import Builder, BuildOutput
from gitops_engine.validate.fluxks import (
    FluxKustomization,
    Ref,
    clean_path,
    is_flux_kustomization,
    parse_kustomization,
)
from gitops_engine.validate.locate import SourceIndex
from gitops_engine.validate.objects import (
    CLUSTER_SCOPED_KINDS,
    FLUX_KS_GROUP,
    ObjectId,
    RenderedObject,
    is_manifest,
    object_id,
)
from gitops_engine.validate.substitute import SubstitutionSyntaxError, invalid_names, substitute

SUBSTITUTE_KEY = f"{FLUX_KS_GROUP}/substitute"

# Findings about one rendered object, computed as soon as the object exists (see discover's `check`).
ObjectCheck = Callable[[RenderedObject], Iterable[Finding]]


@dataclass(frozen=True)
class Cluster:
    """Everything one entry point applies, directly or through nested Flux Kustomizations."""

    name: str
    root: FluxKustomization
    kustomizations: tuple[FluxKustomization, ...]
    objects: tuple[RenderedObject, ...]
    external: tuple[FluxKustomization, ...] = ()


@dataclass(frozen=True)
class Discovery:
    """All clusters found in a tree and the problems met while building them."""

    clusters: tuple[Cluster, ...]
    findings: tuple[Finding, ...] = field(default=())


def discover(
    files: Mapping[str, bytes],
    builder: Builder,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    broken: Callable[[str], bool] | None = None,
    index: SourceIndex | None = None,
    check: ObjectCheck | None = None,
) -> Discovery:
    """Find the entry points of `files` (or start at `path`) and render every cluster.

    `check` runs on every object as it is rendered; its findings join the discovery's. `index` shares
    parsed files with the caller. A failed build that reads a file `broken` accepts is not reported (the
    caller reports that file instead).
    """
    index = index or SourceIndex(files)
    walker = _Walker(files, builder, index, dict(sources or {}), broken or (lambda _: False), check)
    roots = [_synthetic_root(clean_path(path))] if path is not None else find_roots(files, index, sources or {})
    if not roots:
        roots = [_synthetic_root("")]
    walks = [walker.walk(root) for root in roots]
    reached = [{(ks.id, ks.path) for ks in cluster.kustomizations} for cluster in walks]
    kept: list[int] = []
    for i, cluster in enumerate(walks):
        key = (cluster.root.id, cluster.root.path)
        # A candidate another entry point applies is part of that cluster, unless they apply each other
        # (then the first, shortest path, stands for both).
        inside_other = any(
            j != i and key in reached[j] and (j in kept or (walks[j].root.id, walks[j].root.path) not in reached[i])
            for j in range(len(walks))
        )
        if not inside_other:
            kept.append(i)
    findings = {f for i in kept for f in walker.findings_of[i]}
    return Discovery(tuple(walks[i] for i in kept), tuple(sorted(findings)))


def find_roots(files: Mapping[str, bytes], index: SourceIndex, sources: Mapping[str, str]) -> list[FluxKustomization]:
    """Flux Kustomizations that build a folder containing their own file, shortest path first."""
    roots: list[FluxKustomization] = []
    for file in index.yaml_paths:
        if b"kustomize.toolkit.fluxcd.io" not in files[file]:
            continue
        for doc in index.data(file):
            if not is_manifest(doc):
                continue
            obj = _rendered(doc, file, index, None)
            if not is_flux_kustomization(obj):
                continue
            ks = parse_kustomization(obj)
            if ks.source is None or (ks.source.kind != "GitRepository" and ks.source.name not in sources):
                continue
            full = _join(clean_path(sources.get(ks.source.name, "")), ks.path)
            if full == "" or file.startswith(full + "/"):
                roots.append(ks)
    return sorted(roots, key=lambda ks: (ks.path.count("/"), ks.path, ks.id))


def _synthetic_root(path: str) -> FluxKustomization:
    ks_id = ObjectId(FLUX_KS_GROUP, "Kustomization", "flux-system", path or "root")
    origin = RenderedObject(ks_id, f"{FLUX_KS_GROUP}/v1", {}, path or ".")
    return FluxKustomization(ks_id, path, None, "", {}, (), (), None, origin)


def _join(base: str, path: str) -> str:
    return clean_path(posixpath.join(base, path)) if base else path


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
        sources: dict[str, str],
        broken: Callable[[str], bool],
        check: ObjectCheck | None,
    ) -> None:
        self.files = files
        self.builder = builder
        self.index = index
        self.sources = sources
        self.broken = broken
        self.check = check
        self.findings: list[Finding] = []
        self.findings_of: list[list[Finding]] = []
        self._dirs = {posixpath.dirname(p) for p in files}
        self._dirs.update(d for p in list(self._dirs) for d in _ancestors(p))

    def walk(self, root: FluxKustomization) -> Cluster:
        self.findings = []
        self.findings_of.append(self.findings)
        seen: set[ObjectId] = {root.id}
        followed: list[FluxKustomization] = [root]
        objects: list[RenderedObject] = []
        external: list[FluxKustomization] = []
        level = [root]
        while level:
            rendered = self._render_level(level, root, objects)
            next_level: list[FluxKustomization] = []
            for ks in level:
                for obj in rendered[ks.id]:
                    objects.append(obj)
                    if not is_flux_kustomization(obj) or obj.id in seen:
                        continue
                    child = parse_kustomization(obj)
                    seen.add(child.id)
                    (next_level if self._full_path(child, root) is not None else external).append(child)
            followed.extend(next_level)
            level = next_level
        return Cluster(root.path or ".", root, tuple(followed), tuple(objects), tuple(external))

    def _render_level(
        self, level: list[FluxKustomization], root: FluxKustomization, objects: list[RenderedObject]
    ) -> dict[ObjectId, list[RenderedObject]]:
        """The objects each Kustomization of `level` applies, rendering each build as soon as it arrives."""
        targets = {ks.id: self._full_path(ks, root) for ks in level}
        by_path: dict[str, list[FluxKustomization]] = defaultdict(list)
        for ks in level:
            target = targets[ks.id]
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
                    rendered[ks.id] = self._apply(ks, output.path, outputs, earlier)
                else:
                    waiting.append(ks)
        if waiting:
            # this level's own ConfigMaps and Secrets, before substitution; earlier levels' win on a clash
            pool = _value_pool(objects, ((ks, outputs[path]) for path, group in by_path.items() for ks in group))
            for ks in waiting:
                rendered[ks.id] = self._apply(ks, targets[ks.id], outputs, pool)
        for ks in level:
            if ks.id not in rendered:
                rendered[ks.id] = self._apply(ks, targets[ks.id], outputs, earlier)
        return rendered

    def _full_path(self, ks: FluxKustomization, root: FluxKustomization) -> str | None:
        """Where `ks` builds inside this repository, or None when its source is somewhere else."""
        if ks.source is None:
            return ks.path
        if ks.source.name in self.sources:
            return _join(clean_path(self.sources[ks.source.name]), ks.path)
        same_source = root.source is not None and (ks.source.kind, ks.source.name) == (
            root.source.kind,
            root.source.name,
        )
        if same_source or (root.source is None and ks.source.kind == "GitRepository"):
            return ks.path
        return None

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
            self.findings.append(
                Finding(
                    origin.file,
                    origin.line_of(("spec", "path")),
                    "ks-path-missing",
                    f"Kustomization {ks.id} builds ./{full_path}, which does not exist in the repository",
                    "point spec.path at an existing folder (paths are relative to the source root)",
                )
            )
            return []
        output = outputs[full_path]
        if output.error is not None:
            if not any(self.broken(file) for file in output.files):
                self.findings.append(self._build_failure(ks, full_path, output.error))
            return []
        variables = self._variables(ks, pool)
        if variables is None:
            return []
        rendered: list[RenderedObject] = []
        for built in output.objects:
            body = _with_namespace(built.body, ks.target_namespace)
            file = built.origin or full_path
            before = _rendered(body, file, self.index, ks.id)
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
                for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
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
                            f"Kustomization {ks.id} substitutes from {ref.kind} {ref.namespace}/{ref.name}, "
                            "which no Kustomization of this cluster applies",
                            "add the object to the repository or mark the entry optional: true",
                        )
                    )
                continue
            variables.update(_values_of(found))
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
        meta = obj.body.get("metadata") or {}
        marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
        if marks.get(SUBSTITUTE_KEY) == "disabled" or not _has_dollar(obj.body):
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
                    f"Kustomization {ks.id}",
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
        return RenderedObject(object_id(body), str(body.get("apiVersion", "")), body, obj.file, ks.id, obj.locate)


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


def _values_of(body: Mapping[str, Any]) -> dict[str, str]:
    """Variables a ConfigMap or Secret provides (Secret `data` decoded; SOPS values stay as written)."""
    values: dict[str, str] = {}
    for key, value in (body.get("data") or {}).items():
        text = "" if value is None else str(value)
        if body.get("kind") == "Secret":
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                text = base64.b64decode(text, validate=True).decode()
        values[str(key)] = text.replace("\n", "")
    for key, value in (body.get("stringData") or {}).items():
        values[str(key)] = ("" if value is None else str(value)).replace("\n", "")
    return values
