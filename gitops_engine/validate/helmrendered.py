"""What each HelmRelease renders, as objects located at the HelmRelease, and the findings about them.

A rendered object has no file of its own in the repository: its findings point at the HelmRelease (file:line)
and name the template inside the chart that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitops_engine.flux.kinds import CLUSTER_SCOPED_KINDS
from gitops_engine.helm.render import Manifest
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.discovery import ObjectCheck
from gitops_engine.validate.helmreleases import ReleaseJob
from gitops_engine.validate.objects import RenderedObject, object_id


@dataclass(frozen=True)
class TemplateObject:
    """One rendered object and the chart file it came from."""

    template: str
    object: RenderedObject


@dataclass(frozen=True)
class RenderedRelease:
    """A HelmRelease's render: its objects, or why there are none (`failure`: Helm refused; `unavailable`: the
    chart or an input could not be had, which is not the repository's fault)."""

    job: ReleaseJob
    objects: tuple[TemplateObject, ...] = ()
    failure: str = ""
    unavailable: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """(cluster, HelmRelease) — what pairs a release across two revisions."""
        return self.job.cluster, str(self.job.release.id)


def template_objects(job: ReleaseJob, manifests: Iterable[Manifest]) -> tuple[TemplateObject, ...]:
    """The manifests as objects of the release's namespace, each located at the HelmRelease."""
    assert job.spec is not None
    release = job.release
    result: list[TemplateObject] = []
    for manifest in manifests:
        body = _namespaced(manifest.body, job.spec.release_namespace)
        obj = RenderedObject(
            object_id(body), str(body.get("apiVersion") or ""), body, release.file, release.id, release.locate
        )
        result.append(TemplateObject(manifest.template, obj))
    return tuple(result)


def release_findings(releases: Iterable[RenderedRelease], check: ObjectCheck) -> set[Finding]:
    """Findings of every release: preparation problems, render failures and each object's checks."""
    findings: set[Finding] = set()
    for rendered in releases:
        job, release = rendered.job, rendered.job.release
        if job.finding is not None:
            findings.add(job.finding)
        if rendered.failure:
            findings.add(
                Finding(
                    release.file,
                    release.line_of(_chart_path(release.body)),
                    "helm-render-failed",
                    f"{release.id}: Helm cannot render the chart: {rendered.failure}",
                    "fix the values (or the chart version) so that the chart renders",
                )
            )
        line = release.line_of()
        for item in rendered.objects:
            for finding in check(item.object):
                findings.add(
                    replace(
                        finding,
                        file=release.file,
                        line=line,
                        message=f"{release.id} renders {item.template}: {finding.message}",
                    )
                )
    return findings


def unrendered_notes(releases: Iterable[RenderedRelease]) -> tuple[str, ...]:
    """One line per release that could not be rendered for want of a chart or an input (not an error)."""
    return tuple(
        sorted(
            f"{r.job.release.file}:{r.job.release.line_of()}: {r.job.release.id} (cluster {r.job.cluster}) not "
            f"rendered: {r.unavailable}"
            for r in releases
            if r.unavailable
        )
    )


def warning_for_post_renderers(releases: Iterable[RenderedRelease]) -> set[Finding]:
    """A warning per rendered release with post-renderers, which --render-helm does not apply."""
    return {
        Finding(
            r.job.release.file,
            r.job.release.line_of(("spec", "postRenderers")),
            "helm-post-renderers",
            f"{r.job.release.id}: its spec.postRenderers are not applied to the rendered objects",
            "check the patched objects by hand",
            Severity.WARNING,
        )
        for r in releases
        if r.objects and r.job.spec is not None and r.job.spec.has_post_renderers
    }


def _namespaced(body: Mapping[str, Any], namespace: str) -> Mapping[str, Any]:
    meta = body.get("metadata")
    if body.get("kind") in CLUSTER_SCOPED_KINDS or (isinstance(meta, Mapping) and meta.get("namespace")):
        return body
    return {**body, "metadata": {**(meta if isinstance(meta, Mapping) else {}), "namespace": namespace}}


def _chart_path(body: Mapping[str, Any]) -> tuple[str, ...]:
    spec = body.get("spec")
    return ("spec", "chartRef") if isinstance(spec, Mapping) and "chartRef" in spec else ("spec", "chart")
