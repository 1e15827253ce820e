"""Identity and provenance of Kubernetes objects as a repository renders them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.core.yamlio import LocatedDocument, PathKey
from gitops_engine.flux.kinds import group_of


@dataclass(frozen=True, order=True)
class ObjectId:
    """What makes an object unique in a cluster: API group, kind, namespace, name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


def object_id(doc: Mapping[str, Any]) -> ObjectId:
    """The identity of a manifest (missing fields become '')."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    return ObjectId(
        group_of(str(doc.get("apiVersion") or "")),
        str(doc.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def is_manifest(doc: Any) -> bool:
    """True for a mapping that has apiVersion and kind."""
    return isinstance(doc, Mapping) and bool(doc.get("apiVersion")) and bool(doc.get("kind"))


@dataclass(frozen=True)
class RenderedObject:
    """One object a Flux Kustomization applies, with where it came from in the repository.

    `locate` finds the written document only when a line is asked for: most objects have no finding, and
    mapping every object back to its source would cost more than building it.
    """

    id: ObjectId
    api_version: str
    body: Mapping[str, Any]
    file: str
    producer: ObjectId | None = None
    locate: Callable[[], LocatedDocument | None] | None = field(default=None, compare=False, repr=False)

    @property
    def source(self) -> LocatedDocument | None:
        """The document this object was written as, when it can be told apart in its file."""
        return self.locate() if self.locate is not None else None

    def line_of(self, path: PathKey = ()) -> int:
        """The source line of `path` inside this object (the document start when unknown)."""
        source = self.source
        return 1 if source is None else source.line_of(path)
