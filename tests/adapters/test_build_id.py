"""Caches and the seed's input digest follow the engine's code and the kustomize in use, not a version string."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.adapters import build_id, kustomize, scancache
from gitops_engine.app import seed as seed_app
from gitops_engine.app.seed import SeedRequest, seed
from gitops_engine.model.state import STATE_PATH
from gitops_engine.updates.scan import scan_tree
from tests.seed.helpers import reproducible_spec_text, write_example
from tests.updates.support import SMALL_REPO, files_under


@pytest.fixture
def fresh_digest() -> Iterator[None]:
    build_id.code_digest.cache_clear()
    yield
    build_id.code_digest.cache_clear()


def test_the_code_digest_changes_with_one_byte_of_one_source_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_digest: None
) -> None:
    installed = build_id.code_digest()
    copy = tmp_path / "gitops_engine"
    shutil.copytree(build_id._PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    monkeypatch.setattr(build_id, "_PACKAGE", copy)
    build_id.code_digest.cache_clear()
    assert build_id.code_digest() == installed
    target = copy / "updates" / "scan.py"
    target.write_bytes(target.read_bytes().replace(b"UNSCOPED = ", b"UNSCOPED =  "))
    build_id.code_digest.cache_clear()
    assert build_id.code_digest() != installed


def test_a_scan_stored_by_another_build_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_digest: None
) -> None:
    stored = scan_tree(files_under(SMALL_REPO))
    scancache.store_scan(tmp_path, "ab" * 20, stored)
    assert scancache.load_scan(tmp_path, "ab" * 20) == stored
    monkeypatch.setattr(scancache, "code_digest", lambda: "f" * 64)
    assert scancache.load_scan(tmp_path, "ab" * 20) is None


def test_a_build_cached_with_another_kustomize_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"app/kustomization.yaml": b"resources: [cm.yaml]\n", "app/cm.yaml": b"kind: ConfigMap\napiVersion: v1\n"
             b"metadata: {name: x}\n"}  # fmt: skip
    cache = tmp_path / "cache"
    for version, built in (("v5.5.0", 1), ("v5.5.0", 0), ("v5.6.0", 1)):
        monkeypatch.setattr(kustomize, "kustomize_version", lambda _command, v=version: v)
        with kustomize.kustomize_builder(files, cache_dir=cache) as build:
            (output,) = build(["app"])
            assert output.error is None
            assert (build.stats.built, build.stats.cached) == (built, 1 - built)


def test_a_new_build_of_the_engine_reseeds_what_an_older_one_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    request = SeedRequest(spec, repository=str(tmp_path / "fleet.git"), create=True)
    assert seed(request).commit is not None
    assert seed(request).commit is None  # same inputs, same build: nothing to do
    monkeypatch.setattr(seed_app, "engine_build", lambda: "0.1.0+000000000000")
    again = seed(request)
    assert again.commit is not None
    changed = [path for phase in again.plan.phases for path in (*phase.added, *phase.changed, *phase.removed)]
    assert changed == [STATE_PATH]
