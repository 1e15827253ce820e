"""Reading Flux Kustomizations: the folders they build."""

from __future__ import annotations

from gitops_engine.flux.kustomization import built_paths
from tests.validate.fixtures import GOTK_SYNC

# a GitRepository and the sync Kustomization, below a comment line, as `flux bootstrap` writes them
SYNC = ("# written by flux bootstrap\n---\n" + GOTK_SYNC.replace("./clusters/dev", "./clusters/dev/")).encode()
# Flux builds the source root when spec.path is missing
ROOT = GOTK_SYNC.replace("  path: ./clusters/dev\n", "").encode()
VARIABLE = (
    GOTK_SYNC.split("---\n")[1].replace("./clusters/dev", '"./apps/${cluster}"')
    + "---\n"
    + GOTK_SYNC.split("---\n")[1].replace("./clusters/dev", "infra//controllers")
).encode()
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
