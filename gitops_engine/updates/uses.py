"""What a scan finds and what an edit changes, as plain values: chart uses, their sources and sites, edits.

Kept apart from the scanner and the editor (which need the YAML parsers) so that a run served from the scan
cache, and the proposal logic, load none of the parsing code.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from gitops_engine.core.yamlio import Scalar

__all__ = ["CatalogFolder", "ChartSource", "ChartUse", "Edit", "Scalar", "ScanResult", "Site"]


@dataclass(frozen=True)
class ChartSource:
    """A chart repository to look up: Helm HTTP (`<url>/index.yaml`) or one OCI repository (`oci://…/<chart>`)."""

    url: str
    kind: str
    charts: tuple[str, ...] = ()
    insecure: bool = False


@dataclass(frozen=True)
class Site:
    """The scalar that holds a version: byte range in the file and the part of its value that is the version."""

    path: str
    doc: int
    keys: tuple[str, ...]
    scalar: Scalar
    version_text: str

    def value_with(self, version: str) -> str:
        """The scalar's new value when its version part becomes `version` (`${v:=1.2.3}` keeps its variable)."""
        value = self.scalar.value
        if value == self.version_text:
            return version
        index = value.rfind(self.version_text)
        return value[:index] + version + value[index + len(self.version_text) :]


@dataclass(frozen=True)
class CatalogFolder:
    """A Kommander-style version folder `applications/<app>/<version>/`: a bump moves the whole folder."""

    root: str
    app: str
    version: str


@dataclass(frozen=True)
class ChartUse:
    """One pinned chart: who pins it, in which clusters, from which source; `skip` says why it cannot be bumped."""

    app: str
    chart: str
    holder: str
    path: str
    line: int
    clusters: tuple[str, ...]
    site: Site | None
    source: ChartSource | None
    source_ref: str
    is_range: bool = False
    catalog: CatalogFolder | None = None
    skip: str = ""


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: chart uses (bumpable or skipped), files that could not be read, and the Kubernetes
    version of each cluster that names one, as sorted (cluster, version) pairs."""

    uses: tuple[ChartUse, ...]
    problems: tuple[str, ...] = ()
    kubernetes: tuple[tuple[str, str], ...] = ()

    def sources(self) -> tuple[ChartSource, ...]:
        """Each source once, with every chart asked of it: what the lookup fetches."""
        charts: dict[tuple[str, str, bool], set[str]] = defaultdict(set)
        for use in self.uses:
            if use.source is not None and not use.skip:
                charts[(use.source.url, use.source.kind, use.source.insecure)].add(use.chart)
        return tuple(
            ChartSource(url, kind, tuple(sorted(names)), insecure)
            for (url, kind, insecure), names in sorted(charts.items())
        )


@dataclass(frozen=True)
class Edit:
    """Set the scalar at `site` to `value`; with `folder`, also move that catalog folder to `folder_version`."""

    site: Site
    value: str
    folder: CatalogFolder | None = None
    folder_version: str | None = None
