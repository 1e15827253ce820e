"""Fixtures for forge tests: the OpenAPI contract, a running test Gitea, a private cache directory."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.forge.gitea_server import GiteaServer
from tests.forge.openapi import OpenApiContract

SWAGGER = DATA / "gitea-openapi" / "swagger.v1.json"


@pytest.fixture(scope="session")
def contract() -> OpenApiContract:
    """Gitea's API document, loaded once."""
    return OpenApiContract(SWAGGER)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep remote object stores out of the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def tokens() -> dict[str, str]:
    """Fresh random tokens per test, so a leak check cannot pass by accident."""
    return {"alice": secrets.token_hex(20), "root": secrets.token_hex(20)}


@pytest.fixture
def gitea(tmp_path: Path, contract: OpenApiContract, tokens: dict[str, str]) -> Iterator[GiteaServer]:
    """A running test Gitea with user `alice` and admin `root`; fails the test on any contract violation."""
    server = GiteaServer(tmp_path / "gitea", contract)
    server.add_user("alice", tokens["alice"], password="alice-password")
    server.add_user("root", tokens["root"], admin=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.violations == [], "\n".join(server.violations)
