"""Scanning: sources resolved per cluster as Flux does (sync objects, targetNamespace, variables), never by name."""

from __future__ import annotations

from pathlib import Path

import gitops_engine
from gitops_engine.updates.scan import ChartSource, ChartUse, scan_tree
from tests.updates.support import FLUX_LOCAL, SMALL_REPO, files_under

SYNC = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  path: ./clusters/{cluster}
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
REPO = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  url: {url}
"""
APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  path: ./apps/podinfo
  targetNamespace: {namespace}
  postBuild:
    substitute:
      repoName: charts
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
RELEASE = b"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  chart:
    spec:
      chart: podinfo
      version: "${podinfoVersion:=6.5.0}"
      sourceRef:
        kind: HelmRepository
        name: ${repoName}
        namespace: flux-system
"""


def two_clusters(prod_url: str, edge_url: str) -> dict[str, bytes]:
    """Two clusters, each with its own `charts` HelmRepository, applying one shared release file."""
    files: dict[str, bytes] = {"apps/podinfo/release.yaml": RELEASE}
    for cluster, url in (("prod", prod_url), ("edge", edge_url)):
        files[f"clusters/{cluster}/flux-system/gotk-sync.yaml"] = SYNC.format(cluster=cluster).encode()
        files[f"clusters/{cluster}/repos.yaml"] = REPO.format(url=url).encode()
        files[f"clusters/{cluster}/apps.yaml"] = APPS.format(namespace=f"podinfo-{cluster}").encode()
    return files


def by_cluster(uses: tuple[ChartUse, ...]) -> dict[str, ChartUse]:
    return {cluster: use for use in uses for cluster in use.clusters}


def test_same_named_repositories_resolve_per_cluster() -> None:
    scan = scan_tree(two_clusters("https://prod.example.invalid/charts", "https://edge.example.invalid/charts/"))
    uses = by_cluster(scan.uses)
    assert uses["prod"].source == ChartSource("https://prod.example.invalid/charts", "helm", ("podinfo",))
    assert uses["edge"].source == ChartSource("https://edge.example.invalid/charts", "helm", ("podinfo",))
    # the release came through a Kustomization with targetNamespace; the holder says where it lands
    assert uses["prod"].holder == "HelmRelease podinfo-prod/podinfo"
    assert uses["edge"].site is not None and uses["edge"].site.version_text == "6.5.0"
    assert {s.url for s in scan.sources()} == {
        "https://prod.example.invalid/charts",
        "https://edge.example.invalid/charts",
    }


def test_a_kustomization_with_a_kubeconfig_applies_to_the_cluster_it_reaches_not_to_its_own() -> None:
    # the management cluster delivers the managed cluster `edge` its sync through edge's kubeconfig: what that
    # sync builds is edge's, so edge's release is not also counted as the management cluster's
    files = two_clusters("https://prod.example.invalid/charts", "https://edge.example.invalid/charts")
    files["clusters/prod/edge-sync.yaml"] = b"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: edge-sync
  namespace: flux-system
spec:
  path: ./clusters/edge/flux-system
  kubeConfig:
    secretRef:
      name: edge-kubeconfig
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

    uses = scan_tree(files).uses

    assert sorted(use.clusters for use in uses) == [("edge",), ("prod",)]


def test_a_source_defined_only_in_another_cluster_is_not_used() -> None:
    files = two_clusters("https://prod.example.invalid/charts", "https://edge.example.invalid/charts")
    del files["clusters/edge/repos.yaml"]
    uses = by_cluster(scan_tree(files).uses)
    assert uses["prod"].skip == ""
    assert uses["edge"].skip == "HelmRepository flux-system/charts is not defined in cluster edge"


def test_small_repo_without_sync_objects_uses_cluster_folders() -> None:
    uses = scan_tree(files_under(SMALL_REPO)).uses
    staging_gitea = next(u for u in uses if u.path.endswith("staging/apps/gitea/release.yaml") and u.site)
    # sourceRef without namespace: the release's own namespace (gitea), where gitea-charts is defined
    assert staging_gitea.source_ref == "HelmRepository gitea/gitea-charts"
    unknown = next(u for u in uses if "unknown-src" in u.path)
    assert "does-not-exist" in unknown.skip
    chartref = next(u for u in uses if u.path.endswith("chartref.yaml"))
    assert chartref.source == ChartSource("oci://127.0.0.1:18880/charts/podinfo", "oci", ("podinfo",))
    assert chartref.site is not None and chartref.site.keys == ("spec", "ref", "tag")
    oci = next(u for u in uses if u.path.endswith("podinfo-oci/helmrelease.yaml"))
    assert oci.source is not None and oci.source.url == "oci://127.0.0.1:18880/charts/podinfo"
    ranged = next(u for u in uses if "staging/apps/kube-prometheus-stack" in u.path)
    assert ranged.is_range


def test_flux_local_corpora_resolve_through_their_kustomizations() -> None:
    # flux-local's Kustomization paths start at its repository root, so the corpus is placed where they point
    cases = {
        "cluster2": {"ingress-nginx": "https://kubernetes.github.io/ingress-nginx"},
        "cluster7": {"ingress-nginx": "https://kubernetes.github.io/ingress-nginx"},
        "cluster8": {"tailscale-operator": "https://pkgs.tailscale.com/helmcharts"},
    }
    for name, expected in cases.items():
        scan = scan_tree(files_under(FLUX_LOCAL / name, f"tests/testdata/{name}/"))
        found = {u.chart: u.source.url for u in scan.uses if u.source is not None and not u.skip}
        for chart, url in expected.items():
            assert found[chart] == url, name


def test_cluster3_release_behind_an_oci_sourced_kustomization_is_not_claimed() -> None:
    # its Kustomization applies a path of another source (an OCIRepository), so no cluster of this repo owns it
    scan = scan_tree(files_under(FLUX_LOCAL / "cluster3", "tests/testdata/cluster3/"))
    (use,) = [u for u in scan.uses if u.chart == "podinfo"]
    assert use.clusters == ("(repository)",)


def test_invalid_yaml_is_reported_not_fatal() -> None:
    files = {
        "clusters/a/bad.yaml": b"kind: HelmRelease\n  - : [\n",
        **two_clusters("https://a.invalid", "https://b.invalid"),
    }
    scan = scan_tree(files)
    assert scan.problems and scan.problems[0].startswith("clusters/a/bad.yaml:")
    assert len([u for u in scan.uses if not u.skip]) == 2


VARS_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: kommander-vars
  namespace: flux-system
data:
  helmMirrorURL: {mirror}
"""
MIRRORED_REPO = REPO.format(url="${helmMirrorURL:=https://charts.example.invalid/upstream}")
FROM_VARS = APPS.replace(
    "    substitute:\n      repoName: charts\n",
    "    substitute:\n      repoName: charts\n"
    "    substituteFrom:\n      - kind: ConfigMap\n        name: kommander-vars\n        optional: true\n",
)


def mirrored(mirror: str | None) -> dict[str, bytes]:
    """One cluster whose HelmRepository and apps are applied by Kustomizations substituting from kommander-vars."""
    infra = FROM_VARS.replace("name: apps", "name: infra").replace("path: ./apps/podinfo", "path: ./infra")
    files = {
        "clusters/prod/flux-system/gotk-sync.yaml": SYNC.format(cluster="prod").encode(),
        "clusters/prod/infra.yaml": infra.format(namespace="flux-system").encode(),
        "clusters/prod/apps.yaml": FROM_VARS.format(namespace="podinfo").encode(),
        "infra/repos.yaml": MIRRORED_REPO.encode(),
        "apps/podinfo/release.yaml": RELEASE,
    }
    if mirror is not None:
        files["clusters/prod/vars.yaml"] = VARS_CM.format(mirror=mirror).encode()
    return files


def test_substitute_from_configmap_points_releases_at_the_mirror() -> None:
    """Before, the bot read only postBuild.substitute: an air-gapped fleet's bump asked the public upstream."""
    (use,) = scan_tree(mirrored("http://127.0.0.1:8080/charts")).uses
    assert use.source == ChartSource("http://127.0.0.1:8080/charts", "helm", ("podinfo",))
    # without the ConfigMap (it is optional) the default applies, as in Flux
    (upstream,) = scan_tree(mirrored(None)).uses
    assert upstream.source == ChartSource("https://charts.example.invalid/upstream", "helm", ("podinfo",))


def test_a_sops_encrypted_secret_leaves_its_variables_to_flux() -> None:
    files = mirrored(None)
    files["clusters/prod/vars.yaml"] = (
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: kommander-vars\n  namespace: flux-system\n"
        b"stringData:\n  helmMirrorURL: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
        b"sops:\n  mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n  version: 3.10.2\n"
    )
    files["clusters/prod/infra.yaml"] = files["clusters/prod/infra.yaml"].replace(b"kind: ConfigMap", b"kind: Secret")
    (use,) = scan_tree(files).uses
    # the bot cannot read the value, so it cannot claim the mirror either: the expression's default stands
    assert use.source == ChartSource("https://charts.example.invalid/upstream", "helm", ("podinfo",))


def test_oci_registry_mirror_from_kommander_vars_reaches_the_catalog_oci_sources() -> None:
    """Kommander's OCI counterpart of helmMirrorURL is ociRegistryURL (a registry replacing the upstream one, the
    chart paths kept); the catalog's OCIRepositories read it, and the bot resolves it like any variable."""
    catalog = Path(gitops_engine.__file__).parent / "data" / "catalog" / "kafka" / "0.44.0" / "helmrelease.yaml"
    app = FROM_VARS.replace("path: ./apps/podinfo", "path: ./applications/kafka/0.44.0").replace(
        "      repoName: charts\n", "      releaseName: kafka\n      appVersion: 0.44.0\n      releaseNamespace: data\n"
    )
    files = {
        "clusters/prod/flux-system/gotk-sync.yaml": SYNC.format(cluster="prod").encode(),
        "clusters/prod/apps.yaml": app.format(namespace="data").encode(),
        "clusters/prod/vars.yaml": VARS_CM.format(mirror="x")
        .replace("helmMirrorURL: x", "ociRegistryURL: oci://127.0.0.1:5000")
        .encode(),
        "applications/kafka/0.44.0/helmrelease.yaml": catalog.read_bytes(),
    }
    (use,) = scan_tree(files).uses
    assert use.source == ChartSource("oci://127.0.0.1:5000/strimzi-helm/strimzi-kafka-operator", "oci",
                                     ("strimzi-kafka-operator",))  # fmt: skip
    del files["clusters/prod/vars.yaml"]
    (upstream,) = scan_tree(files).uses
    assert upstream.source is not None and upstream.source.url == "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
