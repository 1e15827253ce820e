"""Shared fixtures for the secrets tests: vectors, a fresh age identity, the node oracle."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.secrets.agekeys import generate_identity
from tests.conftest import DATA
from tests.secrets.pgp import PgpKey, new_key, stop_agent

VECTORS = DATA / "sops-vectors"
K8S = DATA / "flux-sops" / "sops"
ORACLE = DATA / "sops-oracle" / "decrypt.mjs"


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
    """The independent node decoder in tests/data/sops-oracle, whose npm packages scripts/test installs."""
    if shutil.which("node") is None:
        pytest.fail("the SOPS oracle needs Node.js (node and npm) on PATH: apt-get install nodejs npm")
    if not (ORACLE.parent / "node_modules").is_dir():
        pytest.fail(f"the SOPS oracle's npm packages are not installed: npm install --prefix {ORACLE.parent}")
    return ORACLE


@pytest.fixture
def pgp_key() -> Iterator[PgpKey]:
    """A throwaway GnuPG key (Debian's gpg); its agent is stopped and its home removed afterwards."""
    if shutil.which("gpg") is None:
        pytest.fail("gpg missing: install Debian's gnupg (.ci/run does)")
    # gpg-agent's socket path must stay short, so the home is directly under /tmp rather than in tmp_path
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
    try:
        yield new_key(home)
    finally:
        stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)
