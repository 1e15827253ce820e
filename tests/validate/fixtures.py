"""A small, valid Flux repository that the broken-repository tests start from, and helpers to write it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

GOTK_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  ref:
    branch: main
  url: ssh://git@example.invalid/fleet.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/dev
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

APPS_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  targetNamespace: podinfo
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      env: dev
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
"""

CLUSTER_VARS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-vars
  namespace: flux-system
data:
  domain: example.com
"""

APPS_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - repository.yaml
  - release.yaml
  - values.yaml
"""

REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
spec:
  interval: 1h
  url: https://stefanprodan.github.io/podinfo
"""

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: 6.5.4
      sourceRef:
        kind: HelmRepository
        name: podinfo
  valuesFrom:
    - kind: ConfigMap
      name: podinfo-values
  values:
    ingress:
      hosts:
        - host: podinfo.${env}.${domain}
"""

VALUES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: podinfo-values
data:
  values.yaml: |
    replicaCount: 2
"""

BASE: Mapping[str, str] = {
    "clusters/dev/flux-system/gotk-sync.yaml": GOTK_SYNC,
    "clusters/dev/apps.yaml": APPS_KS,
    "clusters/dev/vars.yaml": CLUSTER_VARS,
    "apps/kustomization.yaml": APPS_KUSTOMIZATION,
    "apps/repository.yaml": REPOSITORY,
    "apps/release.yaml": RELEASE,
    "apps/values.yaml": VALUES,
}


def write_tree(root: Path, files: Mapping[str, str | None]) -> None:
    """Write `files` below `root`; a None value deletes that file."""
    for path, text in files.items():
        target = root / path
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of `needle` in `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")
