"""Where a release's chart version is to be had, as read from the repository's Flux sources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_engine.model.credentials import Credentials


@dataclass(frozen=True)
class ChartLocation:
    """One chart version to get.

    `kind` is `helm` (url = the Helm repository, `version` exact or a range), `oci` (url = `oci://…/chart`,
    `version` a tag or a `sha256:…` digest) or `folder` (`files` = the chart folder's files relative to it,
    `url` the folder's path in the repository).
    """

    kind: str
    url: str
    chart: str
    version: str = ""
    auth: Credentials | None = field(default=None, compare=False)
    insecure: bool = False
    files: Mapping[str, bytes] | None = field(default=None, compare=False, hash=False)

    def __str__(self) -> str:
        if self.kind == "folder":
            return f"chart folder ./{self.url}"
        if self.kind == "oci":
            return f"{self.url}:{self.version}"
        return f"chart {self.chart} {self.version} from {self.url}"
