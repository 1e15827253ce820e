"""Cluster API objects are checked against their CRDs (strictly: an unknown field is an error) and against each
other: a Cluster's ClusterClass, its machine deployment classes and variables, a ClusterClass's templates, a
MachineHealthCheck's Cluster, and the `<cluster>-kubeconfig` Secret a Flux object reaches a cluster through.

Each broken repository breaks one thing in a small valid one and must yield exactly that finding at its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitops_engine.app.validate import validate_repository
from gitops_engine.model.finding import Severity
from gitops_engine.validate.engine import Report
from tests.validate.fixtures import BASE, line_of, write_tree

CAPI_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: clusters
  namespace: flux-system
spec:
  interval: 10m
  path: ./capi
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""

REMOTE_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: prod-apps
  namespace: fleet
spec:
  interval: 10m
  path: ./remote
  prune: true
  kubeConfig:
    secretRef:
      name: prod-kubeconfig
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
"""

REMOTE_CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
  namespace: default
data:
  greeting: hello
"""

CAPI_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: fleet
resources:
  - namespace.yaml
  - class.yaml
  - templates.yaml
  - cluster.yaml
  - mhc.yaml
"""

NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: fleet
"""

CLASS = """\
apiVersion: cluster.x-k8s.io/v1beta2
kind: ClusterClass
metadata:
  name: edge
spec:
  infrastructure:
    templateRef:
      apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
      kind: DevClusterTemplate
      name: edge-cluster
  controlPlane:
    templateRef:
      apiVersion: controlplane.cluster.x-k8s.io/v1beta2
      kind: KubeadmControlPlaneTemplate
      name: edge-control-plane
    machineInfrastructure:
      templateRef:
        apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
        kind: DevMachineTemplate
        name: edge-machine
  workers:
    machineDeployments:
      - class: default-worker
        bootstrap:
          templateRef:
            apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
            kind: KubeadmConfigTemplate
            name: edge-worker
        infrastructure:
          templateRef:
            apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
            kind: DevMachineTemplate
            name: edge-machine
  variables:
    - name: region
      required: true
      schema:
        openAPIV3Schema:
          type: string
          enum: [eu-1, eu-2]
    - name: workerCount
      required: false
      schema:
        openAPIV3Schema:
          type: integer
          minimum: 1
          default: 2
"""

TEMPLATES = """\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: DevClusterTemplate
metadata:
  name: edge-cluster
spec:
  template:
    spec:
      backend:
        inMemory: {}
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta2
kind: KubeadmControlPlaneTemplate
metadata:
  name: edge-control-plane
spec:
  template:
    spec:
      kubeadmConfigSpec:
        clusterConfiguration:
          imageRepository: registry.k8s.io
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: DevMachineTemplate
metadata:
  name: edge-machine
spec:
  template:
    spec:
      backend:
        inMemory:
          vm:
            provisioning: {startupDuration: 10s}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: KubeadmConfigTemplate
metadata:
  name: edge-worker
spec:
  template:
    spec:
      joinConfiguration:
        nodeRegistration:
          criSocket: unix:///var/run/containerd/containerd.sock
"""

CLUSTER = """\
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata:
  name: prod
spec:
  topology:
    classRef:
      name: edge
    version: v1.31.4
    controlPlane:
      replicas: 3
    workers:
      machineDeployments:
        - class: default-worker
          name: md-0
          replicas: 2
          variables:
            overrides:
              - name: workerCount
                value: 3
    variables:
      - name: region
        value: eu-1
"""

MHC = """\
apiVersion: cluster.x-k8s.io/v1beta2
kind: MachineHealthCheck
metadata:
  name: prod-workers
spec:
  clusterName: prod
  selector:
    matchLabels:
      cluster.x-k8s.io/cluster-name: prod
  checks:
    unhealthyNodeConditions:
      - type: Ready
        status: Unknown
        timeoutSeconds: 300
"""

# the same Cluster in the deprecated v1beta1 shape (class instead of classRef)
CLUSTER_V1BETA1 = """\
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata:
  name: prod
spec:
  topology:
    class: edge
    version: v1.31.4
    workers:
      machineDeployments:
        - class: default-worker
          name: md-0
    variables:
      - name: region
        value: eu-2
"""

CAPI: Mapping[str, str] = {
    **BASE,
    "clusters/dev/capi.yaml": CAPI_KS,
    "clusters/dev/remote.yaml": REMOTE_KS,
    "capi/kustomization.yaml": CAPI_KUSTOMIZATION,
    "capi/namespace.yaml": NAMESPACE,
    "capi/class.yaml": CLASS,
    "capi/templates.yaml": TEMPLATES,
    "capi/cluster.yaml": CLUSTER,
    "capi/mhc.yaml": MHC,
    "remote/hello.yaml": REMOTE_CONFIG,
}


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    file: str
    needle: str
    changes: Mapping[str, str] = field(default_factory=dict)
    severity: Severity = Severity.ERROR


CASES = [
    Case(
        "unknown-topology-field",
        "schema-unknown-field",
        "capi/cluster.yaml",
        "size: large",
        {"capi/cluster.yaml": CLUSTER.replace("      replicas: 3\n", "      replicas: 3\n      size: large\n")},
    ),
    Case(
        "class-missing",
        "capi-class-missing",
        "capi/cluster.yaml",
        "name: edgy",
        {"capi/cluster.yaml": CLUSTER.replace("      name: edge\n", "      name: edgy\n")},
    ),
    Case(
        "machine-deployment-class-missing",
        "capi-md-class-missing",
        "capi/cluster.yaml",
        "class: gpu-worker",
        {"capi/cluster.yaml": CLUSTER.replace("- class: default-worker", "- class: gpu-worker")},
    ),
    Case(
        "variable-outside-its-enum",
        "capi-variable",
        "capi/cluster.yaml",
        "- name: region",
        {"capi/cluster.yaml": CLUSTER.replace("value: eu-1", "value: us-1")},
    ),
    Case(
        "override-below-its-minimum",
        "capi-variable",
        "capi/cluster.yaml",
        "- name: workerCount",
        {"capi/cluster.yaml": CLUSTER.replace("value: 3", "value: 0")},
    ),
    Case(
        "required-variable-not-given",
        "capi-variable",
        "capi/cluster.yaml",
        "topology:",
        {"capi/cluster.yaml": CLUSTER.split("    variables:\n      - name: region")[0]},
    ),
    Case(
        "template-missing",
        "capi-template-missing",
        "capi/class.yaml",
        "templateRef:",
        {"capi/class.yaml": CLASS.replace("      name: edge-cluster", "      name: edge-clustr")},
    ),
    Case(
        "health-check-of-no-cluster",
        "capi-cluster-missing",
        "capi/mhc.yaml",
        "clusterName: prd",
        {"capi/mhc.yaml": MHC.replace("clusterName: prod", "clusterName: prd")},
    ),
    Case(
        "kubeconfig-of-no-cluster",
        "capi-kubeconfig-unknown",
        "clusters/dev/remote.yaml",
        "name: staging-kubeconfig",
        {"clusters/dev/remote.yaml": REMOTE_KS.replace("prod-kubeconfig", "staging-kubeconfig")},
    ),
    Case(
        "version-without-v",
        "capi-version",
        "capi/cluster.yaml",
        "version: 1.31.4",
        {"capi/cluster.yaml": CLUSTER.replace("version: v1.31.4", "version: 1.31.4")},
    ),
    Case(
        "version-the-class-does-not-list",
        "capi-version",
        "capi/cluster.yaml",
        "version: v1.31.4",
        {"capi/class.yaml": CLASS.replace("spec:\n", "spec:\n  kubernetesVersions: [v1.30.2, v1.30.8]\n", 1)},
    ),
    Case(
        "deprecated-v1beta1-cluster",
        "capi-deprecated-api",
        "capi/cluster.yaml",
        "apiVersion: cluster.x-k8s.io/v1beta1",
        {"capi/cluster.yaml": CLUSTER_V1BETA1},
        Severity.WARNING,
    ),
]


def _validate(root: Path) -> Report:
    report, _ = validate_repository(str(root), cache_dir=root.parent / "cache")
    return report


def test_a_repository_of_a_cluster_its_class_and_templates_is_clean(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", CAPI)
    report = _validate(tmp_path / "repo")
    assert report.findings == (), [str(f) for f in report.findings]
    (cluster,) = report.discovery.clusters
    kinds = {(o.id.kind, o.id.namespace, o.id.name) for o in cluster.objects}
    assert {
        ("Cluster", "fleet", "prod"),
        ("ClusterClass", "fleet", "edge"),
        ("DevMachineTemplate", "fleet", "edge-machine"),
    } <= kinds
    # what the Kustomization with a kubeConfig applies belongs to the cluster it reaches, not to this one
    assert ([ks.name for ks in cluster.remote], cluster.external) == (["prod-apps"], ())
    assert ("ConfigMap", "default", "hello") not in kinds


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_broken_cluster_definition_yields_exactly_its_finding(tmp_path: Path, case: Case) -> None:
    files = {**CAPI, **case.changes}
    write_tree(tmp_path / "repo", files)
    report = _validate(tmp_path / "repo")
    assert [(f.rule, f.file, f.line, f.severity) for f in report.findings] == [
        (case.rule, case.file, line_of(files[case.file], case.needle), case.severity)
    ], [str(f) for f in report.findings]


def test_the_messages_name_what_is_wrong_and_what_the_class_offers(tmp_path: Path) -> None:
    broken = CLUSTER.replace("- class: default-worker", "- class: gpu-worker").replace("value: eu-1", "value: 7")
    write_tree(tmp_path / "repo", {**CAPI, "capi/cluster.yaml": broken})
    messages = sorted(f.message for f in _validate(tmp_path / "repo").findings)
    assert messages == [
        "Cluster/fleet/prod: ClusterClass edge has no machine deployment class 'gpu-worker' (it has: default-worker)",
        "Cluster/fleet/prod: variable 'region' does not fit ClusterClass 'edge': 7 is not one of ['eu-1', 'eu-2']",
    ]


def test_a_kubeconfig_secret_made_out_of_band_is_only_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path / "repo", {**CAPI, "clusters/dev/remote.yaml": REMOTE_KS.replace("prod-kubeconfig", "ops")})
    (finding,) = _validate(tmp_path / "repo").findings
    assert (finding.rule, finding.severity) == ("ref-kubeconfig-secret", Severity.WARNING)
    assert "never be committed" in finding.hint
