"""The example repository: a golden snapshot, and it builds and validates like Flux would see it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_engine.app.seed import SeedRequest, plan_seed, seed
from gitops_engine.app.validate import validate_repository
from tests.seed.helpers import FIXED_RECIPIENT, example_spec_text, write_example

GOLDEN = Path(__file__).parent / "golden" / "example"
UPDATE = os.environ.get("GITOPS_ENGINE_UPDATE_GOLDEN") == "1"


def test_example_matches_golden_snapshot(tmp_path: Path) -> None:
    spec = write_example(tmp_path, example_spec_text() + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n")
    files = dict(plan_seed(SeedRequest(spec)).new_files)
    # Encrypted files (and the state file recording their blob ids) differ on every run by design: AES-GCM IVs
    # and the generated Gitea password are random. They are checked for shape; everything else byte for byte.
    secrets = {p for p in files if p.endswith(".sops.yaml") and "/secrets/" in p}
    assert secrets == {"clusters/host-cluster/secrets/kommander-workspace-gitea-admin-credentials.sops.yaml"}
    for path in secrets:
        assert b"ENC[AES256_GCM," in files[path] and f"recipient: {FIXED_RECIPIENT}".encode() in files[path]
        assert b"password:" in files[path] and b"Z2l0ZWEtYWRtaW4" not in files[path]  # base64 of the username
    for path in (*secrets, ".gitops-engine/state.yaml"):
        files[path] = b"(varies)\n"
    if UPDATE:
        for path, data in files.items():
            target = GOLDEN / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    golden = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(golden), "rendered paths differ (GITOPS_ENGINE_UPDATE_GOLDEN=1 to refresh)"
    for path, data in files.items():
        assert data == golden[path], f"{path} differs from the golden copy"


@pytest.fixture(scope="module")
def seeded_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example")
    seed(SeedRequest(write_example(root)))
    return root / "fleet.git"


def test_every_flux_kustomization_builds_and_validates(seeded_example: Path, tmp_path: Path) -> None:
    report, stats = validate_repository(str(seeded_example), "main", cache_dir=tmp_path / "cache")
    assert report.errors == ()
    clusters = {c.name: c for c in report.discovery.clusters}
    assert len(clusters) == 4  # the management cluster, two attached and one managed workload cluster
    for cluster in clusters.values():
        paths = {k.path for k in cluster.kustomizations}
        assert any(p.endswith("/apps") for p in paths)
    prod = next(c for c in clusters.values() if "team-a-prod" in c.root.path)
    kinds = {(o.id.kind, o.id.name) for o in prod.objects}
    assert ("HelmRelease", "kafka") in kinds and ("OCIRepository", "kafka-0.44.0-chart") in kinds
    assert stats.built > 0


def test_a_spec_variable_overrides_an_engine_variable_on_every_cluster(tmp_path: Path) -> None:
    # the engine writes clusterName itself; a spec variable of the same name wins (as it always did), which
    # also checks that per-cluster files stamped from one template fall back to a plain emit when they must
    text = example_spec_text().replace("  clusterDomain: cluster.local\n", "  clusterName: fleet-wide\n")
    files = dict(plan_seed(SeedRequest(write_example(tmp_path, text))).new_files)
    vars_files = {p: d for p, d in files.items() if p.endswith("/kommander-vars.yaml")}
    assert len(vars_files) == 4
    for path, data in vars_files.items():
        cluster = path.split("/")[1]
        assert b"clusterName: fleet-wide\n" in data and f"clusterName: {cluster}\n".encode() not in data
        assert data.count(b"clusterName:") == data.count(b"kind: ConfigMap") >= 2
