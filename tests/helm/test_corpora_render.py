"""validate --render-helm on every flux-local test repository (tests/data/flux-local): offline, with an empty
chart cache, nothing crashes and every HelmRelease is either rendered or listed as not rendered (folder charts
in the repository itself render; charts from remote repositories cannot be had offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.kustomize import kustomize_builder, read_directory
from gitops_engine.app.helm import HelmOptions
from gitops_engine.app.validate import helm_findings
from gitops_engine.flux.kinds import HELM_GROUP
from gitops_engine.model.tree import Tree
from gitops_engine.validate.engine import validate_tree
from tests.conftest import DATA

CORPORA = DATA / "flux-local" / "testdata"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPORA.iterdir() if p.is_dir()))
def test_render_helm_on_a_flux_local_corpus_lists_what_it_cannot_fetch_offline(name: str, tmp_path: Path) -> None:
    prefix = f"tests/testdata/{name}"
    files = Tree({f"{prefix}/{path}": data for path, data in read_directory(CORPORA / name).items()})
    with kustomize_builder(files, cache_dir=None) as builder:
        report = validate_tree(files, builder)
    options = HelmOptions(LookupOptions(cache_dir=tmp_path / "cache"), offline=True)
    findings, unchecked = helm_findings(files, report.discovery, None, options)
    releases = [
        o
        for c in report.discovery.clusters
        for o in c.objects
        if o.id.group == HELM_GROUP and o.id.kind == "HelmRelease"
    ]
    offline = [line for line in unchecked if "(offline)" in line]
    # a release is either rendered (its findings, if any, are located at it) or named in a note
    assert len(unchecked) <= len(releases)
    assert all(f.rule.startswith(("helm-", "schema-")) for f in findings)
    if any(b"kind: HelmRepository" in data for data in files.values()) and releases:
        assert offline or findings or len(unchecked) < len(releases)
