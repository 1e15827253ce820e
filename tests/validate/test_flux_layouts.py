"""Repositories laid out like Flux's own reference examples, and the sources a start folder cannot see.

The first is laid out like fluxcd/flux2-kustomize-helm-example since Flux 2.7: an ArtifactGenerator splits the
repository into ExternalArtifacts `infrastructure` and `apps`, and the cluster's Kustomizations build paths
inside those artifacts. The second like fluxcd/flux2-multi-tenancy: a tenant's own GitRepository (another
repository) and the Kustomization that reads it, `path: ./`, patched per environment. Both are written here
from the layouts the Flux documentation describes; none of their files is copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops_engine.app.validate import validate_repository
from gitops_engine.model.finding import Severity
from gitops_engine.validate.engine import Report
from tests.validate.fixtures import GOTK_SYNC, line_of, write_tree
from tests.validate.test_corpora import applied_by

SYNC = GOTK_SYNC.replace("./clusters/dev", "./clusters/staging")

ARTIFACTS = """\
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata:
  name: flux-system
  namespace: flux-system
spec:
  sources:
    - alias: monorepo
      kind: GitRepository
      name: flux-system
  artifacts:
    - name: infrastructure
      originRevision: "@monorepo"
      copy:
        - from: "@monorepo/infrastructure/**"
          to: "@artifact/"
    - name: apps
      originRevision: "@monorepo"
      copy:
        - from: "@monorepo/apps/base/**"
          to: "@artifact/base/"
        - from: "@monorepo/apps/staging/**"
          to: "@artifact/staging/"
"""

INFRASTRUCTURE = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-controllers
  namespace: flux-system
spec:
  interval: 1h
  path: ./controllers
  prune: true
  wait: true
  sourceRef:
    kind: ExternalArtifact
    name: infrastructure
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-configs
  namespace: flux-system
spec:
  dependsOn:
    - name: infra-controllers
  interval: 1h
  path: ./configs
  prune: true
  sourceRef:
    kind: ExternalArtifact
    name: infrastructure
"""

APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  dependsOn:
    - name: infra-configs
  path: ./staging
  prune: true
  wait: true
  sourceRef:
    kind: ExternalArtifact
    name: apps
"""

CERT_MANAGER = """\
apiVersion: v1
kind: Namespace
metadata:
  name: cert-manager
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 24h
  url: oci://quay.io/jetstack/charts/cert-manager
  ref:
    semver: "1.x"
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 12h
  chartRef:
    kind: OCIRepository
    name: cert-manager
  values:
    crds:
      enabled: true
"""

PODINFO_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 50m
  chart:
    spec:
      chart: podinfo
      version: "6.x"
      sourceRef:
        kind: HelmRepository
        name: podinfo
  values:
    replicaCount: 1
"""

HELM_EXAMPLE: Mapping[str, str] = {
    "clusters/staging/flux-system/gotk-sync.yaml": SYNC,
    "clusters/staging/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
    "clusters/staging/artifacts.yaml": ARTIFACTS,
    "clusters/staging/infrastructure.yaml": INFRASTRUCTURE,
    "clusters/staging/apps.yaml": APPS,
    "infrastructure/controllers/kustomization.yaml": "resources:\n  - cert-manager.yaml\n",
    "infrastructure/controllers/cert-manager.yaml": CERT_MANAGER,
    "infrastructure/configs/kustomization.yaml": "resources:\n  - cluster-issuers.yaml\n",
    "infrastructure/configs/cluster-issuers.yaml": (
        "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: letsencrypt\nspec:\n  selfSigned: {}\n"
    ),
    "apps/base/podinfo/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: podinfo\n"
        "resources:\n  - namespace.yaml\n  - repository.yaml\n  - release.yaml\n"
    ),
    "apps/base/podinfo/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    "apps/base/podinfo/repository.yaml": (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n"
        "  namespace: podinfo\nspec:\n  interval: 5m\n  url: https://stefanprodan.github.io/podinfo\n"
    ),
    "apps/base/podinfo/release.yaml": PODINFO_RELEASE,
    # the overlay reaches its base as a sibling: the artifact keeps base/ and staging/ side by side
    "apps/staging/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base/podinfo\n"
        "patches:\n  - path: podinfo-values.yaml\n    target:\n      kind: HelmRelease\n"
    ),
    "apps/staging/podinfo-values.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n"
        "  namespace: podinfo\nspec:\n  values:\n    replicaCount: 2\n"
    ),
}


def _validate(root: Path, files: Mapping[str, str | None], **options: object) -> Report:
    write_tree(root / "repo", files)
    report, _ = validate_repository(str(root / "repo"), cache_dir=root / "cache", **options)  # type: ignore[arg-type]
    return report


def test_helm_example_builds_the_artifacts_its_generator_composes(tmp_path: Path) -> None:
    report = _validate(tmp_path, HELM_EXAMPLE)
    assert report.findings == ()
    applied = applied_by(report)
    assert applied["infra-controllers"] == {
        "Namespace/cert-manager",
        "OCIRepository/cert-manager/cert-manager",
        "HelmRelease/cert-manager/cert-manager",
    }
    assert applied["infra-configs"] == {"ClusterIssuer/letsencrypt"}
    assert applied["apps"] == {
        "Namespace/podinfo",
        "HelmRepository/podinfo/podinfo",
        "HelmRelease/podinfo/podinfo",
    }
    (cluster,) = report.discovery.clusters
    release = next(o for o in cluster.objects if str(o.id) == "HelmRelease/podinfo/podinfo")
    # the staging patch applied, and the object is traced to the repository file it was copied from
    assert release.body["spec"]["values"] == {"replicaCount": 2}
    assert (release.file, release.line_of(("spec", "interval"))) == ("apps/base/podinfo/release.yaml", 7)


def test_helm_example_path_missing_from_the_artifact_is_reported(tmp_path: Path) -> None:
    apps = APPS.replace("path: ./staging", "path: ./production")
    report = _validate(tmp_path, {**HELM_EXAMPLE, "clusters/staging/apps.yaml": apps})
    assert [(f.rule, f.file, f.line) for f in report.findings] == [
        ("ks-path-missing", "clusters/staging/apps.yaml", line_of(apps, "path: ./production"))
    ]
    assert "ExternalArtifact flux-system/apps" in report.findings[0].message


def test_helm_example_copy_rule_matching_nothing_is_reported_at_the_rule(tmp_path: Path) -> None:
    artifacts = ARTIFACTS.replace("@monorepo/apps/staging/**", "@monorepo/apps/stagign/**")
    report = _validate(tmp_path, {**HELM_EXAMPLE, "clusters/staging/artifacts.yaml": artifacts})
    rules = [(f.rule, f.file, f.line) for f in report.findings]
    assert ("artifact-copy", "clusters/staging/artifacts.yaml", line_of(artifacts, "stagign")) in rules
    # without its staging/ folder the artifact cannot serve path ./staging either
    assert ("ks-path-missing", "clusters/staging/apps.yaml", line_of(APPS, "path: ./staging")) in rules
    assert len(rules) == 2


def test_generator_source_mapped_with_source_option_is_read_from_that_folder(tmp_path: Path) -> None:
    # the generator reads an OCI artifact the repository also keeps as a folder (deploy/)
    artifacts = ARTIFACTS.replace(
        "    - alias: monorepo\n      kind: GitRepository\n      name: flux-system\n",
        "    - alias: monorepo\n      kind: OCIRepository\n      name: manifests\n",
    )
    files = {f"deploy/{k}" if k.startswith(("apps/", "infrastructure/")) else k: v for k, v in HELM_EXAMPLE.items()}
    files["clusters/staging/artifacts.yaml"] = artifacts
    unmapped = _validate(tmp_path / "a", files)
    # neither artifact can be rebuilt: each is reported once, at the first Kustomization reading it
    assert [(f.rule, f.file, f.severity) for f in unmapped.findings] == [
        ("source-not-checked", "clusters/staging/apps.yaml", Severity.WARNING),
        ("source-not-checked", "clusters/staging/infrastructure.yaml", Severity.WARNING),
    ]
    mapped = _validate(tmp_path / "b", files, sources={"manifests": "deploy"})
    assert mapped.findings == ()
    assert "HelmRelease/podinfo/podinfo" in applied_by(mapped)["apps"]


TENANT_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: dev-team
  namespace: apps
spec:
  interval: 1m
  url: https://example.invalid/dev-team.git
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: dev-team
  namespace: apps
spec:
  serviceAccountName: dev-team
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: dev-team
  prune: true
  path: ./
"""

TENANT_RBAC = """\
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  labels:
    toolkit.fluxcd.io/tenant: dev-team
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: dev-team
  namespace: apps
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: gotk-reconciler
  namespace: apps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: dev-team
    namespace: apps
"""

TENANTS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: tenants
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./tenants/staging
  prune: true
"""

TENANCY_EXAMPLE: Mapping[str, str] = {
    "clusters/staging/flux-system/gotk-sync.yaml": SYNC,
    "clusters/staging/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
    "clusters/staging/tenants.yaml": TENANTS,
    "tenants/base/dev-team/kustomization.yaml": "resources:\n  - rbac.yaml\n  - sync.yaml\n",
    "tenants/base/dev-team/rbac.yaml": TENANT_RBAC,
    "tenants/base/dev-team/sync.yaml": TENANT_SYNC,
    "tenants/staging/kustomization.yaml": (
        "resources:\n  - ../base/dev-team\npatches:\n  - path: dev-team-patch.yaml\n"
        "    target:\n      kind: Kustomization\n"
    ),
    "tenants/staging/dev-team-patch.yaml": (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: dev-team\n"
        "  namespace: apps\nspec:\n  path: ./staging\n"
    ),
}


def test_tenant_repository_is_reported_once_as_not_checked_and_never_built_from_here(tmp_path: Path) -> None:
    """Before, the tenant's Kustomization (path ./, its own file inside) was taken for a cluster and this
    repository's root was built as if it were the tenant's: every object twice."""
    report = _validate(tmp_path, TENANCY_EXAMPLE)
    assert [(f.rule, f.file, f.line, f.severity) for f in report.findings] == [
        (
            "source-not-checked",
            "tenants/base/dev-team/sync.yaml",
            line_of(TENANT_SYNC, "sourceRef:"),
            Severity.WARNING,
        )
    ]
    (cluster,) = report.discovery.clusters
    assert cluster.name == "clusters/staging"
    assert [str(ks.origin.id) for ks in cluster.external] == ["Kustomization/apps/dev-team"]


def test_path_mode_leaves_a_remote_git_repository_unbuilt(tmp_path: Path) -> None:
    """Before, any GitRepository was taken for this repository when the start was a folder: ks-path-missing."""
    remote = TENANT_SYNC.replace("path: ./", "path: ./deploy")
    files = {**TENANCY_EXAMPLE, "tenants/base/dev-team/sync.yaml": remote}
    for start in ("clusters/staging", "tenants/staging"):
        report = _validate(tmp_path / start.replace("/", "-"), files, path=start)
        assert [(f.rule, f.file) for f in report.findings] == [
            ("source-not-checked", "tenants/base/dev-team/sync.yaml")
        ], start


def test_path_mode_accepts_a_helm_release_reading_the_bootstrap_git_repository(tmp_path: Path) -> None:
    """Before: ref-source for GitRepository flux-system/flux-system, which Kustomizations were allowed to name."""
    release = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: local\n  namespace: apps\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: ./charts/local\n      sourceRef:\n"
        "        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n"
    )
    chart = "apiVersion: v2\nname: local\nversion: 1.0.0\n"
    files = {**TENANCY_EXAMPLE, "apps/local/release.yaml": release, "charts/local/Chart.yaml": chart}
    assert _validate(tmp_path / "a", files, path="apps/local").findings == ()
    # the chart folder is still checked: it must exist in this repository
    missing = _validate(tmp_path / "b", {**files, "charts/local/Chart.yaml": None}, path="apps/local")
    assert [(f.rule, f.line) for f in missing.findings] == [("helm-chart-missing", line_of(release, "./charts"))]


def test_artifact_generator_is_checked_against_its_crd(tmp_path: Path) -> None:
    # Extract arrived with source-watcher v2.1 (Flux 2.8); the v2.0 API of Flux 2.7 does not have it
    artifacts = ARTIFACTS.replace(
        '          to: "@artifact/"\n', '          to: "@artifact/"\n          strategy: Extract\n'
    )
    report = _validate(tmp_path, {**HELM_EXAMPLE, "clusters/staging/artifacts.yaml": artifacts})
    assert [(f.rule, f.file, f.line) for f in report.findings] == [
        ("schema-enum", "clusters/staging/artifacts.yaml", line_of(artifacts, "strategy: Extract"))
    ]


def test_an_external_artifact_no_generator_here_makes_is_built_from_the_folder_source_names(tmp_path: Path) -> None:
    """Before: `ref-source` for the artifact (no object in git ever is one), even with --source NAME=DIR."""
    apps = APPS.replace("name: apps\n", "name: rendered\n").replace("  dependsOn:\n    - name: infra-configs\n", "")
    files = {
        "clusters/staging/flux-system/gotk-sync.yaml": SYNC,
        "clusters/staging/apps.yaml": apps,
        **{f"rendered/{p.removeprefix('apps/')}": text for p, text in HELM_EXAMPLE.items() if p.startswith("apps/")},
    }
    unmapped = _validate(tmp_path / "a", files)
    assert [(f.rule, f.severity) for f in unmapped.findings] == [("source-not-checked", Severity.WARNING)]
    mapped = _validate(tmp_path / "b", files, sources={"rendered": "rendered"})
    assert mapped.findings == ()
    assert "HelmRelease/podinfo/podinfo" in applied_by(mapped)["rendered"]
