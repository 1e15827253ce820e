"""The head of a version edit derived from the base's discovery equals what kustomize builds from the edited tree,
and an edit a patch or a substitution stands over is left to a build (None)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_engine.adapters.kustomize import kustomize_builder
from gitops_engine.model.tree import Tree
from gitops_engine.validate.discovery import Discovery, discover
from gitops_engine.validate.scalar_edits import ScalarEdit, with_scalar_edits


def _flux(cluster: str, path: str) -> str:
    return f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: flux-system, namespace: flux-system}}
spec: {{interval: 1m, url: "https://git.example.invalid/fleet.git", ref: {{branch: main}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: flux-system, namespace: flux-system}}
spec:
  interval: 10m
  path: ./clusters/{cluster}
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: apps, namespace: flux-system}}
spec:
  interval: 10m
  path: {path}
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
  postBuild:
    substitute: {{V: 3.0.0}}
"""


RELEASES = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  chart:
    spec:
      chart: web
      version: 1.0.0
      sourceRef: {kind: HelmRepository, name: charts}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: db, namespace: apps}
spec:
  chart:
    spec:
      chart: db
      version: 1.0.0
      sourceRef: {kind: HelmRepository, name: charts}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: cache, namespace: apps}
spec:
  chart:
    spec:
      chart: cache
      version: ${V:=2.0.0}
      sourceRef: {kind: HelmRepository, name: charts}
"""
PATCH = """\
resources: [../base]
patches:
  - target: {kind: HelmRelease, name: db}
    patch: |
      - {op: replace, path: /spec/chart/spec/version, value: 9.9.9}
"""
FILES = {
    **{f"clusters/{c}/kustomization.yaml": "resources: [sync.yaml]\n" for c in "abc"},
    "clusters/a/sync.yaml": _flux("a", "./apps/base"),
    "clusters/b/sync.yaml": _flux("b", "./apps/base"),
    "clusters/c/sync.yaml": _flux("c", "./apps/patched"),
    "apps/base/kustomization.yaml": "resources: [releases.yaml]\n",
    "apps/base/releases.yaml": RELEASES,
    "apps/patched/kustomization.yaml": PATCH,
}
WEB_LINE, DB_LINE, CACHE_LINE = 8, 18, 28  # the `version:` line of each release in RELEASES
KEYS = ("spec", "chart", "spec", "version")


def _discovered(files: dict[str, str], cache: Path) -> Discovery:
    tree = Tree({path: text.encode() for path, text in files.items()})
    with kustomize_builder(tree, cache) as builder:
        return discover(tree, builder)


def _bodies(discovery: Discovery) -> list[tuple[str, list[Any]]]:
    return [(c.name, sorted((str(o.id), o.body) for o in c.objects)) for c in discovery.clusters]


def _edited_file(line: int, new: str) -> dict[str, str]:
    lines = RELEASES.splitlines(keepends=True)
    assert lines[line - 1] == "      version: 1.0.0\n"
    lines[line - 1] = f"      version: {new}\n"
    return {**FILES, "apps/base/releases.yaml": "".join(lines)}


def test_a_version_edit_gives_what_a_build_of_the_edited_tree_gives_in_every_cluster(tmp_path: Path) -> None:
    base = _discovered(FILES, tmp_path / "k")
    derived = with_scalar_edits(base, [ScalarEdit("apps/base/releases.yaml", WEB_LINE, KEYS, "1.0.0", "2.0.0")])
    assert derived is not None
    built = _discovered(_edited_file(WEB_LINE, "2.0.0"), tmp_path / "k")
    assert _bodies(derived) == _bodies(built)
    web = [o for c in derived.clusters for o in c.objects if o.id.name == "web"]
    assert [o.body["spec"]["chart"]["spec"]["version"] for o in web] == ["2.0.0", "2.0.0", "2.0.0"]


def test_an_edit_a_patch_stands_over_or_a_substitution_feeds_is_left_to_a_build(tmp_path: Path) -> None:
    base = _discovered(FILES, tmp_path / "k")
    db = ScalarEdit("apps/base/releases.yaml", DB_LINE, KEYS, "1.0.0", "2.0.0")
    # cluster c patches db to 9.9.9: the written 1.0.0 is not what it applies; a and b alone take the edit
    assert with_scalar_edits(base, [db]) is None
    assert with_scalar_edits(Discovery(base.clusters[:2]), [db]) is not None
    substituted = ScalarEdit("apps/base/releases.yaml", CACHE_LINE, KEYS, "${V:=2.0.0}", "${V:=2.1.0}")
    assert with_scalar_edits(base, [substituted]) is None
    # an edit no object was built from (a file no Kustomization reaches)
    assert with_scalar_edits(base, [ScalarEdit("elsewhere.yaml", 3, KEYS, "1.0.0", "2.0.0")]) is None
