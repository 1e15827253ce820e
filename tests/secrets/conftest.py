"""Shared fixtures for the secrets tests: vectors, a fresh age identity, the node oracle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gitops_engine.secrets.agekeys import generate_identity
from tests.conftest import ROOT, SHARED

VECTORS = SHARED / "interop" / "sops" / "vectors"
K8S = SHARED / "interop" / "sops" / "k8s" / "kustomize-controller" / "internal" / "controller" / "testdata" / "sops"
ORACLE = ROOT / ".cache" / "sops-oracle" / "decrypt.mjs"


def expected() -> dict[str, dict[str, object]]:
    """EXPECTED.json of the vectors."""
    data: dict[str, dict[str, object]] = json.loads((VECTORS / "EXPECTED.json").read_text())
    return data


@pytest.fixture
def identity(tmp_path: Path) -> tuple[str, str, Path]:
    """A new (identity, recipient, key file path)."""
    secret, recipient = generate_identity()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(secret + "\n")
    return secret, recipient, key_file


@pytest.fixture
def oracle() -> Path:
    """The independent node decoder (installed by scripts/test into .cache/sops-oracle)."""
    if shutil.which("node") is None or not (ORACLE.parent / "node_modules").is_dir():
        pytest.fail("node oracle missing: run scripts/test (it installs .cache/sops-oracle)")
    return ORACLE
