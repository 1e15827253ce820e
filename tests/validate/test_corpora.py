"""Every flux-local test repository: the objects each Kustomization applies and the findings expected.

The corpora's spec.path values are rooted at the flux-local repository (./tests/testdata/<name>/...), so each
corpus is mounted at that path, exactly as it sits in flux-local.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gitops_engine.adapters.kustomize import kustomize_builder, read_directory
from gitops_engine.model.finding import Severity
from gitops_engine.validate.engine import Report, validate_tree, with_artifacts
from tests.conftest import DATA

CORPORA = DATA / "flux-local" / "testdata"


def _validate(name: str, sources: Mapping[str, str] | None = None, path: str | None = None) -> Report:
    prefix = f"tests/testdata/{name}"
    files = {f"{prefix}/{path}": data for path, data in read_directory(CORPORA / name).items()}
    mounted, artifacts = with_artifacts(files, sources)
    with kustomize_builder(mounted, cache_dir=None) as builder:
        return validate_tree(files, builder, sources=sources, path=path, artifacts=artifacts)


def applied_by(report: Report) -> dict[str, set[str]]:
    """Flux Kustomization name → ids of the objects it applies, over all clusters."""
    result: dict[str, set[str]] = {}
    for cluster in report.discovery.clusters:
        for ks in cluster.kustomizations:
            result[ks.origin.id.name] = {str(o.id) for o in cluster.objects if o.producer == ks.origin.id}
    return result


def _errors(report: Report, name: str) -> set[tuple[str, str, int]]:
    prefix = f"tests/testdata/{name}/"
    return {(f.rule, f.file.removeprefix(prefix), f.line) for f in report.errors}


def _deprecated(report: Report) -> set[str]:
    return {f.message.split(":")[0] for f in report.findings if f.rule == "flux-deprecated-api"}


def test_cluster_substitutes_from_configmap_and_secret() -> None:
    report = _validate("cluster")
    (cluster,) = report.discovery.clusters
    assert cluster.name == "tests/testdata/cluster/clusters/prod"
    applied = applied_by(report)
    assert set(applied) == {"flux-system", "apps", "infra-configs", "infra-controllers"}
    assert applied["infra-controllers"] == {"HelmRelease/flux-system/weave-gitops", "HelmRelease/metallb/metallb"}
    assert "HelmRepository/flux-system/podinfo" in applied["infra-configs"]
    # ${SECRET_DOMAIN/./-} from the ConfigMap, ${SECRET_DOMAIN3} from the plaintext Secret
    assert {"Certificate/example-com-staging", "Certificate/other-com-staging"} <= applied["apps"]
    certificate = next(o for o in cluster.objects if str(o.id) == "Certificate/other-com-staging")
    assert certificate.body["spec"]["dnsNames"] == ["other.com", "*.other.com", "example-value"]
    release = next(o for o in cluster.objects if str(o.id) == "HelmRelease/podinfo/podinfo")
    assert release.body["spec"]["values"]["ingress"]["hosts"][0]["host"] == "podinfo.production"
    assert release.body["spec"]["chart"]["spec"]["version"] == "6.3.2"
    assert _errors(report, "cluster") == {
        ("secret-plaintext", "clusters/prod/flux-system/cluster-secrets.yaml", 7),
        # SECRET_DOMAIN3 and SECRET_DOMAIN4 are both "SECRET": two Certificates named SECRET-staging
        ("duplicate-object", "apps/prod/certificates.yaml", 45),
        # ... and an upper-case name is no DNS subdomain: the API server refuses both
        ("object-name", "apps/prod/certificates.yaml", 34),
        ("object-name", "apps/prod/certificates.yaml", 48),
    }
    assert _deprecated(report) == {
        "HelmRelease/podinfo/podinfo",
        "HelmRelease/metallb/metallb",
        "HelmRelease/flux-system/weave-gitops",
        "HelmRepository/flux-system/bitnami",
        "HelmRepository/flux-system/podinfo",
        "HelmRepository/flux-system/weave-charts",
    }


def test_cluster2_follows_its_git_source_and_leaves_the_oci_one_external() -> None:
    report = _validate("cluster2")
    (cluster,) = report.discovery.clusters
    assert [str(ks.origin.id) for ks in cluster.external] == ["Kustomization/flux-system/flux"]
    applied = applied_by(report)
    assert applied["cluster-apps"] == {
        "Namespace/monitoring",
        "Namespace/networking",
        "Kustomization/flux-system/cluster-apps-headlamp",
        "Kustomization/flux-system/cluster-apps-ingress-nginx",
        "Kustomization/flux-system/cluster-apps-ingress-nginx-certificates",
    }
    # targetNamespace puts the namespace-less HelmRelease into networking
    assert applied["cluster-apps-ingress-nginx"] == {"HelmRelease/networking/ingress-nginx"}
    assert applied["cluster-apps-ingress-nginx-certificates"] == {"Certificate/networking/example-io"}
    assert _errors(report, "cluster2") == set()
    assert "OCIRepository/flux-system/flux-manifests" in _deprecated(report)


def test_cluster3_oci_source_mapped_to_a_folder() -> None:
    unmapped = _validate("cluster3")
    assert {str(ks.origin.id) for ks in unmapped.discovery.clusters[0].external} == {
        "Kustomization/flux-system/namespaces",
        "Kustomization/flux-system/tenants",
    }
    report = _validate("cluster3", {"cluster": "tests/testdata/cluster3"})
    applied = applied_by(report)
    assert applied["namespaces"] == {
        "Namespace/podinfo",
        "HelmRelease/podinfo/podinfo",
        "HelmRepository/flux-system/podinfo",
    }
    assert applied["tenants"] == {"Namespace/app"}
    assert _errors(report, "cluster3") == set()


def test_cluster4_flux_and_kustomize_kustomizations_share_a_folder() -> None:
    report = _validate("cluster4")
    assert len(report.discovery.clusters) == 1
    assert applied_by(report)["cluster-apps-headlamp"] == {"HelmRelease/monitoring/headlamp"}
    assert _errors(report, "cluster4") == set()


def test_cluster5_kustomization_outside_flux_system_has_a_dangling_source() -> None:
    report = _validate("cluster5")
    (cluster,) = report.discovery.clusters
    assert cluster.name == "tests/testdata/cluster5/clusters/prod"
    # no spec.path: Flux builds the source root, which reaches cluster5/kustomization.yaml
    assert applied_by(report)["infra-controllers"] == {
        "HelmRelease/flux-system/weave-gitops",
        "HelmRelease/metallb/metallb",
        "HelmRepository/flux-system/bitnami",
        "HelmRepository/flux-system/weave-charts",
    }
    # sourceRef has no namespace, so it means controllers/flux-system, which does not exist
    assert _errors(report, "cluster5") == {("ref-source", "clusters/prod/infrastructure.yaml", 11)}


def test_cluster6_kustomization_without_required_fields() -> None:
    report = _validate("cluster6")
    assert applied_by(report)["apps"] == {"HelmRelease/default/renovate", "HelmRepository/flux-system/renovate"}
    assert {(f.rule, f.message.rsplit(": ", 1)[-1]) for f in report.errors} == {
        ("schema-required", "'interval' is a required property"),
        ("schema-required", "'prune' is a required property"),
    }


def test_cluster7_chart_refs_and_a_generated_kustomization() -> None:
    report = _validate("cluster7")
    applied = applied_by(report)
    assert applied["apps"] == {
        "Namespace/database",
        "HelmRelease/flux-system/cloudflared",
        "HelmRelease/flux-system/ingress-nginx",
        "HelmRelease/flux-system/unifi-controller",
        "HelmRelease/database/postgresql",
        "HelmChart/chart-ns/ingress-nginx",
        "HelmRepository/flux-system/ingress-nginx",
    }
    assert applied["charts"] == {"HelmRepository/flux-system/bitnami-charts", "OCIRepository/flux-system/app-template"}
    assert _errors(report, "cluster7") == {
        ("schema-required", "flux/apps/ingress-nginx/chart.yaml", 7),
        # HelmChart.spec.sourceRef has no namespace field, so the reference stays in chart-ns
        ("schema-unknown-field", "flux/apps/ingress-nginx/chart.yaml", 12),
        ("ref-source", "flux/apps/ingress-nginx/chart.yaml", 9),
        ("schema-required", "flux/apps/ingress-nginx/release.yaml", 7),
    }


def test_cluster8_pods_secret_and_values_from() -> None:
    report = _validate("cluster8")
    assert len(applied_by(report)["apps"]) == 9
    assert _errors(report, "cluster8") == {
        ("secret-plaintext", "apps/podinfo-tls-values.yaml", 6),
        ("schema-required", "apps/pods.yaml", 26),
    }
    assert "HelmRelease/network/tailscale-operator" in _deprecated(report)


def test_image_error_reports_the_image_mapping() -> None:
    report = _validate("image_error")
    assert _errors(report, "image_error") == {
        ("schema-required", "apps/pods.yaml", 26),
        ("schema-type", "apps/pods.yaml", 29),
    }


def test_repo_without_flux_objects_is_built_from_its_root() -> None:
    report = _validate("repo")
    (cluster,) = report.discovery.clusters
    assert {str(o.id) for o in cluster.objects} == {
        "ConfigMap/flux-system/cluster-settings",
        "Secret/flux-system/cluster-secrets",
    }
    assert [(f.rule, f.line, f.severity) for f in report.findings] == [("secret-plaintext", 7, Severity.ERROR)]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPORA.iterdir() if p.is_dir()))
def test_every_corpus_validates_without_crashing(name: str) -> None:
    report = _validate(name)
    assert report.discovery.clusters
    assert all(Path(f.file).parts[:3] == ("tests", "testdata", name) for f in report.findings)


def _warnings(report: Report, name: str) -> set[tuple[str, str, int]]:
    prefix = f"tests/testdata/{name}/"
    return {
        (f.rule, f.file.removeprefix(prefix), f.line)
        for f in report.findings
        if f.severity is Severity.WARNING and f.rule != "flux-deprecated-api"
    }


def test_oci_sources_of_other_repositories_are_reported_once_as_not_checked() -> None:
    # cluster2 and cluster4 apply Flux itself from an OCIRepository; cluster3 two Kustomizations read one
    assert _warnings(_validate("cluster2"), "cluster2") == {("source-not-checked", "flux/config/flux.yaml", 23)}
    assert _warnings(_validate("cluster4"), "cluster4") == {("source-not-checked", "flux/config/flux.yaml", 23)}
    assert _warnings(_validate("cluster3"), "cluster3") == {
        ("source-not-checked", "clusters/cluster3/namespaces.yaml", 14)
    }
    # mapped to a folder, the source is this repository and nothing is left unchecked
    assert _warnings(_validate("cluster3", {"cluster": "tests/testdata/cluster3"}), "cluster3") == set()


# the folder holding each corpus's sync Kustomization, as `validate --path` is given it
SYNC_FOLDERS = {
    "cluster": "clusters/prod",
    "cluster2": "flux",
    "cluster3": "clusters/cluster3",
    "cluster4": "flux",
    "cluster5": "clusters/prod",
    "cluster6": "cluster",
    "cluster7": "clusters/home",
    "cluster8": "cluster",
    "image_error": "cluster",
}


@pytest.mark.parametrize("name", sorted(SYNC_FOLDERS))
def test_path_mode_on_the_sync_folder_finds_what_discovery_finds(name: str) -> None:
    """Before, every object was reported twice: the folder's own sync Kustomization was applied a second time."""
    folder = f"tests/testdata/{name}/{SYNC_FOLDERS[name]}"
    by_path = _validate(name, path=folder)
    duplicates = [f for f in by_path.findings if f.rule == "duplicate-object"]
    assert len(duplicates) == (1 if name == "cluster" else 0)  # cluster's one duplicate is its own (see above)
    assert not [f for f in by_path.findings if f.rule == "ks-path-missing"]
    assert set(by_path.findings) == set(_validate(name).findings)
    # the walk starts at the folder's own sync Kustomization, not at a stand-in for the folder
    (cluster,) = by_path.discovery.clusters
    assert (cluster.root.path, cluster.root.origin.id.kind) == (folder, "Kustomization")
    assert cluster.root.source is not None


_DEPRECATED = "flux-deprecated-api"
# Every finding on every corpus, written from the corpora themselves: each `apiVersion` line of a v1beta/v2beta Flux
# object that some Kustomization applies (a patch such as cluster/apps/prod/podinfo-values.yaml is no object of its
# own), and the errors and unchecked sources the tests above explain one by one.
ALL_FINDINGS: dict[str, set[tuple[str, str, int]]] = {
    "cluster": {
        ("secret-plaintext", "clusters/prod/flux-system/cluster-secrets.yaml", 7),
        ("duplicate-object", "apps/prod/certificates.yaml", 45),
        ("object-name", "apps/prod/certificates.yaml", 34),
        ("object-name", "apps/prod/certificates.yaml", 48),
        (_DEPRECATED, "apps/base/podinfo/release.yaml", 2),
        (_DEPRECATED, "infrastructure/configs/helm-repositories.yaml", 2),
        (_DEPRECATED, "infrastructure/configs/helm-repositories.yaml", 13),
        (_DEPRECATED, "infrastructure/configs/helm-repositories.yaml", 23),
        (_DEPRECATED, "infrastructure/controllers/metallb-release.yaml", 2),
        (_DEPRECATED, "infrastructure/controllers/weave-gitops-release.yaml", 2),
    },
    "cluster2": {
        ("source-not-checked", "flux/config/flux.yaml", 23),
        (_DEPRECATED, "apps/monitoring/headlamp/app/helmrelease.yaml", 2),
        (_DEPRECATED, "apps/networking/ingress-nginx/app/helmrelease.yaml", 2),
        (_DEPRECATED, "flux/config/flux.yaml", 2),
        (_DEPRECATED, "flux/repositories/helm/headlamp.yaml", 2),
        (_DEPRECATED, "flux/repositories/helm/ingress-nginx.yaml", 2),
        (_DEPRECATED, "flux/repositories/helm/kyverno.yaml", 2),
    },
    # namespaces/ is read from the OCI artifact, which is not checked unless mapped (see below)
    "cluster3": {
        ("source-not-checked", "clusters/cluster3/namespaces.yaml", 14),
        (_DEPRECATED, "clusters/cluster3/cluster.yaml", 2),
    },
    "cluster4": {
        ("source-not-checked", "flux/config/flux.yaml", 23),
        (_DEPRECATED, "apps/monitoring/headlamp/helmrelease.yaml", 2),
        (_DEPRECATED, "flux/config/flux.yaml", 2),
        (_DEPRECATED, "flux/repositories/headlamp.yaml", 2),
    },
    "cluster5": {
        ("ref-source", "clusters/prod/infrastructure.yaml", 11),
        (_DEPRECATED, "metallb-release.yaml", 2),
        (_DEPRECATED, "repositories.yaml", 2),
        (_DEPRECATED, "repositories.yaml", 12),
        (_DEPRECATED, "weave-gitops-release.yaml", 2),
    },
    "cluster6": {
        # interval and prune, both missing from the same Kustomization
        ("schema-required", "cluster/apps.yaml", 7),
        (_DEPRECATED, "apps/renovate/release.yaml", 2),
        (_DEPRECATED, "apps/renovate/repository.yaml", 2),
    },
    "cluster7": {
        ("schema-required", "flux/apps/ingress-nginx/chart.yaml", 7),
        ("schema-unknown-field", "flux/apps/ingress-nginx/chart.yaml", 12),
        ("ref-source", "flux/apps/ingress-nginx/chart.yaml", 9),
        ("schema-required", "flux/apps/ingress-nginx/release.yaml", 7),
        (_DEPRECATED, "flux/apps/database/postgresql/helm-release.yaml", 2),
        (_DEPRECATED, "flux/charts/app-template.yaml", 2),
        (_DEPRECATED, "flux/charts/bitnami-charts.yaml", 2),
    },
    "cluster8": {
        ("secret-plaintext", "apps/podinfo-tls-values.yaml", 6),
        ("schema-required", "apps/pods.yaml", 26),
        (_DEPRECATED, "apps/podinfo.yaml", 2),
        (_DEPRECATED, "apps/podinfo.yaml", 12),
        (_DEPRECATED, "apps/tailscale.yaml", 13),
    },
    "image_error": {
        ("schema-required", "apps/pods.yaml", 26),
        ("schema-type", "apps/pods.yaml", 29),
    },
    "repo": {("secret-plaintext", "cluster-secrets.yaml", 7)},
}
CLUSTER3_MAPPED = {
    (_DEPRECATED, "clusters/cluster3/cluster.yaml", 2),
    (_DEPRECATED, "namespaces/base/podinfo/release.yaml", 2),
    (_DEPRECATED, "namespaces/base/podinfo/repository.yaml", 2),
}


def _all(report: Report, name: str) -> set[tuple[str, str, int]]:
    prefix = f"tests/testdata/{name}/"
    return {(f.rule, f.file.removeprefix(prefix), f.line) for f in report.findings}


@pytest.mark.parametrize("name", sorted(ALL_FINDINGS))
def test_every_finding_on_a_corpus_is_one_written_down_in_discovery_and_path_mode(name: str) -> None:
    assert sorted(p.name for p in CORPORA.iterdir() if p.is_dir()) == sorted(ALL_FINDINGS)
    assert _all(_validate(name), name) == ALL_FINDINGS[name]
    # --path at the folder of the sync Kustomization (the corpus root where there is none)
    start = f"tests/testdata/{name}/{SYNC_FOLDERS[name]}" if name in SYNC_FOLDERS else f"tests/testdata/{name}"
    assert _all(_validate(name, path=start), name) == ALL_FINDINGS[name]


def test_cluster3_with_its_oci_source_mapped_has_only_its_deprecated_apis_left() -> None:
    sources = {"cluster": "tests/testdata/cluster3"}
    assert _all(_validate("cluster3", sources), "cluster3") == CLUSTER3_MAPPED
    assert (
        _all(_validate("cluster3", sources, "tests/testdata/cluster3/clusters/cluster3"), "cluster3") == CLUSTER3_MAPPED
    )
