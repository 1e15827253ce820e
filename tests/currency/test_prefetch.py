"""The Helm repositories a tree declares are fetched while its releases are resolved, and only once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import AdapterLookup, bump_target
from tests.currency.support import NOW, commit_tree
from tests.currency.test_bump_memo import fleet, index
from tests.lookups.servers import Route, serving


def test_declared_repositories_are_fetched_once_during_the_scan(tmp_path: Path) -> None:
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index("25.0.0", "26.0.0"), etag='"one"')
        unused = (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: spare\n"
            f"  namespace: flux-system\nspec:\n  url: {server.url}/spare\n"
        ).encode()
        repo = tmp_path / "fleet.git"
        commit_tree(repo, fleet(server.url, extra={"clusters/a/flux-system/spare.yaml": unused}))
        lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
        prefetched: list[list[str]] = []
        original = lookup.prefetch

        def spy(urls: list[str]) -> None:
            prefetched.append(list(urls))
            original(urls)

        lookup.prefetch = spy  # type: ignore[method-assign,assignment]
        result = bump_target(LocalTarget(repo), lookup, dry_run=True, now=NOW, cache_dir=tmp_path / "scans")
        assert [sorted(urls) for urls in prefetched] == [sorted([server.url, f"{server.url}/spare"])]
        assert [p.target.text for p in result.plan.proposals] == ["26.0.0"]
        assert len(server.requests_for("/index.yaml")) == 1  # not fetched a second time for the lookup proper
        assert len(server.requests_for("/spare/index.yaml")) == 1
        # the spare repository has no index (404), but no release uses it: nothing to report
        assert result.lookup_failures == {}


@pytest.mark.parametrize("declared", ["${mirror}/charts", "oci://registry.example/charts"])
def test_urls_needing_substitution_or_oci_are_not_prefetched(declared: str) -> None:
    from gitops_engine.currency.scan import declared_helm_urls, read_manifests

    text = (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: x\n"
        f"spec:\n  url: {declared}\n"
    ).encode()
    files = {"repos.yaml": text}
    assert declared_helm_urls([read_manifests(files, files)]) == []
