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


# Every HelmRelease of these corpora takes its chart from a remote HelmRepository or OCI registry, so offline
# with an empty chart cache none renders; each is listed, and none is an error. cluster7's ingress-nginx names a
# HelmRepository in another namespace that its cluster does not apply.
OFFLINE = {
    "cluster": {"HelmRelease/podinfo/podinfo", "HelmRelease/metallb/metallb", "HelmRelease/flux-system/weave-gitops"},
    "cluster2": {"HelmRelease/monitoring/headlamp", "HelmRelease/networking/ingress-nginx"},
    "cluster3": set(),
    "cluster4": {"HelmRelease/monitoring/headlamp"},
    "cluster5": {"HelmRelease/metallb/metallb", "HelmRelease/flux-system/weave-gitops"},
    "cluster6": {"HelmRelease/default/renovate"},
    "cluster7": {
        "HelmRelease/flux-system/cloudflared",
        "HelmRelease/database/postgresql",
        "HelmRelease/flux-system/unifi-controller",
    },
    "cluster8": {"HelmRelease/podinfo/podinfo", "HelmRelease/network/tailscale-operator"},
    "image_error": set(),
    "repo": set(),
}
ELSEWHERE = {"cluster7": {"HelmRelease/flux-system/ingress-nginx"}}


@pytest.mark.parametrize("name", sorted(p.name for p in CORPORA.iterdir() if p.is_dir()))
def test_render_helm_on_a_flux_local_corpus_lists_what_it_cannot_fetch_offline(name: str, tmp_path: Path) -> None:
    prefix = f"tests/testdata/{name}"
    files = Tree({f"{prefix}/{path}": data for path, data in read_directory(CORPORA / name).items()})
    with kustomize_builder(files, cache_dir=None) as builder:
        report = validate_tree(files, builder)
    options = HelmOptions(LookupOptions(cache_dir=tmp_path / "cache"), offline=True)
    findings, unchecked = helm_findings(files, report.discovery, None, options)
    releases = {
        str(o.id)
        for c in report.discovery.clusters
        for o in c.objects
        if o.id.group == HELM_GROUP and o.id.kind == "HelmRelease"
    }
    assert releases == OFFLINE[name] | ELSEWHERE.get(name, set())
    assert findings == set()
    listed = {line.split(": ", 1)[1].split(" (cluster ", 1)[0]: line for line in unchecked}
    assert set(listed) == releases
    assert {r for r, line in listed.items() if line.endswith("is not in the chart cache (offline)")} == OFFLINE[name]
    assert all(line.startswith(f"{prefix}/") for line in unchecked)  # located at the HelmRelease's file:line
