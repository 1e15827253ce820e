"""Flux's API groups and kinds, and the Kubernetes kinds that carry no namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
# source-watcher (Flux 2.7): ArtifactGenerator, which composes ExternalArtifacts from other sources
SOURCE_EXTENSIONS_GROUP = "source.extensions.fluxcd.io"
FLUX_GROUPS = frozenset(
    {SOURCE_GROUP, KUSTOMIZE_GROUP, HELM_GROUP, NOTIFICATION_GROUP, IMAGE_GROUP, SOURCE_EXTENSIONS_GROUP}
)

GIT_REPOSITORY = "GitRepository"
OCI_REPOSITORY = "OCIRepository"
HELM_REPOSITORY = "HelmRepository"
HELM_CHART = "HelmChart"
BUCKET = "Bucket"
EXTERNAL_ARTIFACT = "ExternalArtifact"
ARTIFACT_GENERATOR = "ArtifactGenerator"
KUSTOMIZATION = "Kustomization"
HELM_RELEASE = "HelmRelease"

# The label or annotation that opts an object out of postBuild substitution.
SUBSTITUTE_MARK = f"{KUSTOMIZE_GROUP}/substitute"

# Kinds that never carry a namespace: targetNamespace and reference defaults skip them.
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


def group_of(api_version: str) -> str:
    """The API group of `apiVersion` ('' for the core group)."""
    return api_version.rpartition("/")[0]


def is_kind(doc: Mapping[str, Any], group: str, kind: str) -> bool:
    """True when the manifest `doc` is a `kind` of API `group` (any version)."""
    return doc.get("kind") == kind and group_of(str(doc.get("apiVersion") or "")) == group


def is_flux_kustomization(doc: Mapping[str, Any]) -> bool:
    """True for kustomize.toolkit.fluxcd.io Kustomization objects (not kustomize's own kustomization files)."""
    return is_kind(doc, KUSTOMIZE_GROUP, KUSTOMIZATION)
