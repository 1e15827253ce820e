"""What a chart repository offers: releases per chart, as read from a Helm index or an OCI tag list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True)
class ChartRelease:
    """One published version of one chart."""

    name: str
    version: str
    created: datetime | None = None
    digest: str | None = None
    urls: tuple[str, ...] = ()
    app_version: str | None = None
    home: str | None = None
    sources: tuple[str, ...] = ()
    # the chart's `kubeVersion`: a Helm (Masterminds) constraint on the Kubernetes version it runs on
    kube_version: str | None = None


@dataclass(frozen=True)
class ChartIndex:
    """Releases of every chart in one repository (Helm HTTP or OCI), keyed by chart name."""

    source_url: str
    charts: Mapping[str, tuple[ChartRelease, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def releases(self, chart: str) -> tuple[ChartRelease, ...]:
        """Releases of `chart`, empty when the repository does not have it."""
        return self.charts.get(chart, ())
