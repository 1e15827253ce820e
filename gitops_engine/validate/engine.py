"""Validate a repository tree: file checks, discovery with builds and schema checks, then cross-object checks."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gitops_engine.flux.artifacts import Artifacts, build_artifacts
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.build import Builder
from gitops_engine.validate.clusterapi import check_cluster_api
from gitops_engine.validate.discovery import Cluster, Discovery, base_sources, discover, mount_artifacts
from gitops_engine.validate.filechecks import check_files
from gitops_engine.validate.locate import SourceIndex
from gitops_engine.validate.names import name_findings
from gitops_engine.validate.objects import RenderedObject
from gitops_engine.validate.refs import check_cluster
from gitops_engine.validate.schemas import SchemaChecker


@dataclass(frozen=True)
class Report:
    """Every finding of a run (sorted by file and line) and what discovery found."""

    findings: tuple[Finding, ...]
    discovery: Discovery
    # what a run was asked to check but could not (charts not to be had offline), one line each; not errors
    unchecked: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of error severity (the ones that fail a check)."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)


def with_artifacts(
    files: Mapping[str, bytes], sources: Mapping[str, str] | None = None
) -> tuple[dict[str, bytes], Artifacts]:
    """The ExternalArtifacts the tree's ArtifactGenerators compose, rebuilt from its files, and the files a
    builder builds from: the tree's plus the artifacts' (discovery.mount_artifacts)."""
    artifacts = build_artifacts(files, base_sources(files, sources or {}, SourceIndex(files)).folder_of)
    return mount_artifacts(files, artifacts), artifacts


def validate_tree(
    files: Mapping[str, bytes],
    builder: Builder,
    *,
    path: str | None = None,
    sources: Mapping[str, str] | None = None,
    kubernetes_version: str | None = None,
    artifacts: Artifacts | None = None,
) -> Report:
    """All findings for `files`; `builder` runs kustomize, `path` overrides entry-point discovery.

    `artifacts` are the rebuilt ExternalArtifacts (with_artifacts); the builder must build from the files
    with_artifacts returns with them. Without them, consumers of ExternalArtifacts are reported as not checked.
    """
    # one parse per file, shared by the file checks, entry-point search and line lookups
    index = SourceIndex(files)
    schemas = SchemaChecker(kubernetes_version)

    def check(obj: RenderedObject) -> list[Finding]:
        return [*schemas(obj), *name_findings(obj)]

    # The file checks only parse text; on a side thread they use the time discovery spends waiting on
    # kustomize instead of delaying the first build.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="file-checks") as side:
        file_check = side.submit(check_files, index)
        discovery = discover(
            files,
            builder,
            path=path,
            sources=sources,
            broken=index.is_broken,
            index=index,
            check=check,
            artifacts=artifacts,
        )
        file_findings = file_check.result()
    findings = set(file_findings) | set(discovery.findings)
    for problem in artifacts.problems if artifacts else ():
        findings.add(Finding(problem.file, problem.line, "artifact-copy", problem.message, "fix the copy rule"))
    for cluster in discovery.clusters:
        findings.update(check_cluster(cluster, files))
        findings.update(check_cluster_api(cluster))
    return Report(tuple(sorted(findings)), discovery)


def validate_focus(
    files: Mapping[str, bytes],
    builder: Builder,
    starts: Iterable[str],
    changed: Collection[str],
    artifacts: Artifacts | None = None,
) -> Report:
    """The findings a change can cause, found without validating the whole repository: the file checks of the
    changed files, and every folder in `starts` built and followed as `validate --path` does (builds, schemas,
    substitution, paths). References between objects are left out: a walk from a folder does not see the objects
    the rest of the cluster applies, so every reference outside it would look missing; so are schema findings on
    values still holding `${…}`, which only the Kustomization applying the folder substitutes."""
    index = SourceIndex(files)
    findings = set(check_files(index, only=changed))
    clusters: list[Cluster] = []
    check = SchemaChecker(None)
    for start in sorted(set(starts)):
        discovery = discover(
            files, builder, path=start, broken=index.is_broken, index=index, check=check, artifacts=artifacts
        )
        findings.update(f for f in discovery.findings if not (f.rule.startswith("schema") and "${" in f.message))
        clusters.extend(discovery.clusters)
    return Report(tuple(sorted(findings)), Discovery(tuple(clusters)))
