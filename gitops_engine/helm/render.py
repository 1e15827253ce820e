"""The renderer interface and what a render produces: the objects each template of a chart yields.

`ChartRenderer` is what a Helm backend implements (adapters.helmsdk binds Helm's Go SDK; another backend could
take its place). Rendered text is split into objects here, with the template each came from, the way
helm-controller applies them: `NOTES.txt` and empty documents dropped, the chart's `crds/` files by the release's
CRD policy, helm-controller's origin labels and `spec.commonMetadata` added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gitops_engine.core.yamlio import YamlError, load
from gitops_engine.helm.release import CrdPolicy, ReleaseSpec

ORIGIN_NAME = "helm.toolkit.fluxcd.io/name"
ORIGIN_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"


@dataclass(frozen=True)
class ChartArchive:
    """A packaged chart (`.tgz` bytes) and the sha256 of those bytes (`sha256:<hex>`), which names it in caches."""

    digest: str
    data: bytes = b""


@dataclass(frozen=True)
class RenderRequest:
    """One render: the user values (before Helm coalesces them with the chart's defaults) and the release."""

    values: Mapping[str, Any]
    release_name: str
    namespace: str


@dataclass(frozen=True)
class RenderedChart:
    """Template path → rendered text, and the chart's `crds/` files (subcharts' included) path → text."""

    templates: Mapping[str, str]
    crds: Mapping[str, str]


class RenderError(Exception):
    """The chart could not be loaded or rendered (bad values for its schema, a template error)."""


class ChartRenderer(Protocol):
    """A Helm backend: renders a chart archive offline."""

    def render(self, chart: ChartArchive, request: RenderRequest) -> RenderedChart:
        """The chart's templates rendered for `request`; RenderError when Helm refuses."""
        ...


@dataclass(frozen=True)
class Manifest:
    """One object a release applies and the chart file it came from (`demo/templates/deploy.yaml`)."""

    template: str
    body: Mapping[str, Any]
    crd_file: bool = False


def release_manifests(rendered: RenderedChart, spec: ReleaseSpec, crds: CrdPolicy) -> list[Manifest]:
    """The objects of one render in template order; raises RenderError for output that is not YAML."""
    manifests: list[Manifest] = []
    if crds is not CrdPolicy.SKIP:
        for path, text in sorted(rendered.crds.items()):
            manifests.extend(Manifest(path, body, crd_file=True) for body in _documents(path, text))
    for path, text in sorted(rendered.templates.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(Manifest(path, _labelled(body, spec)) for body in _documents(path, text))
    return manifests


def _documents(path: str, text: str) -> list[Mapping[str, Any]]:
    try:
        docs = load(text)
    except YamlError as exc:
        raise RenderError(f"{path} renders invalid YAML: line {exc.line}: {exc.problem}") from None
    for doc in docs:
        if doc is not None and not isinstance(doc, Mapping):
            raise RenderError(f"{path} renders a YAML document that is not an object")
    return [doc for doc in docs if doc]


def _labelled(body: Mapping[str, Any], spec: ReleaseSpec) -> Mapping[str, Any]:
    # post-renderers run first, then commonMetadata, then the origin labels, which win on a clash
    meta = dict(body.get("metadata") or {})
    labels = {**(meta.get("labels") or {}), **spec.common_labels}
    labels[ORIGIN_NAME] = spec.name
    labels[ORIGIN_NAMESPACE] = spec.namespace
    meta["labels"] = labels
    if spec.common_annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **spec.common_annotations}
    return {**body, "metadata": meta}
