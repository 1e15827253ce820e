"""Managed workload clusters: what the management cluster applies to create them with Cluster API and to hand
them their own Flux sync. Pure: objects as plain dicts, emitted by the fleet render.

For a managed cluster `<c>` of a workspace with namespace `<ns>` (Cluster API keeps a cluster's objects, and
writes its `<c>-kubeconfig` Secret, in the Cluster's namespace; Kommander keeps clusters in their workspace's):

    cluster-api/classes/<class>/            the ClusterClass and its templates, copied from the catalog
    cluster-api/namespaces/<ns>/            the classes its clusters use, put in <ns> (kustomize `namespace:`)
    cluster-api/clusters/<c>/               the Cluster (spec.topology) and its MachineHealthCheck
    cluster-api/clusters/<c>/flux/          a HelmRelease installing Flux into <c> through its kubeconfig
    clusters/<management>/cluster-api/      the management cluster's Flux Kustomizations, in <ns>, in order:
        cluster-classes   → cluster-api/namespaces/<ns>
        <c>-cluster       → cluster-api/clusters/<c>        (dependsOn cluster-classes; waits for the cluster)
        <c>-flux          → cluster-api/clusters/<c>/flux   (dependsOn <c>-cluster)
        <c>-sync          → clusters/<c>/flux-system         (dependsOn <c>-flux; kubeConfig <c>-kubeconfig)

The last one delivers the workload cluster's own sync (its GitRepository and Kustomization `management`) into it,
so everything else of `clusters/<c>/`, its apps included, is applied by the cluster's own Flux after it exists:
no app can start before its cluster. It creates those two objects only when they are missing (server-side apply
`IfNotPresent`): from then on the workload cluster's own sync owns them, as after `flux bootstrap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_engine.catalog.clusterclass import CLUSTER_API_GROUP, kubeconfig_secret
from gitops_engine.core.yamlio import emit
from gitops_engine.model.catalog import helm_repository_name
from gitops_engine.model.platform import Cluster, Platform
from gitops_engine.render import objects as o

CLUSTER_API = f"{CLUSTER_API_GROUP}/v1beta2"
CLUSTERS_DIR = "cluster-api/clusters"
CLASSES_DIR = "cluster-api/classes"
NAMESPACES_DIR = "cluster-api/namespaces"
CLASSES_KUSTOMIZATION = "cluster-classes"
# Removing a cluster from the spec must not delete the running cluster: its deletion is a deliberate act
NO_PRUNE = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
_CREATE_ONLY = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}

Obj = dict[str, Any]


def managed_clusters(platform: Platform) -> list[Cluster]:
    """The workload clusters the management cluster creates, in spec order."""
    return [c for c in platform.clusters if c.managed]


def topology_version(version: str) -> str:
    """`spec.topology.version` as Cluster API's webhook wants it: with a leading `v`."""
    return f"v{version.removeprefix('v')}"


def classes_used(platform: Platform) -> list[str]:
    """The ClusterClasses the managed clusters are made from (the catalog folders to copy)."""
    return sorted({c.topology.cluster_class for c in managed_clusters(platform) if c.topology is not None})


def management_resources(platform: Platform, management: Cluster) -> list[str]:
    """What the management cluster's kustomization adds: its Cluster API Kustomizations and the namespaces of the
    workspaces it creates clusters in (they live on the management cluster, as in Kommander)."""
    managed = managed_clusters(platform)
    if not managed:
        return []
    workspaces = sorted({c.workspace for c in managed} - {management.workspace})
    return ["cluster-api", *(f"../../workspaces/{ws}" for ws in workspaces)]


def cluster_api_documents(platform: Platform) -> dict[str, list[Obj]]:
    """path → documents of every generated Cluster API file (the class copies come from the catalog)."""
    managed = managed_clusters(platform)
    management = next((c for c in platform.clusters if c.role == "management"), None)
    if not managed or management is None:
        return {}
    files: dict[str, list[Obj]] = {}
    by_namespace: dict[str, set[str]] = {}
    flux_objects: list[str] = []
    for cluster in managed:
        assert cluster.topology is not None
        ns = platform.workspace(cluster.workspace).namespace
        by_namespace.setdefault(ns, set()).add(cluster.topology.cluster_class)
        base = f"{CLUSTERS_DIR}/{cluster.name}"
        files[f"{base}/kustomization.yaml"] = [o.kustomization_file(["cluster.yaml", "machinehealthcheck.yaml"])]
        files[f"{base}/cluster.yaml"] = [_cluster(cluster, ns)]
        files[f"{base}/machinehealthcheck.yaml"] = [_health_check(cluster, ns)]
        files[f"{base}/flux/kustomization.yaml"] = [o.kustomization_file(["helmrelease.yaml"])]
        files[f"{base}/flux/helmrelease.yaml"] = [_flux_install(cluster, ns)]
        files[f"clusters/{management.name}/cluster-api/{cluster.name}.yaml"] = _delivery(cluster, ns)
        flux_objects.append(f"{cluster.name}.yaml")
    for ns, classes in sorted(by_namespace.items()):
        kustomization = o.kustomization_file([f"../../classes/{name}" for name in sorted(classes)])
        files[f"{NAMESPACES_DIR}/{ns}/kustomization.yaml"] = [{**kustomization, "namespace": ns}]
        files[f"clusters/{management.name}/cluster-api/classes-{ns}.yaml"] = [_classes_kustomization(ns)]
        flux_objects.append(f"classes-{ns}.yaml")
    files[f"clusters/{management.name}/cluster-api/kustomization.yaml"] = [o.kustomization_file(sorted(flux_objects))]
    return files


def _labels(cluster: Cluster) -> dict[str, str]:
    return {**cluster.labels, o.WORKSPACE_LABEL: cluster.workspace, o.MANAGED_LABEL: o.MANAGER}


def _cluster(cluster: Cluster, ns: str) -> Obj:
    topology = cluster.topology
    assert topology is not None and cluster.kubernetes_version is not None
    spec: Obj = {
        "classRef": {"name": topology.cluster_class},
        "version": topology_version(cluster.kubernetes_version),
    }
    if topology.control_plane_replicas is not None:
        spec["controlPlane"] = {"replicas": topology.control_plane_replicas}
    if topology.machine_deployments:
        deployments = []
        for md in topology.machine_deployments:
            item: Obj = {"class": md.machine_class, "name": md.name}
            if md.replicas is not None:
                item["replicas"] = md.replicas
            if md.failure_domain is not None:
                item["failureDomain"] = md.failure_domain
            if md.variables:
                item["variables"] = {"overrides": _variables(md.variables)}
            deployments.append(item)
        spec["workers"] = {"machineDeployments": deployments}
    if topology.variables:
        spec["variables"] = _variables(topology.variables)
    metadata = o.meta(cluster.name, ns, _labels(cluster))
    metadata["annotations"] = dict(NO_PRUNE)
    return {"apiVersion": CLUSTER_API, "kind": "Cluster", "metadata": metadata, "spec": {"topology": spec}}


def _variables(values: Mapping[str, Any]) -> list[Obj]:
    return [{"name": name, "value": values[name]} for name in sorted(values)]


def _health_check(cluster: Cluster, ns: str) -> Obj:
    """Worker machines whose node is not ready for 5 minutes (or never starts within 10) are replaced, unless
    so many are unhealthy at once that replacing them would make things worse (a network partition)."""
    return {
        "apiVersion": CLUSTER_API,
        "kind": "MachineHealthCheck",
        "metadata": o.meta(f"{cluster.name}-workers", ns, _labels(cluster)),
        "spec": {
            "clusterName": cluster.name,
            "selector": {
                "matchLabels": {"cluster.x-k8s.io/cluster-name": cluster.name},
                "matchExpressions": [{"key": "cluster.x-k8s.io/control-plane", "operator": "DoesNotExist"}],
            },
            "checks": {
                "nodeStartupTimeoutSeconds": 600,
                "unhealthyNodeConditions": [
                    {"type": "Ready", "status": "Unknown", "timeoutSeconds": 300},
                    {"type": "Ready", "status": "False", "timeoutSeconds": 300},
                ],
            },
            "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": "40%"}},
        },
    }


def _flux_install(cluster: Cluster, ns: str) -> Obj:
    """Flux in the workload cluster's kommander-flux, installed and upgraded from the management cluster."""
    release = o.flux_release(f"{cluster.name}-flux", ns, helm_repository_name(o.FLUX_CHART[2]))
    release["metadata"]["labels"] = {o.MANAGED_LABEL: o.MANAGER}
    spec = release["spec"]
    spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret(cluster.name)}}
    spec["targetNamespace"] = o.FLUX_NAMESPACE
    spec["storageNamespace"] = o.FLUX_NAMESPACE
    spec["install"]["createNamespace"] = True
    return release


def _classes_kustomization(ns: str) -> Obj:
    return o.flux_kustomization(
        CLASSES_KUSTOMIZATION, ns, f"./{NAMESPACES_DIR}/{ns}", interval="1h", substitute_from_vars=False
    )


def _delivery(cluster: Cluster, ns: str) -> list[Obj]:
    """The management cluster's three Kustomizations for one cluster, each waiting for the one before."""
    name = cluster.name
    create = o.flux_kustomization(
        f"{name}-cluster",
        ns,
        f"./{CLUSTERS_DIR}/{name}",
        interval="10m",
        depends_on=[(CLASSES_KUSTOMIZATION, ns)],
        substitute_from_vars=False,
    )
    create["spec"]["timeout"] = "30m"  # creating machines takes longer than applying manifests
    flux = o.flux_kustomization(
        f"{name}-flux",
        ns,
        f"./{CLUSTERS_DIR}/{name}/flux",
        interval="10m",
        depends_on=[(f"{name}-cluster", ns)],
        substitute_from_vars=False,
    )
    flux["spec"]["timeout"] = "15m"
    sync = o.flux_kustomization(
        f"{name}-sync",
        ns,
        f"./clusters/{name}/flux-system",
        interval="10m",
        depends_on=[(f"{name}-flux", ns)],
        substitute_from_vars=False,
        wait=False,
    )
    # creation only: the workload cluster's own sync owns these objects once they exist, and pruning them from
    # here would cut the cluster off its repository
    sync["spec"]["prune"] = False
    sync["spec"]["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret(name)}}
    sync["spec"]["patches"] = [
        {"patch": _annotate(_CREATE_ONLY), "target": {"group": group, "kind": kind}}
        for group, kind in (
            ("source.toolkit.fluxcd.io", "GitRepository"),
            ("kustomize.toolkit.fluxcd.io", "Kustomization"),
        )
    ]
    return [create, flux, sync]


def _annotate(annotations: Mapping[str, str]) -> str:
    """A JSON6902 patch setting `annotations` on an object that has none (the sync objects carry none)."""
    return emit([{"op": "add", "path": "/metadata/annotations", "value": dict(annotations)}])
