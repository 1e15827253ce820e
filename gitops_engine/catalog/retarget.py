"""A catalog app folder serving another chart version: the one rewrite a seed and a bot bump share.

A version the bot proposed (and someone merged) need not be in the catalog: the fleet then runs the catalog folder
it was on, with the chart version it pins rewritten — in the HelmRelease (`spec.chart.spec.version`), an
OCIRepository (`spec.ref.tag`) and metadata.yaml (`chart.version`). Only those scalars' bytes change, spelled as
they were, so comments, order and hand edits survive; the seed renders exactly what the bot writes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import replace

from gitops_engine.core.yamlio import ByteOffsets, Node, Scalar, ScalarNode, YamlError, compose, dig, replace_scalars
from gitops_engine.model.catalog import AppVersion

# (kind, keys) of every scalar that pins the chart version in a catalog folder's manifests
_PINS = (("HelmRelease", ("spec", "chart", "spec", "version")), ("OCIRepository", ("spec", "ref", "tag")))
_METADATA = "metadata.yaml"


def retarget(app: AppVersion, version: str) -> AppVersion:
    """`app` (a catalog folder) as it serves chart `version`; its files keep every other byte."""
    if version == app.chart.version:
        return app
    files = retarget_files(app.files, app.chart.version, version)
    folder = folder_version(app.version, app.chart.version, version)
    return replace(app, version=folder, chart=replace(app.chart, version=version), files=files)


def folder_version(folder: str, folder_chart: str, chart: str) -> str:
    """The app version (folder name) serving chart version `chart`, spelled as the catalog spells `folder`, which
    serves `folder_chart`: catalogs name cert-manager's chart v1.16.2 folder 1.16.2, so v1.17.0 goes to 1.17.0."""
    if folder_chart == f"v{folder}" and chart.startswith("v"):
        return chart[1:]
    return chart


def chart_version(folder: str, folder_chart: str, version: str) -> str:
    """The chart version app version `version` stands for, `folder` serving `folder_chart` (folder_version's
    inverse)."""
    if folder_chart == f"v{folder}" and not version.startswith("v"):
        return f"v{version}"
    return version


def retarget_files(files: Mapping[str, bytes], old: str, new: str) -> dict[str, bytes]:
    """The folder's files with every pin of chart version `old` set to `new` (paths relative to the folder)."""
    out = dict(files)
    for path, data in files.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        pins = [scalar for scalar in _pins(path, data) if scalar.value in (old, f"v{old}")]
        if pins:
            out[path] = replace_scalars(data, [(s, s.value.replace(old, new, 1)) for s in pins])
    return out


def _pins(path: str, data: bytes) -> Iterator[Scalar]:
    """The chart-version scalars of one file: in metadata.yaml `chart.version`, elsewhere the manifests' pins."""
    try:
        roots = compose(data)
    except YamlError:
        return
    offsets = ByteOffsets(data)
    metadata = posixpath.basename(path) == _METADATA
    for root in roots:
        for node in _pin_nodes(root, metadata):
            if isinstance(node, ScalarNode):
                yield offsets.scalar(node)


def _pin_nodes(root: Node, metadata: bool) -> Iterator[Node | None]:
    if metadata:
        yield dig(root, ("chart", "version"))
        return
    kind = dig(root, ("kind",))
    for wanted, keys in _PINS:
        if isinstance(kind, ScalarNode) and kind.value == wanted:
            yield dig(root, keys)
