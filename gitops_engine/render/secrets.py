"""Which Secrets each cluster needs, and their plaintext manifests (encrypted by the app layer, never committed)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gitops_engine.core.yamlio import emit_documents
from gitops_engine.model.platform import Platform
from gitops_engine.render import objects as o
from gitops_engine.render.placement import Placement
from gitops_engine.spec.loader import clusters_of_project

Origin = Literal["git-credentials", "gitea-admin", "spec", "reconciler-token"]
GITEA_ADMIN_SECRET = "gitea-admin-credentials"


@dataclass(frozen=True)
class SecretNeed:
    """A Secret one cluster needs; `spec_index` points into `platform.secrets` for spec-declared ones."""

    cluster: str
    namespace: str
    name: str
    purpose: str
    origin: Origin
    spec_index: int | None = None

    @property
    def path(self) -> str:
        """Where the encrypted Secret lives in the repository."""
        return f"clusters/{self.cluster}/secrets/{self.namespace}-{self.name}.sops.yaml"


def needed_secrets(platform: Platform, placements: Mapping[str, list[Placement]]) -> list[SecretNeed]:
    """Every Secret the fleet needs, per cluster (placements from place_apps), in a stable order."""
    needs: list[SecretNeed] = []
    for cluster in platform.clusters:
        if platform.git.secret_name:
            needs.append(
                SecretNeed(
                    cluster.name,
                    o.FLUX_NAMESPACE,
                    platform.git.secret_name,
                    "git credentials for Flux",
                    "git-credentials",
                )
            )
        for p in placements[cluster.name]:
            if p.app.app == "gitea":
                needs.append(
                    SecretNeed(cluster.name, p.namespace, GITEA_ADMIN_SECRET, "Gitea admin user", "gitea-admin")
                )
    reconciler = platform.reconciler
    if reconciler is not None and reconciler.runner == "cronjob" and reconciler.gitea_token is not None:
        manager = next(c for c in platform.clusters if c.role == "management")
        needs.append(
            SecretNeed(
                manager.name,
                o.FLUX_NAMESPACE,
                reconciler.gitea_token_secret,
                "Gitea token for the reconciler",
                "reconciler-token",
            )
        )
    for index, secret in enumerate(platform.secrets):
        if secret.project is not None:
            project = platform.project(secret.project)
            namespace, clusters = project.namespace, clusters_of_project(platform, project)
        else:
            namespace = platform.workspace(secret.workspace).namespace
            clusters = [c for c in platform.clusters if c.workspace == secret.workspace]
        for cluster in clusters:
            if secret.cluster_selector.matches(cluster.selector_labels()):
                needs.append(
                    SecretNeed(cluster.name, namespace, secret.name, "declared in platform.yaml", "spec", index)
                )
    return needs


def secret_manifest(need: SecretNeed, data: Mapping[str, bytes]) -> bytes:
    """The plaintext Secret for `need` (to be encrypted before it is stored anywhere)."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": o.meta(need.name, need.namespace, {o.MANAGED_LABEL: o.MANAGER}),
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode() for key, value in sorted(data.items())},
    }
    return emit_documents([body], header="Managed by gitops-engine; values are SOPS/age-encrypted.")
