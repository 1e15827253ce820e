"""Builders for the Kubernetes and Flux objects the engine writes; plain dicts in a stable key order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FLUX_NAMESPACE = "kommander-flux"
KOMMANDER_NAMESPACE = "kommander"
SYNC_SOURCE = "management"
VARS_CONFIGMAP = "kommander-vars"
SOPS_SECRET = "sops-age"
SOPS_SECRET_KEY = "age.agekey"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "gitops-engine"
# Kommander's label naming the workspace an object (a namespace, a managed cluster) belongs to
WORKSPACE_LABEL = "workspaces.kommander.mesosphere.io/workspace-name"
FLUX_CHART = ("flux2", "2.14.1", "https://fluxcd-community.github.io/helm-charts")

Obj = dict[str, Any]


def meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Obj:
    """`metadata` with only the fields given."""
    out: Obj = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(sorted(labels.items()))
    return out


def namespace(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    """A v1 Namespace."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, labels=labels)}


def config_map(name: str, ns: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None) -> Obj:
    """A v1 ConfigMap with sorted data keys."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, ns, labels),
        "data": dict(sorted(data.items())),
    }


def kustomization_file(resources: Sequence[str]) -> Obj:
    """A kustomize `kustomization.yaml` listing `resources` in the order given."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }


def git_repository(name: str, ns: str, url: str, ref: Mapping[str, str], interval: str, **extra: Any) -> Obj:
    """A source.toolkit.fluxcd.io/v1 GitRepository."""
    spec: Obj = {"interval": interval, "url": url, "ref": dict(ref)}
    spec.update(extra)
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": meta(name, ns),
        "spec": spec,
    }


def helm_repository(name: str, url: str) -> Obj:
    """A source.toolkit.fluxcd.io/v1 HelmRepository in kommander-flux whose URL a mirror can override."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": meta(name, FLUX_NAMESPACE, {MANAGED_LABEL: MANAGER}),
        "spec": {"interval": "1h", "url": f"${{helmMirrorURL:={url}}}"},
    }


def flux_kustomization(
    name: str,
    ns: str,
    path: str,
    *,
    interval: str = "6h",
    depends_on: Sequence[tuple[str, str]] = (),
    substitute: Mapping[str, str] | None = None,
    substitute_from_vars: bool = True,
    decrypt: bool = False,
    wait: bool = True,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """A kustomize.toolkit.fluxcd.io/v1 Kustomization reading from the `management` GitRepository."""
    spec: Obj = {
        "interval": interval,
        "retryInterval": "1m",
        "timeout": "5m",
        "path": path,
        "prune": True,
        "wait": wait,
        "sourceRef": {"kind": "GitRepository", "name": SYNC_SOURCE, "namespace": FLUX_NAMESPACE},
    }
    if depends_on:
        spec["dependsOn"] = [{"name": n, "namespace": dep_ns} for n, dep_ns in depends_on]
    post_build: Obj = {}
    if substitute:
        post_build["substitute"] = dict(substitute)
    if substitute_from_vars:
        post_build["substituteFrom"] = [{"kind": "ConfigMap", "name": VARS_CONFIGMAP, "optional": True}]
    if post_build:
        spec["postBuild"] = post_build
    if decrypt:
        spec["decryption"] = {"provider": "sops", "secretRef": {"name": SOPS_SECRET}}
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": meta(name, ns, labels),
        "spec": spec,
    }


def flux_release(name: str, ns: str, source: str) -> Obj:
    """The HelmRelease of Flux itself (FLUX_CHART) from the HelmRepository `source` in kommander-flux."""
    chart, version, _ = FLUX_CHART
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": meta(name, ns),
        "spec": {
            "interval": "1h",
            "releaseName": "kommander-flux",
            "chart": {
                "spec": {
                    "chart": chart,
                    "version": version,
                    "sourceRef": {"kind": "HelmRepository", "name": source, "namespace": FLUX_NAMESPACE},
                }
            },
            # Flux cannot uninstall or roll back itself cleanly, so it is never remediated or uninstalled by Helm.
            "install": {"crds": "CreateReplace", "disableHooks": True, "remediation": {"retries": 0}},
            "upgrade": {"crds": "CreateReplace", "disableHooks": True, "remediation": {"retries": 0}},
            "uninstall": {"deletionPropagation": "orphan", "keepHistory": True},
            "values": {
                "watchAllNamespaces": True,
                "imageAutomationController": {"create": False},
                "imageReflectionController": {"create": False},
            },
        },
    }
