"""Which app runs on which cluster, in which namespace, depending on what: the AppDeployment semantics."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from gitops_engine.model.catalog import AppVersion, Catalog
from gitops_engine.model.platform import AppDeployment, Cluster, Platform
from gitops_engine.render.values import deep_merge

_NO_VALUES: Mapping[str, Any] = MappingProxyType({})


class Placement(NamedTuple):
    """One enabled app on one cluster.

    A named tuple rather than a frozen dataclass: a fleet has one per app and cluster, and frozen dataclasses cost
    several times as much to build.
    """

    cluster: str
    deployment: AppDeployment
    app: AppVersion
    namespace: str
    workspace_namespace: str
    values: Mapping[str, Any] = _NO_VALUES
    depends_on: tuple[tuple[str, str], ...] = ()

    @property
    def folder(self) -> str:
        """Repository folder the app's Flux Kustomization builds."""
        return f"applications/{self.app.app}/{self.app.version}"


def deployment_key(platform: Platform, deployment: AppDeployment) -> str:
    """`app@workspace` or `app@workspace/project`: also the folder of its Kustomizations below clusters/*/apps/."""
    if deployment.project is not None:
        return f"{deployment.app}@{platform.project(deployment.project).workspace}/{deployment.project}"
    return f"{deployment.app}@{deployment.workspace}"


def scope_clusters(
    platform: Platform, deployment: AppDeployment, by_workspace: Mapping[str, list[Cluster]]
) -> list[Cluster]:
    """The clusters of the deployment's workspace or project (`by_workspace`: clusters grouped by workspace)."""
    if deployment.project is not None:
        project = platform.project(deployment.project)
        candidates = by_workspace.get(project.workspace, [])
        return [c for c in candidates if project.cluster_selector.matches(c.selector_labels())]
    return list(by_workspace.get(deployment.workspace, []))


def deployment_namespace(platform: Platform, deployment: AppDeployment) -> tuple[str, str]:
    """(release namespace, workspace namespace) of a deployment."""
    if deployment.project is not None:
        project = platform.project(deployment.project)
        return project.namespace, platform.workspace(project.workspace).namespace
    ns = platform.workspace(deployment.workspace).namespace
    return ns, ns


def place_apps(
    platform: Platform, catalog: Catalog, versions: Mapping[str, AppVersion] | None = None
) -> dict[str, list[Placement]]:
    """Per cluster name, its placements in spec order (dependencies resolved to Kustomization names).

    `versions` gives each deployment's app folder by deployment key (the versions of record); without it, the
    spec's pin or the catalog's newest.
    """
    raw: dict[str, list[tuple[AppDeployment, AppVersion, str, str, Mapping[str, Any]]]] = {
        c.name: [] for c in platform.clusters
    }
    by_workspace: dict[str, list[Cluster]] = {}
    for cluster in platform.clusters:
        by_workspace.setdefault(cluster.workspace, []).append(cluster)
    labels_of = {cluster.name: cluster.selector_labels() for cluster in platform.clusters}
    for deployment in platform.apps:
        if versions is not None:
            app = versions.get(deployment_key(platform, deployment))
        else:
            app = catalog.get(deployment.app, deployment.version)
        if app is None:
            continue
        ns, ws_ns = deployment_namespace(platform, deployment)
        for cluster in scope_clusters(platform, deployment, by_workspace):
            labels = labels_of[cluster.name]
            if not deployment.cluster_selector.matches(labels):
                continue
            values: Mapping[str, Any] = deployment.values  # shared: placements never change their values
            for override in deployment.cluster_overrides:
                if override.cluster_selector.matches(labels):
                    values = deep_merge(values, override.values)
            raw[cluster.name].append((deployment, app, ns, ws_ns, values))
    placed: dict[str, list[Placement]] = {}
    for cluster_name, entries in raw.items():
        where = {(d.app, ns) for d, _, ns, _, _ in entries}
        placed[cluster_name] = [
            Placement(
                cluster=cluster_name,
                deployment=d,
                app=app,
                namespace=ns,
                workspace_namespace=ws_ns,
                values=values,
                depends_on=tuple(_dependency_targets(app, ns, ws_ns, where)),
            )
            for d, app, ns, ws_ns, values in entries
        ]
    return placed


def _dependency_targets(app: AppVersion, ns: str, ws_ns: str, where: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each dependency's Kustomization: in the same namespace if enabled there, else in the workspace's."""
    targets = []
    for dep in app.dependencies:
        if (dep, ns) in where:
            targets.append((dep, ns))
        elif (dep, ws_ns) in where:
            targets.append((dep, ws_ns))
    return targets


def missing_dependencies(platform: Platform, placed: Mapping[str, list[Placement]]) -> list[tuple[int, str]]:
    """(apps index, message) for every dependency not enabled where the dependent app runs."""
    index_of = {id(d): i for i, d in enumerate(platform.apps)}
    problems: list[tuple[int, str]] = []
    reported: set[tuple[int, str]] = set()
    for cluster_name, placements in placed.items():
        for placement in placements:
            found = {name for name, _ in placement.depends_on}
            index = index_of[id(placement.deployment)]
            for dep in placement.app.dependencies:
                if dep in found or (index, dep) in reported:
                    continue
                reported.add((index, dep))
                problems.append(
                    (
                        index,
                        f"{placement.app.app} needs {dep!r}, which is not enabled in namespace "
                        f"{placement.namespace!r} on cluster {cluster_name!r}; enable {dep} there too",
                    )
                )
    return problems
