"""Checks of the platform spec that need the catalog: apps and versions exist, scopes fit, dependencies are met;
managed clusters' ClusterClasses exist, with the machine deployment classes and variables their topologies use."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from gitops_engine.catalog.clusterclass import variable_problems
from gitops_engine.model.catalog import Catalog
from gitops_engine.render.placement import Placement, missing_dependencies
from gitops_engine.spec.loader import LoadedSpec
from gitops_engine.spec.reader import SpecReader


def check_spec_against_catalog(
    loaded: LoadedSpec, catalog: Catalog, placements: Mapping[str, list[Placement]]
) -> list[str]:
    """Every problem as `file:line: key.path: message`; empty when the spec can be rendered.

    `placements` are place_apps(platform, catalog) (apps the catalog lacks are simply not placed).
    """
    r = SpecReader(loaded.document, loaded.filename)
    r.errors.clear()  # duplicate keys were already reported by the spec loader
    platform = loaded.platform
    for index, deployment in enumerate(platform.apps):
        path = ("apps", index)
        versions = catalog.versions(deployment.app)
        if not versions:
            guess = difflib.get_close_matches(deployment.app, list(catalog.apps), n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else "add it to a catalog directory (catalog.paths)"
            r.error((*path, "app"), f"unknown app {deployment.app!r}; {hint}")
            continue
        app = catalog.get(deployment.app, deployment.version)
        if app is None:
            known = ", ".join(v.version for v in versions)
            r.error((*path, "version"), f"{deployment.app} has no version {deployment.version!r} (catalog has {known})")
            continue
        if deployment.scope not in app.scope:
            allowed = " or ".join(app.scope)
            r.error(path, f"{deployment.app} can be enabled in a {allowed}, not in a {deployment.scope}")
    if not r.errors:
        for index, message in missing_dependencies(platform, placements):
            r.error(("apps", index, "app"), message)
    _check_topologies(r, loaded, catalog)
    return r.lines()


def _check_topologies(r: SpecReader, loaded: LoadedSpec, catalog: Catalog) -> None:
    for index, cluster in enumerate(loaded.platform.clusters):
        topology = cluster.topology
        if topology is None:
            continue
        path = ("clusters", index, "topology")
        entry = catalog.cluster_classes.get(topology.cluster_class)
        if entry is None:
            guess = difflib.get_close_matches(topology.cluster_class, list(catalog.cluster_classes), n=1)
            known = ", ".join(catalog.cluster_classes) or "none"
            hint = f"did you mean {guess[0]!r}?" if guess else f"the catalogs have: {known}"
            r.error((*path, "class"), f"unknown ClusterClass {topology.cluster_class!r}; {hint}")
            continue
        info = entry.info
        versions = info.kubernetes_versions
        version = f"v{(cluster.kubernetes_version or '').removeprefix('v')}"
        if versions and version not in versions:
            r.error(
                ("clusters", index, "kubernetesVersion"),
                f"ClusterClass {info.name!r} allows only {', '.join(versions)}",
            )
        for name, message in variable_problems(info, topology.variables):
            r.error((*path, "variables", name) if name else (*path, "variables"), message)
        for md_index, md in enumerate(topology.machine_deployments):
            md_path = (*path, "machineDeployments", md_index)
            if md.machine_class not in info.machine_deployment_classes:
                offered = ", ".join(info.machine_deployment_classes) or "none"
                r.error(
                    (*md_path, "class"),
                    f"ClusterClass {info.name!r} has no machine deployment class {md.machine_class!r} "
                    f"(it offers: {offered})",
                )
            for name, message in variable_problems(info, md.variables, overrides=True):
                r.error((*md_path, "variables", name) if name else (*md_path, "variables"), message)
