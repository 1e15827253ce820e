"""Cluster API references across one cluster's objects (the schemas are checked per object in validate.schemas):

- a Cluster's topology names a ClusterClass this cluster applies, its machine deployments name classes that
  ClusterClass has, its variables (and each machine deployment's overrides) fit the class's schemas, and its
  version is one Cluster API accepts (`v` + semver, one of the class's `kubernetesVersions` when it lists any);
- a ClusterClass's templates are applied beside it;
- a MachineHealthCheck watches a Cluster this cluster applies;
- a Flux object reaching a cluster through `spec.kubeConfig.secretRef` names the `<cluster>-kubeconfig` Secret of
  a Cluster applied in its own namespace (Cluster API writes that Secret there), else a Secret the repository
  holds (or one made out of band, which is only a warning).

Both served versions (v1beta2, and the deprecated v1beta1 with its older field names) are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from gitops_engine.catalog.clusterclass import (
    CLUSTER_API_GROUP,
    KUBECONFIG_SUFFIX,
    describe,
    is_cluster_class,
    template_refs,
    variable_problems,
)
from gitops_engine.flux.kinds import HELM_GROUP, KUSTOMIZE_GROUP, group_of
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.objects import RenderedObject

# the Cluster webhook's rule for topology.version: a leading `v` and a full semantic version
_TOPOLOGY_VERSION = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

Key = tuple[str, str, str, str]  # group, kind, namespace, name


def check_cluster_api(cluster: Cluster) -> list[Finding]:
    """Every Cluster API reference finding of one cluster's objects."""
    present: dict[Key, RenderedObject] = {
        (o.id.group, o.id.kind, o.id.namespace, o.id.name): o for o in cluster.objects
    }
    findings: list[Finding] = []
    for obj in cluster.objects:
        group = obj.id.group
        if group == CLUSTER_API_GROUP and obj.id.kind == "Cluster":
            findings.extend(_topology(obj, present))
        elif is_cluster_class(obj.body):
            findings.extend(_templates(obj, present))
        elif group == CLUSTER_API_GROUP and obj.id.kind == "MachineHealthCheck":
            findings.extend(_health_check(obj, present))
        elif (group, obj.id.kind) in ((KUSTOMIZE_GROUP, "Kustomization"), (HELM_GROUP, "HelmRelease")):
            findings.extend(_kubeconfig(obj, present))
    return findings


def _topology(obj: RenderedObject, present: Mapping[Key, RenderedObject]) -> Iterator[Finding]:
    spec = _map(obj.body.get("spec"))
    topology = _map(spec.get("topology"))
    if not topology:
        return
    v1beta1 = obj.api_version.endswith("/v1beta1")
    version = topology.get("version")
    if isinstance(version, str) and not _TOPOLOGY_VERSION.match(version):
        yield _finding(
            obj,
            ("spec", "topology", "version"),
            "capi-version",
            f"topology.version {version!r} is not what Cluster API accepts",
            f'write a "v" and a full version, e.g. "v{version.removeprefix("v")}"'
            if re.match(r"^v?\d+\.\d+\.\d+", version)
            else 'write e.g. "v1.31.4"',
        )
    class_ref = _map(topology.get("classRef"))
    name = str(topology.get("class") if v1beta1 else class_ref.get("name") or "")
    namespace = str((topology.get("classNamespace") if v1beta1 else class_ref.get("namespace")) or obj.id.namespace)
    where = ("spec", "topology", "class") if v1beta1 else ("spec", "topology", "classRef", "name")
    found = present.get((CLUSTER_API_GROUP, "ClusterClass", namespace, name))
    if found is None:
        yield _finding(
            obj,
            where,
            "capi-class-missing",
            f"{obj.id} is made from ClusterClass {namespace}/{name}, which no Kustomization of this cluster applies",
            "apply the ClusterClass (with its templates) in that namespace, or fix the name",
        )
        return
    info = describe(found.body)
    if info.kubernetes_versions and isinstance(version, str) and version not in info.kubernetes_versions:
        yield _finding(
            obj,
            ("spec", "topology", "version"),
            "capi-version",
            f"ClusterClass {info.name} allows only Kubernetes {', '.join(info.kubernetes_versions)}, not {version}",
            "pick one of them or add the version to the class's kubernetesVersions",
        )
    values = _variables(topology.get("variables"))
    for variable, message in variable_problems(info, values):
        path = ("spec", "topology", "variables", values.index_of(variable)) if variable else ("spec", "topology")
        yield _finding(obj, path, "capi-variable", f"{obj.id}: {message}", "see the ClusterClass's variables")
    deployments = _map(topology.get("workers")).get("machineDeployments")
    for index, md in enumerate(deployments if isinstance(deployments, list) else ()):
        md = _map(md)
        base = ("spec", "topology", "workers", "machineDeployments", index)
        md_class = md.get("class")
        if isinstance(md_class, str) and md_class not in info.machine_deployment_classes:
            offered = ", ".join(info.machine_deployment_classes) or "none"
            yield _finding(
                obj,
                (*base, "class"),
                "capi-md-class-missing",
                f"{obj.id}: ClusterClass {info.name} has no machine deployment class {md_class!r} (it has: {offered})",
                "use one of the class's machine deployment classes",
            )
        overrides = _variables(_map(md.get("variables")).get("overrides"))
        for variable, message in variable_problems(info, overrides, overrides=True):
            index_of = overrides.index_of(variable) if variable else 0
            yield _finding(
                obj,
                (*base, "variables", "overrides", index_of),
                "capi-variable",
                f"{obj.id} machine deployment {md.get('name')!r}: {message}",
                "see the ClusterClass's variables",
            )


def _templates(obj: RenderedObject, present: Mapping[Key, RenderedObject]) -> Iterator[Finding]:
    for path, ref in template_refs(obj.body):
        key = (group_of(str(ref.get("apiVersion", ""))), str(ref["kind"]), obj.id.namespace, str(ref["name"]))
        if key not in present:
            yield _finding(
                obj,
                path,
                "capi-template-missing",
                f"{obj.id} names {key[1]} {key[2]}/{key[3]}, which no Kustomization of this cluster applies",
                "apply the template beside the ClusterClass (same namespace), or fix the reference",
            )


def _health_check(obj: RenderedObject, present: Mapping[Key, RenderedObject]) -> Iterator[Finding]:
    name = _map(obj.body.get("spec")).get("clusterName")
    if isinstance(name, str) and (CLUSTER_API_GROUP, "Cluster", obj.id.namespace, name) not in present:
        yield _finding(
            obj,
            ("spec", "clusterName"),
            "capi-cluster-missing",
            f"{obj.id} watches Cluster {obj.id.namespace}/{name}, which no Kustomization of this cluster applies",
            "fix clusterName (a MachineHealthCheck only sees Clusters in its own namespace)",
        )


def _kubeconfig(obj: RenderedObject, present: Mapping[Key, RenderedObject]) -> Iterator[Finding]:
    secret = _map(_map(_map(obj.body.get("spec")).get("kubeConfig")).get("secretRef")).get("name")
    if not isinstance(secret, str) or ("", "Secret", obj.id.namespace, secret) in present:
        return
    path = ("spec", "kubeConfig", "secretRef", "name")
    if secret.endswith(KUBECONFIG_SUFFIX):
        cluster = secret[: -len(KUBECONFIG_SUFFIX)]
        if (CLUSTER_API_GROUP, "Cluster", obj.id.namespace, cluster) in present:
            return
        yield _finding(
            obj,
            path,
            "capi-kubeconfig-unknown",
            f"{obj.id} reads Secret {obj.id.namespace}/{secret}, which Cluster API writes for a Cluster "
            f"{obj.id.namespace}/{cluster}; no Cluster of that name is applied in {obj.id.namespace}",
            "name the <cluster>-kubeconfig Secret of a Cluster in the object's own namespace",
        )
        return
    yield _finding(
        obj,
        path,
        "ref-kubeconfig-secret",
        f"{obj.id} reads its kubeconfig from Secret {obj.id.namespace}/{secret}, which is not in the repository",
        "create it out of band in the object's namespace; a kubeconfig must never be committed",
        Severity.WARNING,
    )


class _Values(dict[str, Any]):
    """Variable name → value, remembering each name's position in the list it came from."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[str, int] = {}

    def index_of(self, name: str) -> int:
        return self.positions.get(name, 0)


def _variables(raw: Any) -> _Values:
    values = _Values()
    for index, item in enumerate(raw if isinstance(raw, list) else ()):
        item = _map(item)
        if isinstance(item.get("name"), str) and "value" in item:
            values[item["name"]] = item["value"]
            values.positions[item["name"]] = index
    return values


def _finding(
    obj: RenderedObject,
    path: tuple[str | int, ...],
    rule: str,
    message: str,
    hint: str,
    severity: Severity = Severity.ERROR,
) -> Finding:
    return Finding(obj.file, obj.line_of(path), rule, message, hint, severity)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
