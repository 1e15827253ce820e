"""Identity and provenance of Kubernetes objects as a repository renders them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_engine.core.yamlio import LocatedDocument, PathKey

FLUX_KS_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"

# Kinds that never carry a namespace; targetNamespace and reference defaults skip them.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "ClusterIssuer",
        "ClusterPolicy",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "IngressClass",
        "RuntimeClass",
        "Node",
        "Workspace",
        "ClusterApp",
    }
)


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


def group_of(api_version: str) -> str:
    """The API group of `apiVersion` ('' for the core group)."""
    return api_version.rpartition("/")[0]


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
    """One object a Flux Kustomization applies, with where it came from in the repository."""

    id: ObjectId
    api_version: str
    body: Mapping[str, Any]
    file: str
    producer: ObjectId | None = None
    source: LocatedDocument | None = field(default=None, compare=False)

    def line_of(self, path: PathKey = ()) -> int:
        """The source line of `path` inside this object (the document start when unknown)."""
        if self.source is None:
            return 1
        return self.source.line_of(path)
