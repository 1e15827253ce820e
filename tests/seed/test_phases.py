"""Which installer phase writes each path: the plan groups files by it and the commit message lists it."""

from __future__ import annotations

import pytest

from gitops_engine.render.phases import phase_of


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
    ],
)
def test_each_path_belongs_to_the_first_phase_whose_rule_matches(path: str, phase: str) -> None:
    assert phase_of(path).key == phase
