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
    assert {c.name for c in report.discovery.clusters} == {
        "clusters/host-cluster",
        "clusters/team-a-dev",
        "clusters/team-a-prod",
    }
    # every cluster's apps are reached through the management GitRepository, none left external
    assert all(not c.external and len(c.kustomizations) > 1 for c in report.discovery.clusters)
    # the age key Secret is created out of band, so it can only be a warning
    assert {(f.rule, f.severity) for f in report.findings} <= {("ref-decryption-secret", Severity.WARNING)}
