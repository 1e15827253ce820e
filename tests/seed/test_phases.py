"""Which installer phase writes each path: the plan groups files by it and the commit message lists it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.app.seed import SeedRequest, plan_seed
from gitops_engine.render.phases import phase_of
from tests.seed.helpers import run_cli, write_example


@pytest.mark.parametrize(
    ("path", "phase"),
    [
        ("common/base/namespaces.yaml", "base-namespaces"),
        ("clusters/c1/flux-system/flux.yaml", "flux"),
        ("clusters/c1/flux-system/gotk-sync.yaml", "flux-configuration"),
        ("common/pki/root-ca.yaml", "root-ca"),
        ("common/pki/kustomization.yaml", "root-ca"),
        ("clusters/c1/pki.yaml", "root-ca"),
        ("common/pki/acme-issuer.yaml", "ingress-certificate"),
        ("common/helm-repositories/charts.jetstack.io.yaml", "helm-repositories"),
        (".sops.yaml", "age"),
        ("clusters/c1/kommander-vars.yaml", "flux-configuration"),
        ("clusters/c1/secrets/gitea-admin.sops.yaml", "flux-configuration"),
        ("clusters/c1/kustomization.yaml", "bootstrap-structure"),
        ("clusters/c1/apps.yaml", "bootstrap-structure"),
        ("clusters/c1/apps/ws/kustomization.yaml", "bootstrap-structure"),
        ("clusters/c1/apps/ws/proj/kustomization.yaml", "bootstrap-structure"),
        ("workspaces/ws/kustomization.yaml", "app-management"),
        ("common/catalog-repositories/partner.yaml", "catalog-repositories"),
        (".gitops-engine/state.yaml", "provenance"),
        ("clusters/c1/reconciler/cronjob.yaml", "reconciler"),
        (".gitea/workflows/currency.yaml", "reconciler"),
        (".gitea/notes.md", "bootstrap-structure"),
        ("applications/kafka/0.44.0/helmrelease.yaml", "application-definitions"),
        ("applications/gitea/10.6.0/helmrelease.yaml", "gitea"),
        ("clusters/c1/apps/ws/cert-manager.yaml", "core-apps"),
        ("clusters/c1/apps/ws/traefik-overrides.yaml", "core-apps"),
        ("clusters/c1/apps/ws/proj/kafka.yaml", "optional-apps"),
        ("clusters/c1/apps/ws/chartmuseum.yaml", "chartmuseum"),
        ("clusters/c1/apps/ws/gatekeeper.yaml", "gatekeeper"),
        ("clusters/c1/apps/ws/proj/gitea-overrides.yaml", "gitea"),
        ("clusters/c1/apps/ws/-overrides.yaml", "optional-apps"),
        ("clusters/c1/apps/stray.yaml", "bootstrap-structure"),
        ("clusters/c1/apps/ws/notes.txt", "bootstrap-structure"),
        ("somewhere/else.yaml", "bootstrap-structure"),
        ("cluster-api/classes/dev-in-memory/clusterclass.yaml", "cluster-api"),
        ("cluster-api/clusters/c2/cluster.yaml", "cluster-api"),
        ("clusters/c1/cluster-api/c2.yaml", "cluster-api"),
    ],
)
def test_each_path_belongs_to_the_first_phase_whose_rule_matches(path: str, phase: str) -> None:
    assert phase_of(path).key == phase


def test_the_example_plan_shows_the_managed_cluster_phase_with_its_files(tmp_path: Path) -> None:
    plan = plan_seed(SeedRequest(write_example(tmp_path)))
    (phase,) = [p for p in plan.phases if p.phase.key == "cluster-api"]
    assert (phase.phase.number, phase.phase.title) == (
        14,
        "Managed clusters: ClusterClasses, Clusters, health checks and their Flux delivery",
    )
    assert set(phase.added) == {
        "cluster-api/classes/dev-in-memory/clusterclass.yaml",
        "cluster-api/classes/dev-in-memory/kustomization.yaml",
        "cluster-api/classes/dev-in-memory/templates.yaml",
        "cluster-api/clusters/team-a-sandbox/cluster.yaml",
        "cluster-api/clusters/team-a-sandbox/flux/helmrelease.yaml",
        "cluster-api/clusters/team-a-sandbox/flux/kustomization.yaml",
        "cluster-api/clusters/team-a-sandbox/kustomization.yaml",
        "cluster-api/clusters/team-a-sandbox/machinehealthcheck.yaml",
        "cluster-api/namespaces/team-a/kustomization.yaml",
        "clusters/host-cluster/cluster-api/classes-team-a.yaml",
        "clusters/host-cluster/cluster-api/kustomization.yaml",
        "clusters/host-cluster/cluster-api/team-a-sandbox.yaml",
    }
    text = run_cli("plan", "-c", str(tmp_path / "platform.yaml")).out
    assert " 14. Managed clusters: ClusterClasses, Clusters, health checks and their Flux delivery +12 ~0 -0" in text
