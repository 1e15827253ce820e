"""A small fleet repository whose charts come from the fault server: one good source and the faulty ones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.updates.support import commit_tree

CHART = "demo"
PINNED = "1.0.0"
NEWER = "1.1.0"


def helm_repository(name: str, url: str) -> bytes:
    """A Flux HelmRepository; `oci://` URLs get `type: oci` and plain HTTP (`insecure`)."""
    oci = "\n  type: oci\n  insecure: true" if url.startswith("oci://") else ""
    return f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: {name}, namespace: flux-system}}
spec:
  interval: 1h
  url: {url}{oci}
""".encode()


def helm_release(app: str, repository: str, chart: str = CHART, version: str = PINNED) -> bytes:
    """A HelmRelease of `chart` at `version` from HelmRepository `repository`."""
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: {app}, namespace: apps}}
spec:
  interval: 1h
  chart:
    spec:
      chart: {chart}
      version: {version}
      sourceRef: {{kind: HelmRepository, name: {repository}, namespace: flux-system}}
""".encode()


def fleet(path: Path, sources: Mapping[str, str]) -> Path:
    """A bare repository at `path` with, per name → URL, a HelmRepository and an app `<name>-app` using it.

    OCI URLs name the registry path without the chart (`oci://host/<fault>`), as a Flux OCI HelmRepository does.
    """
    files: dict[str, bytes] = {}
    for name, url in sources.items():
        files[f"clusters/c/sources/{name}.yaml"] = helm_repository(name, url.removesuffix(f"/{CHART}"))
        files[f"clusters/c/apps/{name}-app.yaml"] = helm_release(f"{name}-app", name)
    commit_tree(path, files)
    return path
