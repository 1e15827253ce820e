"""Flux objects read from a repository file with the byte position of every scalar the bot may edit.

Only files that can hold Flux objects are read (a cheap byte test first). They are composed with PyYAML's C
composer, whose marks count characters and are turned into byte offsets here so edits can slice the file's bytes
directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any

from gitops_engine.core.yamlio import (
    ByteOffsets,
    MappingNode,
    Scalar,
    ScalarNode,
    SequenceNode,
    compose,
    load,
    scalar_at,
)
from gitops_engine.flux.kinds import (
    HELM_CHART,
    HELM_GROUP,
    HELM_RELEASE,
    HELM_REPOSITORY,
    KUSTOMIZATION,
    KUSTOMIZE_GROUP,
    OCI_REPOSITORY,
    SOURCE_GROUP,
    group_of,
)
from gitops_engine.flux.kustomization import Kustomization, parse_kustomization
from gitops_engine.flux.substitute import variables_of

__all__ = [
    "FluxObject",
    "ValueSource",
    "kustomization_of",
    "kustomize_config",
    "locate",
    "might_hold_flux",
    "might_hold_secret",
    "read_objects",
    "read_secrets",
    "read_value_sources",
]

# The Flux kinds the bot reads, each with the API group it belongs to.
_FLUX_KINDS = {
    HELM_RELEASE: HELM_GROUP,
    HELM_REPOSITORY: SOURCE_GROUP,
    OCI_REPOSITORY: SOURCE_GROUP,
    HELM_CHART: SOURCE_GROUP,
    KUSTOMIZATION: KUSTOMIZE_GROUP,
}
_KIND_HINT = re.compile(rb"kind:\s*[\"']?(" + "|".join(_FLUX_KINDS).encode() + rb")\b")
_SUBSTITUTE = "spec.postBuild.substitute"
_SUBSTITUTE_PREFIX = f"{_SUBSTITUTE}."
_SUBSTITUTE_FROM = "spec.postBuild.substituteFrom"
_SUBSTITUTE_FROM_PREFIX = f"{_SUBSTITUTE_FROM}."
# Fields whose scalar a bump rewrites: these keep their byte range, every other field only its text.
_EDITABLE = frozenset({"spec.chart.spec.version", "spec.ref.tag", "spec.ref.semver", "spec.version"})


@dataclass(frozen=True)
class FluxObject:
    """One Flux document: identity, where it sits, the text of the fields the bot reads, editable scalars."""

    path: str
    doc: int
    line: int
    api_version: str
    kind: str
    name: str
    namespace: str | None
    fields: Mapping[str, str]
    scalars: Mapping[str, Scalar]

    def text(self, key: str) -> str | None:
        """The value of a field, or None when it is missing."""
        return self.fields.get(key)


# Dotted paths of the fields each kind needs; `spec.postBuild.substitute.*` and `...substituteFrom.<i>.*` are
# gathered separately.
_WANTED: dict[str, tuple[str, ...]] = {
    HELM_RELEASE: (
        "spec.chart.spec.chart",
        "spec.chart.spec.version",
        "spec.chart.spec.sourceRef.kind",
        "spec.chart.spec.sourceRef.name",
        "spec.chart.spec.sourceRef.namespace",
        "spec.chartRef.kind",
        "spec.chartRef.name",
        "spec.chartRef.namespace",
    ),
    HELM_REPOSITORY: ("spec.url", "spec.type", "spec.insecure", "spec.secretRef.name"),
    OCI_REPOSITORY: (
        "spec.url",
        "spec.ref.tag",
        "spec.ref.semver",
        "spec.ref.digest",
        "spec.insecure",
        "spec.secretRef.name",
    ),
    HELM_CHART: (
        "spec.chart",
        "spec.version",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.sourceRef.namespace",
    ),
    KUSTOMIZATION: (
        "spec.path",
        "spec.targetNamespace",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.sourceRef.namespace",
        "spec.kubeConfig.secretRef.name",
        "spec.kubeConfig.configMapRef.name",
        _SUBSTITUTE,
        _SUBSTITUTE_FROM,
    ),
}
# A wanted-key tree: each key maps to (read as a scalar leaf, read every scalar child, wanted children, its dotted
# path); the path is spelled once here rather than joined again for every key of every document read
Wanted = Mapping[str, tuple[bool, bool, Any, str]]


def _wanted_tree(paths: tuple[str, ...], map_leaves: tuple[str, ...] = ()) -> Wanted:
    """The tree to read: dotted `paths` are scalar leaves, `map_leaves` take every scalar child."""
    root: dict[str, Any] = {}
    for dotted, every in [(p, False) for p in paths] + [(p, True) for p in map_leaves]:
        node = root
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}).setdefault("", {})
        node.setdefault(last, {})["every" if every else "leaf"] = True
    return _freeze(root, "")


def _freeze(node: dict[str, Any], prefix: str) -> Wanted:
    return {
        name: (
            bool(spec.get("leaf")),
            bool(spec.get("every")),
            _freeze(spec.get("", {}), f"{prefix}{name}."),
            f"{prefix}{name}",
        )
        for name, spec in node.items()
    }


_IDENTITY = ("apiVersion", "kind", "metadata.name", "metadata.namespace")
# leaves read whole: a map of scalars (substitute) and a list of maps of scalars (substituteFrom)
_MAP_LEAVES = (_SUBSTITUTE, _SUBSTITUTE_FROM)
# Every kind's fields in one tree: the kind is only known once its `kind:` line has been read.
_ALL_WANTED = _wanted_tree(
    _IDENTITY + tuple(sorted({p for paths in _WANTED.values() for p in paths if p not in _MAP_LEAVES})), _MAP_LEAVES
)
_KEEP = {kind: frozenset(paths) for kind, paths in _WANTED.items()}


_SECRET_HINT = re.compile(rb"kind:\s*[\"']?Secret\b")
_IDENTITY_ONLY = _wanted_tree(_IDENTITY)


def might_hold_secret(data: bytes) -> bool:
    """Cheap pre-filter for `read_secrets`."""
    return _SECRET_HINT.search(data) is not None


def read_secrets(path: str, data: bytes) -> list[FluxObject]:
    """Every `v1` Secret of the file by identity only (kind, name, namespace): its values are never read here."""
    found: list[FluxObject] = []
    for doc_index, line, scalars in _documents(data, _IDENTITY_ONLY):
        values = {k: v.value for k, v in scalars.items()}
        if values.get("kind") == "Secret" and values.get("apiVersion") == "v1" and values.get("metadata.name"):
            namespace = values.get("metadata.namespace") or None
            found.append(FluxObject(path, doc_index, line, "v1", "Secret", values["metadata.name"], namespace, {}, {}))
    return found


def might_hold_flux(data: bytes) -> bool:
    """Cheap pre-filter: only files naming a Flux kind are worth parsing."""
    return _KIND_HINT.search(data) is not None


def read_objects(path: str, data: bytes) -> list[FluxObject]:
    """Every Flux object in the file; raises YamlError for a file that is not YAML (or is over a limit)."""
    found: list[FluxObject] = []
    for doc_index, line, scalars in _documents(data, _ALL_WANTED):
        values = {k: v.value for k, v in scalars.items()}
        editable = {k: v for k, v in scalars.items() if k in _EDITABLE}
        obj = _object(path, doc_index, line, values, editable)
        if obj is not None:
            found.append(obj)
    return found


def _documents(data: bytes, wanted: Wanted) -> Iterator[tuple[int, int, dict[str, Scalar]]]:
    """(index, first line, the `wanted` scalars by dotted path) for each mapping document of the file."""
    offsets = ByteOffsets(data)
    for doc_index, root in enumerate(compose(data)):
        if isinstance(root, MappingNode):
            scalars: dict[str, Scalar] = {}
            _collect(root, wanted, offsets, scalars)
            yield doc_index, root.start_mark.line + 1, scalars


def _object(
    path: str, doc: int, line: int, values: Mapping[str, str], scalars: Mapping[str, Scalar]
) -> FluxObject | None:
    """The Flux object a document's values describe, or None for any other document."""
    kind = values.get("kind")
    api = values.get("apiVersion") or ""
    if kind not in _FLUX_KINDS or group_of(api) != _FLUX_KINDS[kind]:
        return None
    keep = _KEEP[kind]
    prefixes = tuple(f"{leaf}." for leaf in _MAP_LEAVES if leaf in keep)
    fields = {k: v for k, v in values.items() if k in keep or (prefixes and k.startswith(prefixes))}
    return FluxObject(
        path=path,
        doc=doc,
        line=line,
        api_version=api,
        kind=kind,
        # an empty name or namespace is no name, as for a missing one
        name=values.get("metadata.name") or "",
        namespace=values.get("metadata.namespace") or None,
        fields=fields,
        scalars={k: v for k, v in scalars.items() if k in keep},
    )


def _collect(node: MappingNode, wanted: Wanted, offsets: ByteOffsets, out: dict[str, Scalar]) -> None:
    for key_node, value in node.value:
        entry = wanted.get(key_node.value) if isinstance(key_node, ScalarNode) else None
        if entry is None:
            continue
        leaf, every, children, dotted = entry
        if isinstance(value, ScalarNode):
            if leaf:
                out[dotted] = offsets.scalar(value)
        elif isinstance(value, MappingNode):
            if children:
                _collect(value, children, offsets, out)
            elif every:
                # a wanted mapping leaf (postBuild.substitute): every scalar entry of it
                _scalars_of(value, dotted, offsets, out)
        elif isinstance(value, SequenceNode) and every:
            # a wanted list leaf (postBuild.substituteFrom): every scalar entry of each mapping, by position
            for position, item in enumerate(value.value):
                if isinstance(item, MappingNode):
                    _scalars_of(item, f"{dotted}.{position}", offsets, out)


def _scalars_of(node: MappingNode, dotted: str, offsets: ByteOffsets, out: dict[str, Scalar]) -> None:
    for k, v in node.value:
        if isinstance(k, ScalarNode) and isinstance(v, ScalarNode):
            out[f"{dotted}.{k.value}"] = offsets.scalar(v)


def locate(data: bytes, doc: int, keys: tuple[str, ...]) -> Scalar | None:
    """The scalar at `keys` in document `doc` (used to confirm an edit by parsing the result again)."""
    return scalar_at(data, doc, keys)


def kustomize_config(data: bytes) -> tuple[tuple[str, ...], str | None]:
    """`resources` (and `components`) of a kustomization.yaml and its `namespace`."""
    docs = load(data)
    loaded = docs[0] if docs else None
    if not isinstance(loaded, dict):
        return (), None
    entries: list[str] = []
    for key in ("resources", "components", "bases"):
        value = loaded.get(key)
        if isinstance(value, list):
            entries.extend(str(item) for item in value if isinstance(item, str))
    namespace = loaded.get("namespace")
    return tuple(entries), namespace if isinstance(namespace, str) and namespace else None


def kustomization_of(obj: FluxObject) -> Kustomization[FluxObject]:
    """The Flux Kustomization `obj` holds, read by the flux layer's one parser."""
    spec: dict[str, Any] = {}
    substitute: dict[str, str] = {}
    substitute_from: dict[int, dict[str, Any]] = {}
    for key, value in obj.fields.items():
        if key.startswith(_SUBSTITUTE_PREFIX):
            substitute[key[len(_SUBSTITUTE_PREFIX) :]] = value
        elif key.startswith(_SUBSTITUTE_FROM_PREFIX):
            position, _, field = key[len(_SUBSTITUTE_FROM_PREFIX) :].partition(".")
            entry = substitute_from.setdefault(int(position), {})
            entry[field] = value == "true" if field == "optional" else value
        else:
            node = spec
            *parents, last = key.removeprefix("spec.").split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
    post_build: dict[str, Any] = {}
    if substitute:
        post_build["substitute"] = substitute
    if substitute_from:
        post_build["substituteFrom"] = [substitute_from[i] for i in sorted(substitute_from)]
    if post_build:
        spec["postBuild"] = post_build
    body = {"metadata": {"name": obj.name, "namespace": obj.namespace or ""}, "spec": spec}
    return parse_kustomization(body, obj)


@dataclass(frozen=True)
class ValueSource:
    """A ConfigMap or Secret a Kustomization may substitute from; a SOPS-encrypted one's values are unknown."""

    path: str
    kind: str
    name: str
    namespace: str | None
    values: Mapping[str, str]
    sealed: bool = False


def read_value_sources(path: str, data: bytes, names: Set[str]) -> list[ValueSource]:
    """The ConfigMaps and Secrets named in `names` that the file holds (YamlError for a file that is not YAML)."""
    found: list[ValueSource] = []
    for doc in load(data):
        if not isinstance(doc, dict) or doc.get("apiVersion") != "v1" or doc.get("kind") not in ("ConfigMap", "Secret"):
            continue
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        name = str(meta.get("name") or "")
        if name in names:
            namespace = str(meta["namespace"]) if meta.get("namespace") else None
            sealed = isinstance(doc.get("sops"), dict)
            values = {} if sealed else variables_of(doc)
            found.append(ValueSource(path, str(doc["kind"]), name, namespace, values, sealed))
    return found
