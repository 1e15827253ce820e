"""One version of record per app deployment: the spec's pin, else a merged bump, else the catalog's newest; and
one per managed cluster's Kubernetes: the spec's, unless a merged bump is ahead of it.

A bump the bot proposed and a human merged is what the fleet runs: a re-seed keeps it (the state file records
it) until the spec pins another version or the catalog offers a newer one. A bumped version the catalog does not
have is served by the catalog folder it came from, retargeted (catalog.retarget) exactly as the bot wrote it.

Kubernetes follows the same rule with one difference that Kubernetes itself imposes: it never goes back a version
(Cluster API refuses a lower `topology.version`). A spec naming a newer version than the merged bump wins; one
naming an older version (typically the version the bump started from) keeps the bump, and `plan` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gitops_engine.catalog.loader import version_key
from gitops_engine.catalog.retarget import chart_version, retarget
from gitops_engine.model.catalog import AppVersion, Catalog
from gitops_engine.model.platform import Platform
from gitops_engine.model.state import AppRecord, Source
from gitops_engine.render.placement import deployment_key
from gitops_engine.spec.loader import kubernetes_core


@dataclass(frozen=True)
class Chosen:
    """The version a deployment runs, as an app folder to render and the record the state keeps of it;
    `note` says when the spec overrode a merged bump."""

    app: AppVersion
    record: AppRecord
    note: str = ""


def choose_versions(platform: Platform, catalog: Catalog, recorded: Mapping[str, AppRecord]) -> dict[str, Chosen]:
    """The version of record of every deployment whose app the catalog has (keyed by deployment_key)."""
    chosen: dict[str, Chosen] = {}
    for deployment in platform.apps:
        key = deployment_key(platform, deployment)
        newest = catalog.get(deployment.app, None)
        if newest is None:
            continue
        prior = recorded.get(key)
        bumped = prior is not None and prior.source is Source.BUMP
        if deployment.version is not None:
            pinned = catalog.get(deployment.app, deployment.version)
            if pinned is None:
                continue
            note = ""
            if prior is not None and bumped and prior.version != pinned.version:
                note = f"{key}: the spec pins {pinned.version}; the merged bump to {prior.version} is replaced"
            chosen[key] = Chosen(pinned, AppRecord(pinned.version, Source.SPEC), note)
        elif prior is not None and bumped and _newer(prior.version, newest.version):
            template = _template(catalog.versions(deployment.app), prior.version)
            chart = chart_version(template.version, template.chart.version, prior.version)
            chosen[key] = Chosen(retarget(template, chart), AppRecord(prior.version, Source.BUMP))
        else:
            chosen[key] = Chosen(newest, AppRecord(newest.version, Source.CATALOG))
    return chosen


def _newer(candidate: str, than: str) -> bool:
    return version_key(candidate) > version_key(than)


def _template(versions: tuple[AppVersion, ...], version: str) -> AppVersion:
    """The catalog folder a bumped version grew from: the newest one not newer than it (else the oldest)."""
    older = [v for v in versions if version_key(v.version) <= version_key(version)]
    return older[-1] if older else versions[0]


@dataclass(frozen=True)
class ChosenKubernetes:
    """The Kubernetes version a managed cluster runs and the record kept of it; `note` when the spec and a merged
    bump disagree."""

    record: AppRecord
    note: str = ""


def choose_kubernetes(platform: Platform, recorded: Mapping[str, AppRecord]) -> dict[str, ChosenKubernetes]:
    """The Kubernetes version of record of every managed cluster (keyed by cluster name)."""
    chosen: dict[str, ChosenKubernetes] = {}
    for cluster in platform.clusters:
        spec = cluster.kubernetes_version
        if not cluster.managed or spec is None:
            continue
        prior = recorded.get(cluster.name)
        if prior is None or prior.source is not Source.BUMP or prior.version == spec:
            chosen[cluster.name] = ChosenKubernetes(AppRecord(spec, Source.SPEC))
        elif kubernetes_core(prior.version) > kubernetes_core(spec):
            note = (
                f"clusters[{cluster.name}]: runs Kubernetes {prior.version} by a merged bump, kept although the spec "
                f"names {spec} (Kubernetes does not go back a version); write {prior.version} in the spec"
            )
            chosen[cluster.name] = ChosenKubernetes(prior, note)
        else:
            note = f"clusters[{cluster.name}]: the spec's Kubernetes {spec} replaces the merged bump to {prior.version}"
            chosen[cluster.name] = ChosenKubernetes(AppRecord(spec, Source.SPEC), note)
    return chosen


def with_kubernetes(platform: Platform, chosen: Mapping[str, ChosenKubernetes]) -> Platform:
    """The platform with each managed cluster at its version of record (what the render writes)."""
    clusters = tuple(
        replace(c, kubernetes_version=chosen[c.name].record.version) if c.name in chosen else c
        for c in platform.clusters
    )
    return replace(platform, clusters=clusters)
