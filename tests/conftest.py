"""Shared fixtures: the test data folder, isolated git configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every file a test reads is inside the checkout; each data set notes its source and licence (tests/data/README.md).
DATA = ROOT / "tests" / "data"


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the user's and machine's git configuration and GITOPS_ENGINE_* settings out of every test."""
    home = tmp_path_factory.mktemp("home")
    # every option can come from GITOPS_ENGINE_<FLAG>: the caller's settings must not reach the commands under test
    for name in [n for n in os.environ if n.startswith("GITOPS_ENGINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    yield
