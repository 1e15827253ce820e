"""Use case: the rendered change between two revisions of a repository (what a pull request would do)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.helm import HelmOptions, HelmRendering, require_backend
from gitops_engine.app.impact import rendered_release_diff
from gitops_engine.app.validate import check_start, load_tree
from gitops_engine.model.finding import Finding
from gitops_engine.model.tree import Tree
from gitops_engine.validate.diff import ObjectChange, diff_rendered
from gitops_engine.validate.discovery import Discovery, discover
from gitops_engine.validate.engine import with_artifacts
from gitops_engine.validate.helmdiff import ReleaseDiff


@dataclass(frozen=True)
class RenderedDiff:
    """Object changes from BASE to HEAD, and build problems met on either side (they make the diff partial)."""

    changes: tuple[ObjectChange, ...]
    problems: tuple[Finding, ...]
    releases: tuple[ReleaseDiff, ...] = ()  # with render_helm: what each HelmRelease renders differently


def diff_repository(
    repo: str,
    base: str,
    head: str,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    render_helm: HelmOptions | None = None,
) -> RenderedDiff:
    """Render `repo` at `base` and at `head` and compare the objects each Flux Kustomization applies (and, with
    `render_helm`, what each HelmRelease renders)."""
    if render_helm is not None:
        require_backend()
    base_tree, before = _render(repo, base, path, sources, cache_dir)
    head_tree, after = _render(repo, head, path, sources, cache_dir)
    problems = tuple(sorted(set(before.findings) | set(after.findings)))
    releases: tuple[ReleaseDiff, ...] = ()
    if render_helm is not None:
        rendering = HelmRendering(render_helm)
        try:
            releases = rendered_release_diff((base_tree, before), (head_tree, after), sources, rendering)
        finally:
            rendering.close()
    return RenderedDiff(diff_rendered(before, after), problems, releases)


def _render(
    repo: str, ref: str, path: str | None, sources: Mapping[str, str] | None, cache_dir: Path | None
) -> tuple[Tree, Discovery]:
    tree = load_tree(repo, ref)
    start = check_start(tree, path)
    mounted, artifacts = with_artifacts(tree, sources)
    with kustomize_builder(mounted, cache_dir or default_cache_dir()) as builder:
        return tree, discover(tree, builder, path=start, sources=sources, artifacts=artifacts)
