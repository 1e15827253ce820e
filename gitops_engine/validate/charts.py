"""The `--online` check: HelmRelease chart versions must exist in the Helm repository they name.

Pure: `chart_uses` says which repositories to ask and `chart_findings` judges the answers; the app layer
fetches the indexes in between. Only exact versions are checked (a range such as `6.x` or `>=1.0` is
resolved by Flux at reconcile time), and only charts from HelmRepository sources (a chartRef pins an
artifact, not a version in an index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.kinds import HELM_GROUP, SOURCE_GROUP
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.objects import RenderedObject

_EXACT = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_VERSION_PATH = ("spec", "chart", "spec", "version")
_SHOWN_VERSIONS = 5


@dataclass(frozen=True)
class ChartUse:
    """One HelmRelease's exact chart version, and the repository URL it is fetched from."""

    release: RenderedObject
    repository: RenderedObject
    url: str
    chart: str
    version: str


def chart_uses(clusters: Iterable[Cluster]) -> list[ChartUse]:
    """Every HelmRelease that pins an exact version from a HelmRepository its cluster applies."""
    uses: list[ChartUse] = []
    for cluster in clusters:
        repositories = {
            (o.id.namespace, o.id.name): o
            for o in cluster.objects
            if o.id.group == SOURCE_GROUP and o.id.kind == "HelmRepository"
        }
        for obj in cluster.objects:
            if obj.id.group != HELM_GROUP or obj.id.kind != "HelmRelease":
                continue
            chart_spec = _map(_map(_map(obj.body.get("spec")).get("chart")).get("spec"))
            source = _map(chart_spec.get("sourceRef"))
            chart, version = str(chart_spec.get("chart") or ""), str(chart_spec.get("version") or "")
            if source.get("kind", "HelmRepository") != "HelmRepository" or not chart or not _EXACT.match(version):
                continue
            key = (str(source.get("namespace") or obj.id.namespace), str(source.get("name") or ""))
            repository = repositories.get(key)
            url = str(_map(repository.body.get("spec")).get("url") or "") if repository else ""
            if repository is None or not url:
                continue  # a dangling sourceRef is reported by the reference check
            uses.append(ChartUse(obj, repository, _chart_url(repository, url, chart), chart, version))
    return uses


def chart_findings(
    uses: Iterable[ChartUse], indexes: Mapping[str, ChartIndex], failures: Mapping[str, str]
) -> set[Finding]:
    """Findings for versions the repositories do not offer, and a warning per repository that failed."""
    findings: set[Finding] = set()
    for use in uses:
        if use.url in failures:
            findings.add(_unreachable(use, failures[use.url]))
        elif use.url in indexes:
            findings.update(_missing_version(use, indexes[use.url]))
    return findings


def _chart_url(repository: RenderedObject, url: str, chart: str) -> str:
    # An OCI HelmRepository is a registry path; each chart below it is its own repository.
    oci = url.startswith("oci://") or _map(repository.body.get("spec")).get("type") == "oci"
    return f"{url.rstrip('/')}/{chart}" if oci else url


def _missing_version(use: ChartUse, index: ChartIndex) -> Iterator[Finding]:
    releases = index.releases(use.chart)
    where = f"{use.repository.id} ({use.url})"
    if not releases:
        yield Finding(
            use.release.file,
            use.release.line_of(("spec", "chart", "spec", "chart")),
            "chart-not-in-repository",
            f"{use.release.id}: chart {use.chart} is not offered by {where}",
            "check the chart name or point sourceRef at the repository that publishes it",
        )
        return
    if any(_same(use.version, release.version) for release in releases):
        return
    newest = ", ".join(release.version for release in releases[:_SHOWN_VERSIONS])
    yield Finding(
        use.release.file,
        use.release.line_of(_VERSION_PATH),
        "chart-version-missing",
        f"{use.release.id}: chart {use.chart} has no version {use.version} in {where}",
        f"pin a version the repository publishes, e.g. {newest}",
    )


def _unreachable(use: ChartUse, message: str) -> Finding:
    return Finding(
        use.repository.file,
        use.repository.line_of(("spec", "url")),
        "chart-repository-unreachable",
        f"{use.repository.id}: could not read the chart index, so {use.chart} {use.version} was not checked: {message}",
        "check the URL and network access, or run without --online",
        Severity.WARNING,
    )


def _same(wanted: str, published: str) -> bool:
    return wanted.removeprefix("v") == published.removeprefix("v")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
