"""Discover what each cluster applies, the way Flux does: from the sync Kustomization, level by level.

A cluster's entry point is a Flux Kustomization whose own file lies inside the path it builds (that is
what `flux bootstrap` writes as gotk-sync.yaml). Each level's paths are built in one batch; every Flux
Kustomization a build produces is followed when its source is this repository (the entry point's source,
or a source mapped to a folder with `sources`), otherwise it is recorded as external.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitops_engine.core.yamlio import dump, load_fast
from gitops_engine.model.finding import Finding
from gitops_engine.validate.build import Builder, BuildOutput
from gitops_engine.validate.fluxks import (
    FluxKustomization,
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


@dataclass(frozen=True)
class Cluster:
    """Everything one entry point applies, directly or through nested Flux Kustomizations."""

    name: str
    root: FluxKustomization
    kustomizations: tuple[FluxKustomization, ...]
    objects: tuple[RenderedObject, ...]
    external: tuple[FluxKustomization, ...] = ()

    def produced_by(self, ks: ObjectId) -> tuple[RenderedObject, ...]:
        """The objects the Flux Kustomization `ks` applies."""
        return tuple(o for o in self.objects if o.producer == ks)


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
    broken_files: frozenset[str] = frozenset(),
) -> Discovery:
    """Find the entry points of `files` (or start at `path`) and render every cluster."""
    index = SourceIndex(files)
    walker = _Walker(files, builder, index, dict(sources or {}), broken_files)
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
        try:
            docs = load_fast(files[file])
        except yaml.YAMLError:
            continue
        for doc in docs:
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
    return RenderedObject(oid, str(body["apiVersion"]), body, file, producer, index.find(file, oid.kind, oid.name))


class _Walker:
    def __init__(
        self,
        files: Mapping[str, bytes],
        builder: Builder,
        index: SourceIndex,
        sources: dict[str, str],
        broken_files: frozenset[str],
    ) -> None:
        self.files = files
        self.builder = builder
        self.index = index
        self.sources = sources
        self.broken_files = broken_files
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
            targets = {ks.id: self._full_path(ks, root) for ks in level}
            outputs = self.builder(sorted({p for p in targets.values() if p is not None and p in self._dirs}))
            pool = _value_pool(objects, level, targets, outputs)
            next_level: list[FluxKustomization] = []
            for ks in level:
                for obj in self._apply(ks, targets[ks.id], outputs, pool):
                    objects.append(obj)
                    if not is_flux_kustomization(obj) or obj.id in seen:
                        continue
                    child = parse_kustomization(obj)
                    seen.add(child.id)
                    (next_level if self._full_path(child, root) is not None else external).append(child)
            followed.extend(next_level)
            level = next_level
        return Cluster(root.path or ".", root, tuple(followed), tuple(objects), tuple(external))

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
            if not self.broken_files.intersection(output.files):
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
            found = pool.get(ObjectId("", ref.kind, ref.namespace, ref.name))
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
        if marks.get(SUBSTITUTE_KEY) == "disabled":
            return obj
        start = obj.line_of()
        try:
            result = substitute(dump(obj.body), variables)
        except SubstitutionSyntaxError as exc:
            self.findings.append(
                Finding(obj.file, start, "subst-syntax", f"{obj.id}: {exc}", "fix the ${...} expression")
            )
            return None
        for name in result.unset:
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
            docs = load_fast(result.text)
        except yaml.YAMLError as exc:
            self.findings.append(
                Finding(
                    obj.file,
                    start,
                    "subst-yaml",
                    f"{obj.id} is not valid YAML after substitution: {exc}",
                    "quote the substituted value",
                )
            )
            return None
        body = docs[0] if docs and isinstance(docs[0], dict) else {}
        return RenderedObject(object_id(body), str(body.get("apiVersion", "")), body, obj.file, ks.id, obj.source)


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
    objects: Sequence[RenderedObject],
    level: Sequence[FluxKustomization],
    targets: Mapping[ObjectId, str | None],
    outputs: Mapping[str, BuildOutput],
) -> dict[ObjectId, Mapping[str, Any]]:
    """ConfigMaps and Secrets applied so far, plus this level's (before substitution), by identity."""
    pool: dict[ObjectId, Mapping[str, Any]] = {}
    for ks in level:
        output = outputs.get(targets[ks.id] or "\0")
        for built in output.objects if output else ():
            _pool_add(pool, _with_namespace(built.body, ks.target_namespace))
    for obj in objects:
        _pool_add(pool, obj.body)
    return pool


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
