"""The built-in catalog is package data, found through importlib.resources; GITOPS_ENGINE_CATALOG overrides it."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from gitops_engine.app.seed import builtin_catalog_dir
from tests.seed.helpers import run_cli, write_example


def test_builtin_catalog_is_the_folder_inside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_ENGINE_CATALOG", raising=False)

    found = builtin_catalog_dir()

    assert found == resources.files("gitops_engine").joinpath("data", "catalog")
    assert (found / "cert-manager" / "1.16.2" / "helmrelease.yaml").is_file()


def test_catalog_named_by_the_environment_is_used_instead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_ENGINE_CATALOG", raising=False)
    own = tmp_path / "own-catalog"
    shutil.copytree(builtin_catalog_dir(), own)
    shutil.rmtree(own / "dex")
    monkeypatch.setenv("GITOPS_ENGINE_CATALOG", str(own))
    spec = write_example(tmp_path)

    result = run_cli("plan", "-c", str(spec))

    assert builtin_catalog_dir() == own
    assert result.code == 2
    assert "apps[4].app: unknown app 'dex'" in result.err
