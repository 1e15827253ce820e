"""Shared pieces of the currency tests: real index files, trees from disk, and git repositories built from trees."""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from gitops_engine.adapters import git
from gitops_engine.adapters.chartindex import parse_index
from gitops_engine.model.charts import ChartIndex, ChartRelease
from tests.conftest import DATA

RENOVATE = DATA / "renovate-peer"
SMALL_REPO = RENOVATE / "small-repo"
FLUX_LOCAL = DATA / "flux-local" / "testdata"
HELM_INDEXES = DATA / "helm-indexes"
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def files_under(root: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file below `root` as a tree (paths optionally placed under `prefix`)."""
    return {
        f"{prefix}{p.relative_to(root).as_posix()}": p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def renovate_index_bytes(tmp: Path, base_url: str) -> bytes:
    """The Helm index small-repo expects, written by the peer's own make-helm-index.py."""
    subprocess.run([sys.executable, str(RENOVATE / "make-helm-index.py"), str(tmp), base_url], check=True)
    return (tmp / "index.yaml").read_bytes()


def oci_stub_index(url: str) -> ChartIndex:
    """The tags the peer's OCI stub serves for `url` (oci://host/charts/podinfo), read from the stub itself."""
    tags: Mapping[str, list[str]] = runpy.run_path(str(RENOVATE / "oci-stub.py"))["TAGS"]
    name = url.split("/", 3)[3]
    chart = name.rsplit("/", 1)[-1]
    releases = tuple(ChartRelease(chart, tag) for tag in tags[name])
    return ChartIndex(url, MappingProxyType({chart: releases}))


def index_from_file(path: Path, url: str) -> ChartIndex:
    """A real index.yaml parsed the way the lookup adapter parses it."""
    return parse_index(path.read_bytes(), url)


def synthetic_index(url: str, chart: str, versions: Mapping[str, datetime | None]) -> ChartIndex:
    """A small index for policy and idempotence tests."""
    releases = tuple(
        ChartRelease(chart, v, created, home=f"https://example.invalid/{chart}") for v, created in versions.items()
    )
    return ChartIndex(url, MappingProxyType({chart: releases}))


def commit_tree(path: Path, files: Mapping[str, bytes], branch: str = "main", time: int = 1_700_000_000) -> str:
    """Create (or advance) `branch` of the bare repository at `path` to a commit of exactly `files`."""
    repo = git.open_repository(path)
    head = git.head_of(repo, branch)
    tree = git.write_tree(repo, files)
    author = git.Signature("fixture", "fixture@example.invalid", time)
    parents = [head.commit] if head.commit else []
    commit = git.create_commit(repo, tree, parents, "fixture", author)
    git.move_branch(repo, branch, commit, head.commit, "fixture")
    return commit
