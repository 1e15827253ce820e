"""One version of record per app deployment: the spec's pin, else a merged bump, else the catalog's newest.

A bump the bot proposed and a human merged is what the fleet runs: a re-seed keeps it (the state file records
it) until the spec pins another version or the catalog offers a newer one. A bumped version the catalog does not
have is served by the catalog folder it came from, retargeted (catalog.retarget) exactly as the bot wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitops_engine.catalog.loader import version_key
from gitops_engine.catalog.retarget import chart_version, retarget
from gitops_engine.model.catalog import AppVersion, Catalog
from gitops_engine.model.platform import Platform
from gitops_engine.model.state import AppRecord, Source
from gitops_engine.render.placement import deployment_key


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
