"""The fast reader agrees with PyYAML's composer wherever it answers, and leaves the file to it where unsure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_engine.currency.fastread import read_documents
from gitops_engine.currency.manifests import _ALL_WANTED, _EDITABLE_OF, _composed_objects, read_objects
from tests.currency.support import FLUX_LOCAL, SMALL_REPO

RELEASE = b"""---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  chart:
    spec:
      chart: podinfo
      version: "6.5.0" # pinned
      sourceRef:
        kind: HelmRepository
        name: charts
"""
LOOKALIKES = b"  values:\n    notes: |\n      spec:\n        chart:\n          spec:\n            version: 6.5.0\n"

# Files the fast reader must take itself (and agree with the composer on)
TAKEN = {
    "plain": RELEASE,
    "no-marker": RELEASE[4:],
    "single-quoted": RELEASE.replace(b'"6.5.0"', b"'6.5.0'"),
    "unquoted-wide-comment": RELEASE.replace(b'"6.5.0" # pinned', b"6.5.0    # pinned"),
    "comment-lines-between": RELEASE.replace(b"    spec:\n", b"    # the chart\n    spec:\n\n"),
    "lookalike-in-block-scalar": RELEASE + LOOKALIKES,
    "keys-in-any-order": RELEASE.replace(b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n", b"")
    + b"kind: HelmRelease\napiVersion: helm.toolkit.fluxcd.io/v2\n",
    "two-documents": RELEASE + RELEASE.replace(b"name: web", b"name: api"),
    "empty-document-first": b"---\n# nothing here\n" + RELEASE,
    "non-ascii-before-version": RELEASE.replace(b"name: web", "name: wéb-ü".encode()),
    "flow-elsewhere": RELEASE + b"  values: {replicas: 2, tags: [a, b]}\n",
    "substitute": b"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
    b"spec:\n  path: ./apps\n  postBuild:\n    substitute:\n      tier: 'gold'\n      region: eu # where\n",
    "helm-chart": b"apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmChart\nmetadata:\n  name: c\nspec:\n"
    b"  chart: podinfo\n  version: 6.x\n  sourceRef:\n    kind: HelmRepository\n    name: charts\n",
}

# Files it must hand to the full parser
REFUSED = {
    "flow-chart-spec": RELEASE.replace(
        b'    spec:\n      chart: podinfo\n      version: "6.5.0" # pinned\n',
        b'    spec: {chart: podinfo, version: "6.5.0"}\n    x:\n',
    ),
    "crlf": RELEASE.replace(b"\n", b"\r\n"),
    "anchor-on-version": RELEASE.replace(b'"6.5.0" # pinned', b"&v 6.5.0"),
    "block-scalar-version": RELEASE.replace(b'"6.5.0" # pinned', b"|-\n        6.5.0"),
    "multi-line-plain-version": RELEASE.replace(b'"6.5.0" # pinned', b"6.5.0\n        -rc.1"),
    "escape-in-double-quotes": RELEASE.replace(b'"6.5.0"', b'"6.5.\\x30"'),
    "directive": b"%YAML 1.2\n" + RELEASE,
    "duplicate-key": RELEASE + b"spec:\n  suspend: true\n",
    "number-version": RELEASE.replace(b'"6.5.0"', b"6.5"),
    "null-version": RELEASE.replace(b'"6.5.0" # pinned', b""),
}


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_taken_files_read_like_the_composer(name: str) -> None:
    data = TAKEN[name]
    assert read_documents(data, _ALL_WANTED, _EDITABLE_OF) is not None
    objects = read_objects("f.yaml", data)
    assert objects
    assert objects == _composed_objects("f.yaml", data)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unsure_files_go_to_the_full_parser(name: str) -> None:
    data = REFUSED[name]
    assert read_documents(data, _ALL_WANTED, _EDITABLE_OF) is None
    try:
        expected = _composed_objects("f.yaml", data)
    except yaml.YAMLError:
        # some refused inputs are not YAML at all; read_objects must then fail the same way
        with pytest.raises(yaml.YAMLError):
            read_objects("f.yaml", data)
        return
    assert read_objects("f.yaml", data) == expected


def test_byte_ranges_point_at_the_scalar_after_non_ascii_text() -> None:
    data = TAKEN["non-ascii-before-version"]
    (obj,) = read_objects("f.yaml", data)
    scalar = obj.scalars["spec.chart.spec.version"]
    assert data[scalar.start : scalar.end] == b'"6.5.0"'
    assert (scalar.line, scalar.style, scalar.value) == (11, '"', "6.5.0")


def test_the_real_version_wins_over_a_lookalike_in_a_block_scalar() -> None:
    data = TAKEN["lookalike-in-block-scalar"]
    (obj,) = read_objects("f.yaml", data)
    assert obj.scalars["spec.chart.spec.version"].line == 11


def _manifests() -> list[Path]:
    roots = [FLUX_LOCAL, SMALL_REPO]
    return sorted(p for root in roots for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def test_every_corpus_manifest_reads_the_same_either_way() -> None:
    taken = 0
    for path in _manifests():
        data = path.read_bytes()
        expected = _composed_objects(str(path), data)
        if read_documents(data, _ALL_WANTED, _EDITABLE_OF) is not None:
            taken += 1
        assert read_objects(str(path), data) == expected, path
    # the point of the fast reader: real manifests are nearly all within what it takes
    assert taken >= 0.9 * len(_manifests())
