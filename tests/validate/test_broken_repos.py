"""Hand-made broken repositories: each breaks one thing and must yield exactly one finding, at the right line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_engine.app.validate import validate_repository
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.engine import Report
from tests.validate.fixtures import BASE, RELEASE, REPOSITORY, line_of, write_tree

ENCRYPTED = (
    "ENC[AES256_GCM,data:mHeXsmQ=,iv:vUMpILz3xchORqkzDFvgwENY7EqIHHGJdEF6C8xqbFE="
    ",tag:IroV7hykADvD0IUaq6kikA==,type:str]"
)
SOPS_SECRET_NO_MAC = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  token: {ENCRYPTED}
sops:
  age:
    - recipient: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29
      enc: x
  lastmodified: "2024-11-12T13:33:42Z"
  encrypted_regex: ^(data|stringData)$
  version: 3.9.0
"""

CYCLE = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: a
  namespace: flux-system
spec:
  interval: 10m
  path: ./infra/a
  prune: true
  dependsOn:
    - name: b
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: b
  namespace: flux-system
spec:
  interval: 10m
  path: ./infra/b
  prune: true
  dependsOn:
    - name: a
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
# kustomize expands aliases without a limit: this 1 KB file keeps it busy for minutes
ALIAS_BOMB = "".join(
    ["apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values\ndata:\n  l0: &l0 [lol, lol, lol, lol, lol, lol]\n"]
    + [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12)]
)
# one more digit than Python turns into an int by default: once a traceback from the YAML reader
HUGE_NUMBER = "1" + "0" * 5000
NUMBER_CONFIG = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sizes\ndata:\n  replicas: {HUGE_NUMBER}\n"


@dataclass(frozen=True)
class Case:
    """One broken repository: files changed from BASE and the single finding expected."""

    id: str
    changes: Mapping[str, str | None]
    rule: str
    file: str
    needle: str
    severity: Severity = Severity.ERROR


def _release(old: str, new: str) -> dict[str, str]:
    assert old in RELEASE
    return {"apps/release.yaml": RELEASE.replace(old, new)}


def _added(name: str, text: str) -> dict[str, str]:
    """A new file in apps/, listed by its kustomization."""
    return {f"apps/{name}": text, "apps/kustomization.yaml": BASE["apps/kustomization.yaml"] + f"  - {name}\n"}


ALERT = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: on-call
spec:
  providerRef:
    name: slack
  eventSources:
    - kind: HelmRelease
      name: "*"
"""
PROVIDER = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: slack
spec:
  type: slack
  secretRef:
    name: slack-webhook
"""
SLACK_SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: slack-webhook\n"
IMAGE_POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 6.x
"""
IMAGE_REPOSITORY = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 5m
"""
IMAGE_AUTOMATION = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: podinfo
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
  git:
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
    push:
      branch: main
  update:
    path: ./apps
    strategy: Setters
"""
IMAGE_AUTOMATION_SET = "---\n".join((IMAGE_REPOSITORY, IMAGE_POLICY, IMAGE_AUTOMATION))
GIT_CHART_RELEASE = RELEASE.replace("      chart: podinfo\n", "      chart: ./charts/podinfo\n").replace(
    "        kind: HelmRepository\n        name: podinfo\n",
    "        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n",
)

CASES = [
    Case(
        "unknown field",
        _release("  interval: 10m\n", "  interval: 10m\n  intervall: 5m\n"),
        "schema-unknown-field",
        "apps/release.yaml",
        "intervall:",
    ),
    Case(
        "bad enum",
        {"apps/repository.yaml": REPOSITORY.replace("  interval: 1h\n", "  interval: 1h\n  provider: azurex\n")},
        "schema-enum",
        "apps/repository.yaml",
        "provider:",
    ),
    Case(
        "dangling sourceRef",
        _release("        name: podinfo\n", "        name: podinf0\n"),
        "ref-source",
        "apps/release.yaml",
        "sourceRef:",
    ),
    Case(
        "dependsOn cycle",
        {
            "clusters/dev/infra.yaml": CYCLE,
            "infra/a/ns.yaml": NAMESPACE.format(name="a"),
            "infra/b/ns.yaml": NAMESPACE.format(name="b"),
        },
        "depends-on-cycle",
        "clusters/dev/infra.yaml",
        "dependsOn:",
    ),
    Case(
        "unset strict variable",
        _release("podinfo.${env}.${domain}", "podinfo.${env}.${region}"),
        "subst-unset",
        "apps/release.yaml",
        "${region}",
    ),
    Case(
        "duplicate object",
        {
            "clusters/dev/podinfo-values.yaml": BASE["apps/values.yaml"].replace(
                "name: podinfo-values", "name: podinfo-values\n  namespace: podinfo"
            )
        },
        "duplicate-object",
        "apps/values.yaml",
        "apiVersion",
    ),
    Case(
        "plaintext Secret",
        {"apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  token: hunter2\n"},
        "secret-plaintext",
        "apps/secret.yaml",
        "stringData:",
    ),
    Case(
        "bad YAML at a known line",
        _release("      chart: podinfo\n", "      chart: podinfo\n     version: [6.5.4\n"),
        "yaml-syntax",
        "apps/release.yaml",
        "version: [6.5.4",
    ),
    Case(
        "deprecated apiVersion",
        {"apps/repository.yaml": REPOSITORY.replace("source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2")},
        "flux-deprecated-api",
        "apps/repository.yaml",
        "apiVersion:",
        Severity.WARNING,
    ),
    Case(
        "missing valuesFrom ConfigMap",
        _release("      name: podinfo-values\n", "      name: podinfo-defaults\n"),
        "ref-values-from",
        "apps/release.yaml",
        "- kind: ConfigMap",
    ),
    Case(
        "catalog folder version differs from chart version",
        {
            "apps/release.yaml": None,
            "applications/podinfo/6.5.0/release.yaml": RELEASE,
            "apps/kustomization.yaml": BASE["apps/kustomization.yaml"].replace(
                "- release.yaml", "- ../applications/podinfo/6.5.0/release.yaml"
            ),
        },
        "catalog-version-mismatch",
        "applications/podinfo/6.5.0/release.yaml",
        "version: 6.5.4",
    ),
    Case(
        "broken SOPS metadata",
        {"apps/secret.sops.yaml": SOPS_SECRET_NO_MAC},
        "sops-metadata",
        "apps/secret.sops.yaml",
        "sops:",
    ),
    Case(
        "Kustomization path missing",
        {"clusters/dev/apps.yaml": BASE["clusters/dev/apps.yaml"].replace("path: ./apps", "path: ./apps-typo")},
        "ks-path-missing",
        "clusters/dev/apps.yaml",
        "path: ./apps-typo",
    ),
    Case(
        "substituteFrom object missing",
        {"clusters/dev/vars.yaml": None},
        "subst-from-missing",
        "clusters/dev/apps.yaml",
        "- kind: ConfigMap",
    ),
    Case(
        "kustomization lists a missing file",
        {"apps/kustomization.yaml": BASE["apps/kustomization.yaml"] + "  - missing.yaml\n"},
        "kustomize-missing-path",
        "apps/kustomization.yaml",
        "missing.yaml",
    ),
    Case(
        "core kind with a wrong type",
        {"apps/values.yaml": BASE["apps/values.yaml"] + "immutable: sometimes\n"},
        "schema-type",
        "apps/values.yaml",
        "immutable:",
    ),
    Case(
        "dependsOn a Kustomization that does not exist",
        {
            "clusters/dev/apps.yaml": BASE["clusters/dev/apps.yaml"].replace(
                "  prune: true\n", "  prune: true\n  dependsOn:\n    - name: infra\n"
            )
        },
        "ref-depends-on",
        "clusters/dev/apps.yaml",
        "- name: infra",
    ),
    Case(
        "decryption Secret not in the repository",
        {
            "clusters/dev/apps.yaml": BASE["clusters/dev/apps.yaml"].replace(
                "  prune: true\n",
                "  prune: true\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n",
            )
        },
        "ref-decryption-secret",
        "clusters/dev/apps.yaml",
        "secretRef:",
        Severity.WARNING,
    ),
    Case(
        "an alias bomb, refused before kustomize reads it",
        {"apps/values.yaml": ALIAS_BOMB},
        "yaml-syntax",
        "apps/values.yaml",
        "l5: &l5",  # where the repeated nodes pass 250,000
    ),
    Case(
        "object name with a port (what a chart URL once gave)",
        {"apps/repository.yaml": REPOSITORY.replace("name: podinfo", "name: 127.0.0.1:18765")}
        | _release("        name: podinfo\n", "        name: 127.0.0.1:18765\n"),
        "object-name",
        "apps/repository.yaml",
        "name: 127.0.0.1:18765",
    ),
    Case(
        "Alert whose Provider does not exist",
        _added("alert.yaml", ALERT),
        "ref-provider",
        "apps/alert.yaml",
        "providerRef:",
    ),
    Case(
        "Provider whose Secret is not in the repository",
        _added("provider.yaml", PROVIDER),
        "ref-secret",
        "apps/provider.yaml",
        "secretRef:",
        Severity.WARNING,
    ),
    Case(
        "Provider of a type notification-controller does not know",
        _added("provider.yaml", PROVIDER.replace("type: slack", "type: slak") + "---\n" + SLACK_SECRET),
        "schema-enum",
        "apps/provider.yaml",
        "type: slak",
    ),
    Case(
        "ImagePolicy whose ImageRepository does not exist",
        _added("policy.yaml", IMAGE_POLICY),
        "ref-image-repository",
        "apps/policy.yaml",
        "imageRepositoryRef:",
    ),
    Case(
        "ImageRepository without the interval its CRD requires",
        _added("images.yaml", IMAGE_AUTOMATION_SET.replace("  interval: 5m\n", "", 1)),
        "schema-required",
        "apps/images.yaml",
        "spec:",
    ),
    Case(
        "ImageUpdateAutomation with an update strategy image-automation-controller does not know",
        _added("images.yaml", IMAGE_AUTOMATION_SET.replace("strategy: Setters", "strategy: Sleepers")),
        "schema-enum",
        "apps/images.yaml",
        "strategy: Sleepers",
    ),
    Case(
        "ImageUpdateAutomation with a misspelt field",
        _added("images.yaml", IMAGE_AUTOMATION_SET.replace("    push:\n", "    pushh:\n")),
        "schema-unknown-field",
        "apps/images.yaml",
        "pushh:",
    ),
    Case(
        "ImagePolicy in the deprecated v1beta2 API",
        _added(
            "images.yaml", IMAGE_AUTOMATION_SET.replace("io/v1\nkind: ImagePolicy", "io/v1beta2\nkind: ImagePolicy")
        ),
        "flux-deprecated-api",
        "apps/images.yaml",
        "image.toolkit.fluxcd.io/v1beta2",
        Severity.WARNING,
    ),
    Case(
        "HelmRelease chart folder missing from this repository",
        {"apps/release.yaml": GIT_CHART_RELEASE},
        "helm-chart-missing",
        "apps/release.yaml",
        "chart: ./charts/podinfo",
    ),
    Case(
        "a chart version written as a 5,001-digit number",
        _release("      version: 6.5.4\n", f"      version: {HUGE_NUMBER}\n"),
        "yaml-syntax",
        "apps/release.yaml",
        "version: 1000",
    ),
    Case(
        "a 5,001-digit number in a folder Flux lists itself (no kustomization.yaml)",
        {"clusters/dev/replicas.yaml": NUMBER_CONFIG},
        "yaml-syntax",
        "clusters/dev/replicas.yaml",
        "replicas: 1000",
    ),
    Case(
        "a date that does not exist",
        {"apps/values.yaml": BASE["apps/values.yaml"].replace("data:\n", "data:\n  since: 2024-02-30\n")},
        "yaml-syntax",
        "apps/values.yaml",
        "since:",
    ),
    Case(
        "duplicate YAML key",
        _release("  interval: 10m\n", "  interval: 10m\n  interval: 5m\n"),
        "yaml-duplicate-key",
        "apps/release.yaml",
        "interval: 5m",
    ),
]


def _validate(root: Path) -> Report:
    report, _ = validate_repository(str(root), cache_dir=root.parent / "cache")
    return report


def test_base_repository_is_clean(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", BASE)
    report = _validate(tmp_path / "repo")
    assert report.findings == ()
    (cluster,) = report.discovery.clusters
    assert cluster.name == "clusters/dev"
    release = next(o for o in cluster.objects if o.id.kind == "HelmRelease")
    assert str(release.id) == "HelmRelease/podinfo/podinfo"
    # inline substitute and substituteFrom both reached the object
    assert release.body["spec"]["values"]["ingress"]["hosts"][0]["host"] == "podinfo.dev.example.com"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_repository_yields_exactly_one_finding(tmp_path: Path, case: Case) -> None:
    files = {**BASE, **case.changes}
    write_tree(tmp_path / "repo", files)
    report = _validate(tmp_path / "repo")
    text = files[case.file]
    assert text is not None
    assert [(f.rule, f.file, f.line, f.severity) for f in report.findings] == [
        (case.rule, case.file, line_of(text, case.needle), case.severity)
    ], [str(f) for f in report.findings]


def test_escaped_variable_stays_literal(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", {**BASE, **_release("podinfo.${env}.${domain}", "podinfo.$${env}.${domain}")})
    report = _validate(tmp_path / "repo")
    assert report.findings == ()
    release = next(o for o in report.discovery.clusters[0].objects if o.id.kind == "HelmRelease")
    assert release.body["spec"]["values"]["ingress"]["hosts"][0]["host"] == "podinfo.${env}.example.com"


def test_substitute_disabled_annotation_skips_strict_check(tmp_path: Path) -> None:
    disabled = RELEASE.replace(
        "  name: podinfo\nspec:",
        "  name: podinfo\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\nspec:",
    ).replace("${domain}", "${region}")
    write_tree(tmp_path / "repo", {**BASE, "apps/release.yaml": disabled})
    report = _validate(tmp_path / "repo")
    assert report.findings == ()
    release = next(o for o in report.discovery.clusters[0].objects if o.id.kind == "HelmRelease")
    assert release.body["spec"]["values"]["ingress"]["hosts"][0]["host"] == "podinfo.${env}.${region}"


def test_findings_carry_a_fix_hint(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", {**BASE, **CASES[0].changes})
    (finding,) = _validate(tmp_path / "repo").findings
    assert isinstance(finding, Finding)
    assert "intervall" in finding.message
    assert finding.hint


def test_alert_with_its_provider_and_secret_present_is_clean(tmp_path: Path) -> None:
    files = {**BASE, **_added("alert.yaml", "---\n".join((ALERT, PROVIDER, SLACK_SECRET)))}
    write_tree(tmp_path / "repo", files)
    assert _validate(tmp_path / "repo").findings == ()


def test_helm_release_chart_from_this_repository_is_found(tmp_path: Path) -> None:
    chart = "apiVersion: v2\nname: podinfo\nversion: 6.5.4\n"
    write_tree(tmp_path / "repo", {**BASE, "apps/release.yaml": GIT_CHART_RELEASE, "charts/podinfo/Chart.yaml": chart})
    assert _validate(tmp_path / "repo").findings == ()


def test_image_automation_objects_that_fit_their_schemas_and_each_other_are_clean(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", {**BASE, **_added("images.yaml", IMAGE_AUTOMATION_SET)})
    report = _validate(tmp_path / "repo")
    assert report.findings == ()
    kinds = {str(o.id) for o in report.discovery.clusters[0].objects if o.id.group == "image.toolkit.fluxcd.io"}
    assert kinds == {
        "ImageRepository/podinfo/podinfo",
        "ImagePolicy/podinfo/podinfo",
        "ImageUpdateAutomation/podinfo/podinfo",
    }
