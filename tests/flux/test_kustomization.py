"""Reading Flux Kustomizations: the folders they build."""

from __future__ import annotations

from gitops_engine.flux.kustomization import built_paths

SYNC = b"""\
# written by flux bootstrap
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  url: ssh://git@example.invalid/fleet.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  path: ./clusters/dev/
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

ROOT = b"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: everything
spec:
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

VARIABLE = b"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
spec:
  path: "./apps/${cluster}"
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra
spec:
  path: infra//controllers
"""

KUSTOMIZE_FILE = b"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
patches:
  - path: patch.yaml
"""


def test_built_paths_are_the_spec_paths_of_flux_kustomizations_as_source_relative_folders() -> None:
    files = {
        "clusters/dev/flux-system/gotk-sync.yaml": SYNC,
        "clusters/dev/apps.yaml": VARIABLE,
        "apps/kustomization.yaml": KUSTOMIZE_FILE,
        "notes/sync.md": SYNC,
    }
    # the ${cluster} path is left out; kustomize's own kustomization and a non-YAML file name no folder
    assert built_paths(files) == {"clusters/dev", "infra/controllers"}


def test_a_flux_kustomization_without_a_path_builds_the_source_root() -> None:
    assert built_paths({"clusters/dev/flux-system/gotk-sync.yaml": SYNC, "all.yaml": ROOT}) == {"clusters/dev", ""}


def test_a_tree_without_flux_kustomizations_builds_nothing_known() -> None:
    assert built_paths({"apps/kustomization.yaml": KUSTOMIZE_FILE}) == set()
