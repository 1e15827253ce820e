"""Use case: the rendered change between two revisions of a repository (what a pull request would do)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.validate import check_start, load_tree
from gitops_engine.model.finding import Finding
from gitops_engine.validate.diff import ObjectChange, diff_rendered
from gitops_engine.validate.discovery import Discovery, discover
from gitops_engine.validate.engine import with_artifacts


@dataclass(frozen=True)
class RenderedDiff:
    """Object changes from BASE to HEAD, and build problems met on either side (they make the diff partial)."""

    changes: tuple[ObjectChange, ...]
    problems: tuple[Finding, ...]


def diff_repository(
    repo: str,
    base: str,
    head: str,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
) -> RenderedDiff:
    """Render `repo` at `base` and at `head` and compare the objects each Flux Kustomization applies."""
    before = _render(repo, base, path, sources, cache_dir)
    after = _render(repo, head, path, sources, cache_dir)
    return RenderedDiff(diff_rendered(before, after), tuple(sorted(set(before.findings) | set(after.findings))))


def _render(
    repo: str, ref: str, path: str | None, sources: Mapping[str, str] | None, cache_dir: Path | None
) -> Discovery:
    tree = load_tree(repo, ref)
    start = check_start(tree, path)
    mounted, artifacts = with_artifacts(tree, sources)
    with kustomize_builder(mounted, cache_dir or default_cache_dir()) as builder:
        return discover(tree, builder, path=start, sources=sources, artifacts=artifacts)
