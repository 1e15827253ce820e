"""Scans kept by tree id: a stored scan reads back equal, an unchanged base is not read again, bad files are misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters import git, scancache
from gitops_engine.app import bump
from gitops_engine.updates import scan
from gitops_engine.updates.scan import ScanResult, scan_tree
from tests.updates.support import FLUX_LOCAL, SMALL_REPO, commit_tree, files_under


@pytest.mark.parametrize("root", [SMALL_REPO, FLUX_LOCAL], ids=["small-repo", "flux-local"])
def test_a_stored_scan_reads_back_equal(tmp_path: Path, root: Path) -> None:
    scan = scan_tree(files_under(root))
    assert scan.uses
    scancache.store_scan(tmp_path, "ab" * 20, scan)
    assert scancache.load_scan(tmp_path, "ab" * 20) == scan


def test_an_unchanged_base_is_scanned_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_path = tmp_path / "fleet.git"
    commit_tree(repo_path, files_under(SMALL_REPO))
    repo = git.open_repository(repo_path, create=False)
    tree = git.head_of(repo, "main").tree
    assert tree is not None
    cache = tmp_path / "cache"
    first, _ = bump.scan_head(repo, tree, None, cache)
    assert scancache.cache_file(cache, tree).exists()

    def no_reading(*_args: object) -> ScanResult:
        raise AssertionError("the base was scanned again")

    # scan_head imports the scanner when it needs it, so the scanner module is where to intercept it
    monkeypatch.setattr(scan, "scan_tree", no_reading)
    second, _ = bump.scan_head(repo, tree, None, cache)
    assert second == first


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"s": [], "u": [[1, 2]], "p": []}'])
def test_an_unreadable_cache_file_is_a_miss(tmp_path: Path, content: bytes) -> None:
    target = scancache.cache_file(tmp_path, "cd" * 20)
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    assert scancache.load_scan(tmp_path, "cd" * 20) is None
