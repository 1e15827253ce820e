"""OCI lookups against Debian's docker-registry (distribution) on 127.0.0.1, with charts pushed through its API."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import ChartSource, LookupOptions, fetch_indexes
from gitops_engine.adapters.oci import parse_oci_url
from gitops_engine.core.errors import PermanentRemoteError
from gitops_engine.model.credentials import Credentials
from tests.lookups.registry import TokenIssuer, push_chart, registry, token_issuer
from tests.lookups.servers import Route, self_signed, serving
from tests.lookups.test_helmrepo import failed, ok

PODINFO = ["6.3.0", "6.4.0", "6.5.0", "6.5.4", "7.0.0-rc.1", "1.0.0+build.7"]


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An anonymous registry holding charts/podinfo (six tags) and charts/empty-tags (none)."""
    with registry(tmp_path_factory.mktemp("registry")) as base:
        for version in PODINFO:
            push_chart(base, "charts/podinfo", version)
        push_chart(base, "team/apps/demo", "0.1.0")
        yield base


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenIssuer]]:
    """A registry that only accepts bearer tokens from a loopback issuer, holding charts/secured (three tags)."""
    directory = tmp_path_factory.mktemp("token-registry")
    with token_issuer(directory) as issuer, registry(directory, issuer) as base:
        push_token = issuer.token(["repository:charts/secured:pull,push"])
        for version in ("0.9.0", "1.0.0", "1.1.0"):
            push_chart(base, "charts/secured", version, push_token)
        yield base, issuer


def oci_url(base: str, name: str) -> str:
    """The oci:// URL of repository `name` on the registry at `base`."""
    return f"oci://{base.removeprefix('http://')}/{name}"


def test_tags_come_back_as_chart_versions(open_registry: str, tmp_path: Path) -> None:
    source = ChartSource(oci_url(open_registry, "charts/podinfo"), insecure=True)

    index = ok(fetch_indexes([source], LookupOptions(cache_dir=tmp_path))[source.url])

    assert list(index.charts) == ["podinfo"]
    assert sorted(r.version for r in index.releases("podinfo")) == sorted(PODINFO)
    assert all(r.name == "podinfo" and r.created is None for r in index.releases("podinfo"))
    assert index.source_url == source.url


def test_paginated_tag_lists_are_followed_with_one_token(tmp_path: Path) -> None:
    # docker-registry 2.8 ignores `n` on tag lists, so paging is served by a stdlib server speaking the same API;
    # the second Link is query-only, which must resolve against the page it came from.
    name = "charts/paged"
    pages = {
        f"/v2/{name}/tags/list?n=2": (["1.0.0", "1.1.0"], f'</v2/{name}/tags/list?last=1.1.0&n=2>; rel="next"'),
        f"/v2/{name}/tags/list?last=1.1.0&n=2": (["1.2.0", "2.0.0"], '<?last=2.0.0&n=2>; rel="next"'),
        f"/v2/{name}/tags/list?last=2.0.0&n=2": (["2.1.0"], None),
    }
    with serving() as server:
        realm = f"{server.url}/token"
        for path, (tags, link) in pages.items():
            server.routes[path] = Route(
                body=json.dumps({"name": name, "tags": tags}).encode(),
                authorization="Bearer page-token",
                challenge=f'Bearer realm="{realm}",service="paging",scope="repository:{name}:pull"',
                headers={"Link": link} if link else {},
            )
        server.routes["/token"] = Route(body=b'{"access_token": "page-token"}')
        source = ChartSource(f"oci://{server.url.removeprefix('http://')}/{name}", insecure=True)

        index = ok(fetch_indexes([source], LookupOptions(cache_dir=tmp_path, oci_page_size=2))[source.url])

        assert [r.version for r in index.releases("paged")] == ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"]
        (token_request,) = server.requests_for("/token")
        assert token_request.status == 200
        assert [seen.status for seen in server.seen if seen.path != "/token"] == [401, 200, 200, 200]


def test_nested_repository_names_use_the_last_segment_as_chart(open_registry: str, tmp_path: Path) -> None:
    source = ChartSource(oci_url(open_registry, "team/apps/demo"), insecure=True)

    index = ok(fetch_indexes([source], LookupOptions(cache_dir=tmp_path))[source.url])

    assert [r.version for r in index.releases("demo")] == ["0.1.0"]


def test_unknown_repository_is_a_clear_failure(open_registry: str, tmp_path: Path) -> None:
    missing = ChartSource(oci_url(open_registry, "charts/nope"), insecure=True)
    good = ChartSource(oci_url(open_registry, "charts/podinfo"), insecure=True)

    results = fetch_indexes([missing, good], LookupOptions(cache_dir=tmp_path))

    failure = failed(results[missing.url])
    assert failure.message == f"{missing.url}: no such repository in the registry (HTTP 404)"
    assert failure.status == 404
    assert ok(results[good.url]).releases("podinfo")


def test_anonymous_bearer_token_flow(token_registry: tuple[str, TokenIssuer], tmp_path: Path) -> None:
    base, issuer = token_registry
    issuer.requests.clear()
    source = ChartSource(oci_url(base, "charts/secured"), insecure=True)

    index = ok(fetch_indexes([source], LookupOptions(cache_dir=tmp_path))[source.url])

    assert sorted(r.version for r in index.releases("secured")) == ["0.9.0", "1.0.0", "1.1.0"]
    # Asked for with the service and the pull scope of the registry's own challenge.
    assert issuer.requests == [{"service": ["loopback-registry"], "scope": ["repository:charts/secured:pull"]}]


def test_token_registry_unknown_repository_is_a_clear_failure(
    token_registry: tuple[str, TokenIssuer], tmp_path: Path
) -> None:
    base, _ = token_registry
    source = ChartSource(oci_url(base, "charts/never-pushed"), insecure=True)

    failure = failed(fetch_indexes([source], LookupOptions(cache_dir=tmp_path))[source.url])

    assert failure.message == f"{source.url}: no such repository in the registry (HTTP 404)"


def test_basic_challenge_uses_the_source_credentials(tmp_path: Path) -> None:
    tags = json.dumps({"name": "charts/private", "tags": ["2.0.0", "2.1.0"]}).encode()
    expected = "Basic " + base64.b64encode(b"robot:pa55").decode()
    with serving() as server:
        server.routes["/v2/charts/private/tags/list"] = Route(body=tags, authorization=expected)
        url = f"oci://{server.url.removeprefix('http://')}/charts/private"
        anonymous = ChartSource(url, insecure=True)
        with_auth = ChartSource(url + "/", insecure=True, auth=Credentials("robot", "pa55"))

        results = fetch_indexes([anonymous], LookupOptions(cache_dir=tmp_path)) | fetch_indexes(
            [with_auth], LookupOptions(cache_dir=tmp_path)
        )

    assert failed(results[anonymous.url]).message == f"{url}: the registry requires credentials (HTTP basic)"
    assert [r.version for r in ok(results[with_auth.url]).releases("private")] == ["2.0.0", "2.1.0"]


def test_oci_over_https_with_a_ca_bundle(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with serving(tls=(cert, key)) as server:
        server.routes["/v2/charts/podinfo/tags/list"] = Route(body=b'{"name": "charts/podinfo", "tags": ["6.7.1"]}')
        source = ChartSource(f"oci://{server.url.removeprefix('https://')}/charts/podinfo", ca_bundle=cert)

        index = ok(fetch_indexes([source], LookupOptions(cache_dir=tmp_path))[source.url])

    assert [r.version for r in index.releases("podinfo")] == ["6.7.1"]


def test_oci_urls_are_checked() -> None:
    assert parse_oci_url("oci://ghcr.io/stefanprodan/charts/podinfo").base_url == "https://ghcr.io"
    assert parse_oci_url("oci://127.0.0.1:5000/charts/x", insecure=True).base_url == "http://127.0.0.1:5000"
    with pytest.raises(PermanentRemoteError, match="not an OCI chart URL"):
        parse_oci_url("oci://ghcr.io")
