"""Byte-exact edits: only the scalar's bytes change; comments, quotes, flow style, documents and CRLF survive."""

from __future__ import annotations

import pytest

from gitops_engine.updates.edits import Edit, EditError, apply_to_tree, replace_scalar
from gitops_engine.updates.scan import Site, scan_tree
from tests.updates.support import FLUX_LOCAL, SMALL_REPO, files_under


def sites_of(files: dict[str, bytes]) -> list[Site]:
    return [u.site for u in scan_tree(files).uses if u.site is not None]


def assert_only_range_changed(before: bytes, after: bytes, site: Site, new_text: bytes) -> None:
    start, end = site.scalar.start, site.scalar.end
    assert after[:start] == before[:start]
    assert after[start + (len(after) - len(before)) + (end - start) :] == before[end:]
    assert new_text in after[start : end + len(after) - len(before)]


def bump_all(files: dict[str, bytes]) -> int:
    count = 0
    for site in sites_of(files):
        if site.version_text.startswith((">", "<", "^", "~")):
            continue
        before = files[site.path]
        after = replace_scalar(before, site, site.value_with("99.1.0"))
        assert_only_range_changed(before, after, site, b"99.1.0")
        count += 1
    return count


@pytest.mark.parametrize("corpus", sorted(p.name for p in FLUX_LOCAL.iterdir() if p.is_dir()))
def test_flux_local_corpora_edit_byte_exactly(corpus: str) -> None:
    files = files_under(FLUX_LOCAL / corpus, f"tests/testdata/{corpus}/")
    bump_all(files)


def test_small_repo_comments_and_quotes_survive() -> None:
    files = files_under(SMALL_REPO)
    assert bump_all(files) >= 10
    site = next(s for s in sites_of(files) if s.path == "clusters/prod/apps/gitea/helmrelease.yaml")
    after = replace_scalar(files[site.path], site, "10.6.1")
    assert b'      version: "10.6.1" # quoted version\n' in after
    site = next(s for s in sites_of(files) if s.path == "clusters/prod/apps/cert-manager/helmrelease.yaml")
    after = replace_scalar(files[site.path], site, "v1.16.2")
    assert b"      version: v1.16.2 # pinned: CRD migration pending\n" in after


HAND_WRITTEN = {
    "flow": b"""---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: apps}
spec:
  chart: {spec: {chart: app, version: '1.2.3', sourceRef: {kind: HelmRepository, name: r}}}
""",
    "crlf": b"apiVersion: helm.toolkit.fluxcd.io/v2\r\nkind: HelmRelease\r\nmetadata:\r\n  name: app\r\n"
    b"  namespace: apps\r\nspec:\r\n  chart:\r\n    spec:\r\n      chart: app\r\n      version: 1.2.3   # keep\r\n"
    b"      sourceRef:\r\n        kind: HelmRepository\r\n        name: r\r\n",
    "multi": b"""# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {version: 1.2.3}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: r
  namespace: apps
spec:
  url: https://charts.example.invalid
...
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
  namespace: apps # ns
spec:
  chart:
    spec:
      chart: app
      # the version below is bumped by the bot
      version: "${appVersion:=1.2.3}"
      sourceRef:
        kind: HelmRepository
        name: r
""",
    "unicode": "# Größe: ünïcödé before the value\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
    "metadata:\n  name: app\n  namespace: apps\nspec:\n  chart:\n    spec:\n      chart: app\n"
    "      version: 1.2.3 # änderung\n      sourceRef:\n        kind: HelmRepository\n        name: r\n".encode(),
}
REPO = b"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: r
  namespace: apps
spec:
  url: https://charts.example.invalid
"""


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_files_change_only_the_version(name: str) -> None:
    files = {f"clusters/c/{name}.yaml": HAND_WRITTEN[name], "clusters/c/repo.yaml": REPO}
    (site,) = sites_of(files)
    before = files[site.path]
    after = replace_scalar(before, site, site.value_with("1.10.0"))
    expected = before.replace(b"1.2.3", b"1.10.0") if name != "multi" else before.replace(b"=1.2.3}", b"=1.10.0}")
    assert after == expected


def test_plain_scalar_that_would_change_type_gets_quotes() -> None:
    files = {"clusters/c/app.yaml": HAND_WRITTEN["crlf"], "clusters/c/repo.yaml": REPO}
    (site,) = sites_of(files)
    after = replace_scalar(files[site.path], site, "1.10")
    assert b'version: "1.10"   # keep\r\n' in after


def test_edit_that_does_not_parse_back_is_refused() -> None:
    files = {"clusters/c/app.yaml": HAND_WRITTEN["flow"], "clusters/c/repo.yaml": REPO}
    (site,) = sites_of(files)
    with pytest.raises(EditError):
        replace_scalar(files[site.path], site, "it's")


CATALOG_RELEASE = b"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: traefik
  namespace: kommander
spec:
  chartRef:
    kind: OCIRepository
    name: traefik-chart
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: traefik-chart
  namespace: kommander
spec:
  url: oci://ghcr.io/traefik/helm/traefik
  ref:
    tag: 39.0.7 # chart
"""
CATALOG_KS = b"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: traefik
  namespace: kommander
spec:
  path: ./applications/traefik/39.0.7/traefik
  sourceRef: {kind: GitRepository, name: management}
"""


def test_catalog_folder_bump_moves_the_folder_and_its_references() -> None:
    files = {
        "applications/traefik/39.0.7/traefik/traefik.yaml": CATALOG_RELEASE,
        "applications/traefik/39.0.7/kustomization.yaml": b"resources:\n  - traefik\n",
        "applications/traefik-crds/39.0.7/x.yaml": b"kind: ConfigMap\n",
        "clusters/host/apps/traefik.yaml": CATALOG_KS,
    }
    (use,) = [u for u in scan_tree(files).uses if u.site is not None]
    assert use.catalog is not None and use.catalog.app == "traefik"
    assert use.site is not None
    result = apply_to_tree(files, [Edit(use.site, "39.1.0", use.catalog, "39.1.0")])
    assert sorted(result) == [
        "applications/traefik-crds/39.0.7/x.yaml",
        "applications/traefik/39.1.0/kustomization.yaml",
        "applications/traefik/39.1.0/traefik/traefik.yaml",
        "clusters/host/apps/traefik.yaml",
    ]
    assert result["applications/traefik/39.1.0/traefik/traefik.yaml"] == CATALOG_RELEASE.replace(b"39.0.7", b"39.1.0")
    assert result["clusters/host/apps/traefik.yaml"] == CATALOG_KS.replace(b"39.0.7", b"39.1.0")
