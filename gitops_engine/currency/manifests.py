"""Flux objects read from a repository file with the byte position of every scalar the bot may edit.

Only files that can hold Flux objects are parsed (a cheap byte test first), with PyYAML's C composer so each
scalar keeps its source marks. Marks count characters; they are turned into byte offsets here so edits can
slice the file's bytes directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from gitops_engine.core.yamlio import load_fast

_FLUX_KINDS = frozenset({"HelmRelease", "HelmRepository", "OCIRepository", "HelmChart", "Kustomization"})
_KIND_HINT = re.compile(rb"kind:\s*[\"']?(HelmRelease|HelmRepository|OCIRepository|HelmChart|Kustomization)\b")
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Scalar:
    """A scalar as written: its value, byte range (quotes included), 1-based line and quoting style."""

    value: str
    start: int
    end: int
    line: int
    style: str


@dataclass(frozen=True)
class FluxObject:
    """One Flux document: identity, where it sits, and the fields the bot reads (string values or Scalars)."""

    path: str
    doc: int
    line: int
    api_version: str
    kind: str
    name: str
    namespace: str | None
    fields: dict[str, Scalar]

    def text(self, key: str) -> str | None:
        """The value of a field, or None when it is missing."""
        scalar = self.fields.get(key)
        return None if scalar is None else scalar.value


# Dotted paths of the fields each kind needs; `spec.postBuild.substitute.*` is gathered separately.
_WANTED: dict[str, tuple[str, ...]] = {
    "HelmRelease": (
        "spec.chart.spec.chart",
        "spec.chart.spec.version",
        "spec.chart.spec.sourceRef.kind",
        "spec.chart.spec.sourceRef.name",
        "spec.chart.spec.sourceRef.namespace",
        "spec.chartRef.kind",
        "spec.chartRef.name",
        "spec.chartRef.namespace",
    ),
    "HelmRepository": ("spec.url", "spec.type", "spec.insecure"),
    "OCIRepository": ("spec.url", "spec.ref.tag", "spec.ref.semver", "spec.ref.digest", "spec.insecure"),
    "HelmChart": (
        "spec.chart",
        "spec.version",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.sourceRef.namespace",
    ),
    "Kustomization": (
        "spec.path",
        "spec.targetNamespace",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.postBuild.substitute",
    ),
}


class _RawLoader(yaml.CSafeLoader):
    """The C composer without implicit tag resolution: the bot reads every scalar as the text written."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return "tag:yaml.org,2002:str" if kind is yaml.ScalarNode else "tag:yaml.org,2002:map"


def might_hold_flux(data: bytes) -> bool:
    """Cheap pre-filter: only files naming a Flux kind are worth parsing."""
    return _KIND_HINT.search(data) is not None


def read_objects(path: str, data: bytes) -> list[FluxObject]:
    """Every Flux object in the file; raises yaml.YAMLError for a file that is not YAML."""
    offsets = _ByteOffsets(data)
    found: list[FluxObject] = []
    for doc_index, root in enumerate(yaml.compose_all(data, Loader=_RawLoader)):
        if not isinstance(root, yaml.MappingNode):
            continue
        top = _mapping(root)
        kind = _plain(top.get("kind"))
        api = _plain(top.get("apiVersion")) or ""
        if kind not in _FLUX_KINDS or not api.endswith(tuple(f".fluxcd.io/{v}" for v in _API_VERSIONS)):
            continue
        meta_node = top.get("metadata")
        meta = _mapping(meta_node) if isinstance(meta_node, yaml.MappingNode) else {}
        fields: dict[str, Scalar] = {}
        _collect(root, _WANTED_TREES[kind], "", offsets, fields)
        found.append(
            FluxObject(
                path=path,
                doc=doc_index,
                line=root.start_mark.line + 1,
                api_version=api,
                kind=kind,
                name=_plain(meta.get("name")) or "",
                namespace=_plain(meta.get("namespace")),
                fields=fields,
            )
        )
    return found


def _tree_of(paths: tuple[str, ...]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted in paths:
        node = tree
        for part in dotted.split("."):
            node = node.setdefault(part, {})
    return tree


# Each kind's wanted paths as a nested dict, so a document is walked once; an empty dict marks a leaf.
_WANTED_TREES = {kind: _tree_of(paths) for kind, paths in _WANTED.items()}


def _collect(
    node: yaml.MappingNode, wanted: dict[str, Any], prefix: str, offsets: _ByteOffsets, out: dict[str, Scalar]
) -> None:
    for key_node, value in node.value:
        sub = wanted.get(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
        if sub is None:
            continue
        dotted = f"{prefix}{key_node.value}"
        if isinstance(value, yaml.ScalarNode) and not sub:
            out[dotted] = _scalar(value, offsets)
        elif isinstance(value, yaml.MappingNode):
            if sub:
                _collect(value, sub, f"{dotted}.", offsets, out)
            else:
                # a wanted mapping leaf (postBuild.substitute): every scalar entry of it
                for k, v in value.value:
                    if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode):
                        out[f"{dotted}.{k.value}"] = _scalar(v, offsets)


_API_VERSIONS = ("v1", "v1beta1", "v1beta2", "v2", "v2beta1", "v2beta2")


def _mapping(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _plain(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and node.value != "" else None


def _dig(node: yaml.Node, keys: list[str]) -> yaml.Node | None:
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = _mapping(node).get(key)
        if found is None:
            return None
        node = found
    return node


def _scalar(node: yaml.ScalarNode, offsets: _ByteOffsets) -> Scalar:
    return Scalar(
        value=node.value,
        start=offsets.of(node.start_mark.index),
        end=offsets.of(node.end_mark.index),
        line=node.start_mark.line + 1,
        style=node.style or "",
    )


class _ByteOffsets:
    """Character index → byte offset; the identity for ASCII files, which most manifests are."""

    def __init__(self, data: bytes) -> None:
        self._ascii = data.isascii()
        self._text = "" if self._ascii else data.decode("utf-8")

    def of(self, index: int) -> int:
        if self._ascii:
            return index
        return len(self._text[:index].encode("utf-8"))


def locate(data: bytes, doc: int, keys: tuple[str, ...]) -> Scalar | None:
    """The scalar at `keys` in document `doc` (used to confirm an edit by parsing the result again)."""
    offsets = _ByteOffsets(data)
    for index, root in enumerate(yaml.compose_all(data, Loader=_RawLoader)):
        if index == doc:
            node = _dig(root, list(keys))
            return _scalar(node, offsets) if isinstance(node, yaml.ScalarNode) else None
    return None


def kustomize_config(data: bytes) -> tuple[tuple[str, ...], str | None]:
    """`resources` (and `components`) of a kustomization.yaml and its `namespace`."""
    docs = load_fast(data)
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


def iter_substitute(obj: FluxObject) -> Iterator[tuple[str, str]]:
    """The inline `postBuild.substitute` variables of a Flux Kustomization."""
    prefix = "spec.postBuild.substitute."
    for key, scalar in obj.fields.items():
        if key.startswith(prefix):
            yield key[len(prefix) :], scalar.value
