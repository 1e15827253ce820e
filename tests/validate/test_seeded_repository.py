"""A repository seeded by the engine validates with zero error findings."""

from __future__ import annotations

from pathlib import Path

from gitops_engine.app.seed import SeedRequest, seed
from gitops_engine.app.validate import validate_repository
from gitops_engine.model.finding import Severity
from tests.seed.helpers import write_example


def test_seeded_repository_has_no_error_findings(tmp_path: Path) -> None:
    seed(SeedRequest(write_example(tmp_path), repository=str(tmp_path / "fleet.git"), create=True))
    report, _ = validate_repository(str(tmp_path / "fleet.git"), "main", cache_dir=tmp_path / "cache")
    assert report.errors == (), [str(f) for f in report.errors]
    clusters = {c.name: c for c in report.discovery.clusters}
    assert set(clusters) == {
        "clusters/host-cluster",
        "clusters/team-a-dev",
        "clusters/team-a-prod",
        "clusters/team-a-sandbox",
    }
    # every cluster's apps are reached through the management GitRepository; the one Kustomization not followed
    # is the management cluster's delivery of the managed cluster's sync into it (through its kubeconfig)
    assert all(len(c.kustomizations) > 1 for c in clusters.values())
    assert [ks.name for c in clusters.values() for ks in c.remote] == ["team-a-sandbox-sync"]
    assert all(not c.external for c in clusters.values())
    # the management cluster applies the managed cluster's Cluster API objects (checked against their CRDs)
    applied = {(o.id.kind, o.id.namespace, o.id.name) for o in clusters["clusters/host-cluster"].objects}
    assert {
        ("ClusterClass", "team-a", "dev-in-memory"),
        ("KubeadmControlPlaneTemplate", "team-a", "dev-in-memory-control-plane"),
        ("Cluster", "team-a", "team-a-sandbox"),
        ("MachineHealthCheck", "team-a", "team-a-sandbox-workers"),
    } <= applied
    # the age key Secret is created out of band, so it can only be a warning
    assert {(f.rule, f.severity) for f in report.findings} <= {("ref-decryption-secret", Severity.WARNING)}
