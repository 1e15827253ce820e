"""`clusters[].topology`: the Cluster API shape of a managed workload cluster, read and checked at file:line.

    topology:
      class: dev-in-memory             # a ClusterClass of the catalog (catalog/clusterclasses/<name>/)
      controlPlane: {replicas: 3}
      machineDeployments:
        - {name: md-0, class: default-worker, replicas: 2, failureDomain: fd-1}
      variables: {imageRepository: registry.k8s.io}

What needs the ClusterClass itself (the class exists, its machine deployment classes, the variables' schemas) is
checked against the catalog by render.checks.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from gitops_engine.core.yamlio import PathKey
from gitops_engine.model.platform import ClusterTopology, MachineDeploymentTopology
from gitops_engine.spec.reader import SpecReader

_TOPOLOGY_KEYS = ("class", "controlPlane", "machineDeployments", "variables")
_MACHINE_DEPLOYMENT_KEYS = ("name", "class", "replicas", "failureDomain", "variables")
# Cluster API reserves these variable names for what it computes itself (builtin.cluster.name, …)
_RESERVED_VARIABLE = "builtin"
_MAX_REPLICAS = 1000


def read_topology(r: SpecReader, path: PathKey, raw: Any) -> ClusterTopology | None:
    """The topology at `path` (None when the cluster has none: it is attached)."""
    if raw is None:
        return None
    body = r.mapping(path, raw, _TOPOLOGY_KEYS, ("class",))
    control_plane = r.mapping((*path, "controlPlane"), body.get("controlPlane") or {}, ("replicas",))
    replicas = _replicas(r, (*path, "controlPlane", "replicas"), control_plane.get("replicas"), minimum=1)
    if replicas is not None and replicas % 2 == 0:
        r.error(
            (*path, "controlPlane", "replicas"),
            f"{replicas} control plane machines keep etcd quorum no better than {replicas - 1}; use an odd number",
        )
    items = r.records((*path, "machineDeployments"), body.get("machineDeployments"))
    r.unique((*path, "machineDeployments"), items, "name", "machine deployment")
    deployments = []
    for index, item in items:
        where = (*path, "machineDeployments", index)
        md = r.mapping(where, item, _MACHINE_DEPLOYMENT_KEYS, ("name", "class"))
        failure_domain = r.string((*where, "failureDomain"), md.get("failureDomain"))
        deployments.append(
            MachineDeploymentTopology(
                name=r.string((*where, "name"), md.get("name"), dns=True),
                machine_class=r.string((*where, "class"), md.get("class")),
                replicas=_replicas(r, (*where, "replicas"), md.get("replicas"), minimum=0),
                failure_domain=failure_domain or None,
                variables=_variables(r, (*where, "variables"), md.get("variables")),
            )
        )
    return ClusterTopology(
        cluster_class=r.string((*path, "class"), body.get("class"), dns=True),
        control_plane_replicas=replicas,
        machine_deployments=tuple(deployments),
        variables=_variables(r, (*path, "variables"), body.get("variables")),
    )


def _replicas(r: SpecReader, path: PathKey, value: Any, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_REPLICAS:
        r.error(path, f"must be a whole number from {minimum} to {_MAX_REPLICAS}, not {value!r}")
        return None
    return value


def _variables(r: SpecReader, path: PathKey, raw: Any) -> MappingProxyType[str, Any]:
    """Variable name → value (any YAML value: the ClusterClass's schema says what fits)."""
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        r.error(path, "must be a mapping of variable name to value")
        return MappingProxyType({})
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            r.error((*path, str(name)), "variable names must be strings")
            continue
        if name == _RESERVED_VARIABLE or name.startswith(f"{_RESERVED_VARIABLE}."):
            r.error((*path, name), "builtin variables are set by Cluster API itself; remove it")
            continue
        if value is None:
            r.error((*path, name), "give a value (or leave the variable out to take the class's default)")
            continue
        out[name] = value
    return MappingProxyType(out)
