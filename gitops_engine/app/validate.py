"""Use case: validate a repository — a working directory, a bare repository at a ref, or a git URL."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pygit2

from gitops_engine.adapters.command import Command, run
from gitops_engine.adapters.git import open_repository, read_tree
from gitops_engine.adapters.helmrepo import ChartSource, LookupFailure, LookupOptions, fetch_indexes
from gitops_engine.adapters.kustomize import BuildStats, default_cache_dir, kustomize_builder, read_directory
from gitops_engine.app.helm import HelmOptions, HelmRendering, require_backend
from gitops_engine.core.errors import InputError
from gitops_engine.flux.kustomization import clean_path
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.finding import Finding
from gitops_engine.model.tree import Tree
from gitops_engine.secrets.recipients import drift_findings
from gitops_engine.validate.charts import chart_findings, chart_uses
from gitops_engine.validate.discovery import Discovery
from gitops_engine.validate.engine import Report, validate_tree, with_artifacts
from gitops_engine.validate.helmrendered import release_findings, unrendered_notes, warning_for_post_renderers
from gitops_engine.validate.objects import RenderedObject
from gitops_engine.validate.schemas import CrdSchemas, SchemaChecker

_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[^/@\s]+@[^:\s]+:)")


def load_tree(repo: str, ref: str | None) -> Tree:
    """The files of `repo` at `ref` (a directory's files as they are on disk when it has no ref)."""
    with _local_repository(repo) as local:
        if ref is None and not _is_bare(local):
            return read_directory(local)
        repository = open_repository(local, create=False)
        revision = ref or "HEAD"
        try:
            commit, _ = repository.resolve_refish(revision)
        except (KeyError, pygit2.InvalidSpecError, pygit2.GitError) as exc:
            raise InputError(f"{repo}: no revision {revision!r} (pass an existing branch, tag or commit)") from exc
        # symbolic links are never followed: a check of a pull request must not read outside its tree
        return read_tree(repository, str(commit.tree_id), links=False)


def parse_sources(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """NAME=DIR options as a mapping; a malformed pair is an input error."""
    sources: dict[str, str] = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name:
            raise InputError(f"--source {pair!r}: write NAME=DIR (a Flux source name and a repository folder)")
        sources[name] = folder
    return sources


def check_start(tree: Tree, path: str | None) -> str | None:
    """The --path folder, cleaned; an input error when the repository has no such folder."""
    if path is None:
        return None
    folder = clean_path(path)
    if folder and not any(p.startswith(folder + "/") for p in tree):
        raise InputError(f"--path {path}: no such folder in the repository (paths are relative to its root)")
    return folder


def validate_repository(
    repo: str,
    ref: str | None = None,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    kubernetes_version: str | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    online: bool = False,
    lookups: LookupOptions | None = None,
    render_helm: HelmOptions | None = None,
) -> tuple[Report, BuildStats]:
    """Validate `repo` at `ref`; returns the findings and how many builds ran or came from the cache.

    With `online`, HelmRelease chart versions are also looked up in their Helm repositories (`lookups`). With
    `render_helm`, every HelmRelease is rendered and what it renders is checked too.
    """
    if render_helm is not None:
        require_backend()
    tree = load_tree(repo, ref)
    start = check_start(tree, path)
    mounted, artifacts = with_artifacts(tree, sources)
    with kustomize_builder(mounted, cache_dir or default_cache_dir(), workers) as builder:
        report = validate_tree(
            tree, builder, path=start, sources=sources, kubernetes_version=kubernetes_version, artifacts=artifacts
        )
    # the secrets domain reads `.sops.yaml`; the validator does not, so its findings join here
    extra = drift_findings(tree)
    if online:
        extra |= online_findings(report.discovery, lookups or LookupOptions())
    unchecked: tuple[str, ...] = ()
    if render_helm is not None:
        helm_extra, unchecked = helm_findings(tree, report.discovery, sources, render_helm, kubernetes_version)
        extra |= helm_extra
    if extra or unchecked:
        report = Report(tuple(sorted(set(report.findings) | extra)), report.discovery, unchecked)
    return report, builder.stats


def helm_findings(
    tree: Tree,
    discovery: Discovery,
    sources: Mapping[str, str] | None,
    options: HelmOptions,
    kubernetes_version: str | None = None,
) -> tuple[set[Finding], tuple[str, ...]]:
    """Findings about what every HelmRelease renders, and the releases that could not be rendered (not errors)."""
    rendering = HelmRendering(options)
    try:
        releases = rendering.render(rendering.jobs(discovery.clusters, tree, sources))
    finally:
        rendering.close()
    crds = [o.body for c in discovery.clusters for o in c.objects if o.id.kind == "CustomResourceDefinition"]
    crds += [i.object.body for r in releases for i in r.objects if i.object.id.kind == "CustomResourceDefinition"]
    schemas, custom = SchemaChecker(kubernetes_version), CrdSchemas(crds)

    def check(obj: RenderedObject) -> list[Finding]:
        return [*schemas(obj), *custom(obj)]

    findings = release_findings(releases, check) | warning_for_post_renderers(releases)
    return findings, unrendered_notes(releases)


def online_findings(discovery: Discovery, options: LookupOptions) -> set[Finding]:
    """Chart versions missing from their repositories; a repository that cannot be read is a warning."""
    uses = chart_uses(discovery.clusters)
    results = fetch_indexes([ChartSource(url) for url in dict.fromkeys(use.url for use in uses)], options)
    indexes = {url: result for url, result in results.items() if isinstance(result, ChartIndex)}
    failures = {url: result.message for url, result in results.items() if isinstance(result, LookupFailure)}
    return chart_findings(uses, indexes, failures)


@contextmanager
def _local_repository(repo: str) -> Iterator[Path]:
    if not _URL.match(repo):
        local = Path(repo)
        if not local.exists():
            raise InputError(f"--repo {repo}: no such directory or repository")
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="gitops-engine-clone-") as tmp:
        # system git, so the user's credential helpers, SSH config and proxies apply
        run(Command(("git", "clone", "--bare", "--quiet", "--", repo, tmp + "/repo.git"), timeout=600.0))
        yield Path(tmp) / "repo.git"


def _is_bare(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()
