"""A catalog version folder lists its resources in a kustomization, under any name kustomize reads."""

from __future__ import annotations

import pytest

from gitops_engine.catalog.loader import CatalogSource, load_catalog
from gitops_engine.core.errors import InputError

METADATA = b"""\
displayName: gamma
description: "test app gamma"
category: [test]
scope: [workspace]
dependencies: []
licensing: [Apache-2.0]
chart:
  name: gamma
  version: 1.0.0
  repository: https://charts.example.com
"""
RELEASE = b"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ${releaseName}
  namespace: ${releaseNamespace}
spec:
  interval: 15m
  chart:
    spec:
      chart: gamma
      version: 1.0.0
      sourceRef:
        kind: HelmRepository
        name: charts.example.com
        namespace: kommander-flux
"""


def _folder(kustomization: str | None) -> CatalogSource:
    files = {"gamma/1.0.0/metadata.yaml": METADATA, "gamma/1.0.0/helmrelease.yaml": RELEASE}
    if kustomization is not None:
        files[f"gamma/1.0.0/{kustomization}"] = b"resources:\n  - helmrelease.yaml\n"
    return CatalogSource("catalog", files)


@pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
def test_a_version_folder_may_name_its_kustomization_as_kustomize_does(name: str) -> None:
    catalog = load_catalog([_folder(name)])
    assert [v.version for v in catalog.apps["gamma"]] == ["1.0.0"]


def test_a_version_folder_without_a_kustomization_is_refused_at_the_file_to_add() -> None:
    with pytest.raises(InputError) as refused:
        load_catalog([_folder(None)])
    assert "catalog/gamma/1.0.0/kustomization.yaml:1: missing; list the folder's resources in one" in str(refused.value)
