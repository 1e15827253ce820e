"""Helm index lookups against a real HTTP server on 127.0.0.1 serving the real corpora indexes."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitops_engine.adapters.helmrepo import (
    ChartSource,
    LookupFailure,
    LookupOptions,
    default_cache_dir,
    fetch_indexes,
)
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.credentials import Credentials
from tests.conftest import DATA
from tests.lookups.servers import RepoServer, Route, self_signed, serving

INDEXES = DATA / "helm-indexes"
CORPORA = ("headlamp", "ingress-nginx", "podinfo")
LOGGER = "gitops_engine.adapters.helmrepo"


@pytest.fixture
def server() -> Iterator[RepoServer]:
    """A Helm repository server with the three corpora indexes, each with an ETag and a Last-Modified."""
    with serving() as repo:
        for name in CORPORA:
            repo.routes[f"/{name}/index.yaml"] = Route(
                body=(INDEXES / f"{name}-index.yaml").read_bytes(),
                etag=f'"{name}-1"',
                last_modified="Sat, 21 Nov 2026 10:00:00 GMT",
            )
        yield repo


@pytest.fixture
def options(tmp_path: Path) -> LookupOptions:
    """Fast retries and a private cache directory."""
    return LookupOptions(cache_dir=tmp_path / "cache", timeout=5, attempts=3, backoff=0.01)


def ok(result: ChartIndex | LookupFailure) -> ChartIndex:
    """The index, failing the test with the lookup's own message otherwise."""
    assert isinstance(result, ChartIndex), result
    return result


def failed(result: ChartIndex | LookupFailure) -> LookupFailure:
    """The failure, failing the test if the lookup succeeded."""
    assert isinstance(result, LookupFailure), result
    return result


def generated_index(chart: str, versions: list[str]) -> bytes:
    """A small Helm index with one chart and the given versions, newest first."""
    lines = ["apiVersion: v1", "entries:", f"  {chart}:"]
    for day, version in enumerate(versions, start=1):
        lines += [
            f"  - name: {chart}",
            f"    version: {version}",
            f'    created: "2026-10-{day:02d}T12:00:00.123456789Z"',
            f"    urls: [https://charts.example/{chart}-{version}.tgz]",
        ]
    return ("\n".join(lines) + "\n").encode()


def test_real_indexes_are_parsed_with_versions_and_dates(server: RepoServer, options: LookupOptions) -> None:
    sources = [ChartSource(f"{server.url}/{name}") for name in CORPORA]
    results = fetch_indexes(sources, options)
    headlamp, nginx, podinfo = (ok(results[source.url]) for source in sources)

    assert list(nginx.charts) == ["ingress-nginx"]
    assert len(nginx.releases("ingress-nginx")) == 177
    newest = nginx.releases("ingress-nginx")[0]
    # nanoseconds in the index, microseconds kept
    assert newest.created == datetime(2026, 3, 19, 21, 16, 17, 141043, tzinfo=UTC)
    assert newest.app_version == "1.15.1"
    assert [r.version for r in nginx.releases("ingress-nginx")[:2]] == ["4.15.1", "4.15.0"]
    # the index lists 4.12.0-beta.0 nine times, each a separate entry
    assert [r.version for r in nginx.releases("ingress-nginx")].count("4.12.0-beta.0") == 9
    assert nginx.releases("ingress-nginx")[-1].version == "2.0.0"
    assert headlamp.releases("headlamp")[0].version == "0.45.0"
    assert len(podinfo.releases("podinfo")) == 108
    oldest = podinfo.releases("podinfo")[-1]
    # Seven fractional digits in the index; still a date, not None.
    assert (oldest.version, oldest.created) == ("0.1.0", datetime(2021, 3, 22, 10, 10, 24, 535855, tzinfo=UTC))
    assert oldest.urls == ("https://stefanprodan.github.io/podinfo/podinfo-0.1.0.tgz",)
    assert podinfo.releases("not-there") == ()

    for name in CORPORA:
        (seen,) = server.requests_for(f"/{name}/index.yaml")
        assert seen.status == 200
        assert seen.gzipped, "the client should ask for gzip and decode it"


def test_second_run_revalidates_with_304_and_uses_the_parsed_cache(
    server: RepoServer, options: LookupOptions, caplog: pytest.LogCaptureFixture
) -> None:
    source = ChartSource(f"{server.url}/podinfo")
    first = ok(fetch_indexes([source], options)[source.url])
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    second = ok(fetch_indexes([source], options)[source.url])

    assert second == first
    first_request, second_request = server.requests_for("/podinfo/index.yaml")
    assert "if-none-match" not in first_request.headers
    assert second_request.headers["if-none-match"] == '"podinfo-1"'
    assert second_request.status == 304
    assert any("not modified, parsed index taken from the cache" in r.getMessage() for r in caplog.records)


def test_last_modified_alone_is_enough_to_revalidate(server: RepoServer, options: LookupOptions) -> None:
    server.routes["/podinfo/index.yaml"].etag = None
    source = ChartSource(f"{server.url}/podinfo")
    ok(fetch_indexes([source], options)[source.url])
    ok(fetch_indexes([source], options)[source.url])

    second = server.requests_for("/podinfo/index.yaml")[1]
    assert second.headers["if-modified-since"] == "Sat, 21 Nov 2026 10:00:00 GMT"
    assert second.status == 304


def test_changed_index_is_fetched_and_parsed_again(
    server: RepoServer, options: LookupOptions, caplog: pytest.LogCaptureFixture
) -> None:
    route = Route(body=generated_index("demo", ["1.0.0"]), etag='"v1"')
    server.routes["/demo/index.yaml"] = route
    source = ChartSource(f"{server.url}/demo")
    assert [r.version for r in ok(fetch_indexes([source], options)[source.url]).releases("demo")] == ["1.0.0"]

    route.body, route.etag = generated_index("demo", ["1.1.0", "1.0.0"]), '"v2"'
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    changed = ok(fetch_indexes([source], options)[source.url])

    assert [r.version for r in changed.releases("demo")] == ["1.1.0", "1.0.0"]
    assert changed.releases("demo")[0].created == datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert server.requests_for("/demo/index.yaml")[1].status == 200
    assert any(r.getMessage().endswith(", parsed") for r in caplog.records)


def test_same_bytes_under_a_new_etag_come_from_the_parse_cache(
    server: RepoServer, options: LookupOptions, caplog: pytest.LogCaptureFixture
) -> None:
    route = server.routes["/ingress-nginx/index.yaml"]
    source = ChartSource(f"{server.url}/ingress-nginx")
    ok(fetch_indexes([source], options)[source.url])
    route.etag = '"ingress-nginx-rebuilt"'
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    again = ok(fetch_indexes([source], options)[source.url])

    assert server.requests_for("/ingress-nginx/index.yaml")[1].status == 200
    assert any(r.getMessage().endswith("parse cache hit") for r in caplog.records)
    assert again.releases("ingress-nginx")[0].version == "4.15.1"


def test_server_error_then_success_is_retried(server: RepoServer, options: LookupOptions) -> None:
    server.routes["/podinfo/index.yaml"].faults = ["500", "429"]
    source = ChartSource(f"{server.url}/podinfo")

    index = ok(fetch_indexes([source], options)[source.url])

    assert index.releases("podinfo")[0].version == "6.14.1"
    assert [seen.status for seen in server.requests_for("/podinfo/index.yaml")] == [500, 429, 200]


def test_missing_index_is_a_clear_failure_for_that_repository_only(server: RepoServer, options: LookupOptions) -> None:
    missing, good = ChartSource(f"{server.url}/nothing-here"), ChartSource(f"{server.url}/headlamp")

    results = fetch_indexes([missing, good], options)

    failure = failed(results[missing.url])
    assert failure.status == 404
    assert (
        failure.message
        == f"GET {server.url}/nothing-here/index.yaml: HTTP 404, no index.yaml there (check the repository URL)"
    )
    assert ok(results[good.url]).releases("headlamp")
    assert len(server.requests_for("/nothing-here/index.yaml")) == 1, "a 404 is not retried"


def test_timeout_fails_clearly_after_bounded_retries(server: RepoServer, tmp_path: Path) -> None:
    server.routes["/podinfo/index.yaml"].faults = ["hang"] * 5
    source = ChartSource(f"{server.url}/podinfo")
    options = LookupOptions(cache_dir=tmp_path, timeout=0.3, attempts=3, backoff=0.01)

    failure = failed(fetch_indexes([source], options)[source.url])

    assert failure.message == f"GET {server.url}/podinfo/index.yaml: timed out after 0.3 s (gave up after 3 attempts)"
    assert len(server.requests_for("/podinfo/index.yaml")) == 3


def test_dropped_connection_fails_clearly_after_bounded_retries(server: RepoServer, options: LookupOptions) -> None:
    server.routes["/podinfo/index.yaml"].faults = ["drop"] * 5
    source = ChartSource(f"{server.url}/podinfo")

    failure = failed(fetch_indexes([source], options)[source.url])

    assert failure.message.startswith(f"GET {server.url}/podinfo/index.yaml: connection failed (")
    assert failure.message.endswith("(gave up after 3 attempts)")
    assert len(server.requests_for("/podinfo/index.yaml")) == 3


def test_repositories_are_fetched_in_parallel_once_each(options: LookupOptions) -> None:
    count = 6
    with serving() as repo:
        for n in range(count):
            repo.routes[f"/r{n}/index.yaml"] = Route(body=generated_index(f"chart{n}", [f"{n}.0.0"]))
        # Every request waits until all six are in flight: sequential fetching would break the barrier.
        repo.barrier = threading.Barrier(count, timeout=10)
        sources = [ChartSource(f"{repo.url}/r{n}") for n in range(count)]
        duplicates = [ChartSource(f"{repo.url}/r{n}/") for n in range(count)]

        results = fetch_indexes(sources + duplicates + sources, LookupOptions(cache_dir=options.cache_dir, workers=8))

        for n, source in enumerate(sources):
            assert ok(results[source.url]).releases(f"chart{n}")[0].version == f"{n}.0.0"
            assert results[duplicates[n].url] is results[source.url]
            assert len(repo.requests_for(f"/r{n}/index.yaml")) == 1


def test_basic_auth_is_sent_and_never_stored_or_shown(server: RepoServer, options: LookupOptions) -> None:
    expected = "Basic " + base64.b64encode(b"bot:s3cret-pass").decode()
    server.routes["/private/index.yaml"] = Route(
        body=generated_index("secret-chart", ["2.0.0"]), authorization=expected
    )
    anonymous = ChartSource(f"{server.url}/private")
    wrong = ChartSource(f"http://bot:wrong-pass@{server.url.removeprefix('http://')}/private")

    denied = fetch_indexes([anonymous, wrong], options)
    granted = fetch_indexes([ChartSource(anonymous.url, auth=Credentials("bot", "s3cret-pass"))], options)

    assert failed(denied[anonymous.url]).message.endswith("HTTP 401 (the repository needs credentials)")
    assert "wrong-pass" not in failed(denied[wrong.url]).message
    assert ok(granted[anonymous.url]).releases("secret-chart")[0].version == "2.0.0"
    assert options.cache_dir is not None
    for path in options.cache_dir.rglob("*"):
        if path.is_file():
            assert b"s3cret-pass" not in path.read_bytes()
            assert b"wrong-pass" not in path.read_bytes()


def test_redirects_are_followed_and_credentials_stay_with_their_origin(
    server: RepoServer, options: LookupOptions
) -> None:
    expected = "Basic " + base64.b64encode(b"bot:s3cret-pass").decode()
    server.routes["/old/index.yaml"] = Route(body=b"", redirect="/new/index.yaml")
    server.routes["/new/index.yaml"] = Route(body=generated_index("kept", ["1.0.0"]), authorization=expected)
    with serving() as mirror:
        mirror.routes["/charts/index.yaml"] = Route(body=generated_index("moved", ["1.2.0"]))
        server.routes["/moved/index.yaml"] = Route(body=b"", redirect=f"{mirror.url}/charts/index.yaml")
        auth = Credentials("bot", "s3cret-pass")
        same, other = ChartSource(f"{server.url}/old", auth=auth), ChartSource(f"{server.url}/moved", auth=auth)

        results = fetch_indexes([same, other], options)

        assert ok(results[same.url]).releases("kept")[0].version == "1.0.0", "same origin: credentials follow"
        assert ok(results[other.url]).releases("moved")[0].version == "1.2.0"
        assert server.requests_for("/moved/index.yaml")[0].headers["authorization"] == expected
        assert "authorization" not in mirror.requests_for("/charts/index.yaml")[0].headers, "another origin: none"
        assert mirror.requests_for("/charts/index.yaml")[0].gzipped, "the redirected request still asks for gzip"


def test_https_with_a_ca_bundle(tmp_path: Path, options: LookupOptions) -> None:
    cert, key = self_signed(tmp_path)
    with serving(tls=(cert, key)) as repo:
        repo.routes["/tls/index.yaml"] = Route(body=generated_index("tls-chart", ["0.3.0"]))
        trusted = ChartSource(f"{repo.url}/tls", ca_bundle=cert)
        untrusted = ChartSource(f"{repo.url}/tls/")

        results = fetch_indexes([trusted], options) | fetch_indexes([untrusted], options)

    assert ok(results[trusted.url]).releases("tls-chart")[0].version == "0.3.0"
    refused = failed(results[untrusted.url])
    assert "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert refused.message.endswith("pass the repository's CA bundle")
    assert len(repo.requests_for("/tls/index.yaml")) == 1, "a certificate problem is not retried"


def test_generated_peer_index_is_read(tmp_path: Path, options: LookupOptions) -> None:
    # The index the Renovate peer comparison serves, produced by its own generator.
    script = DATA / "renovate-peer" / "make-helm-index.py"
    with serving() as repo:
        subprocess.run([sys.executable, str(script), str(tmp_path), repo.url], check=True)
        repo.routes["/index.yaml"] = Route(body=(tmp_path / "index.yaml").read_bytes())
        source = ChartSource(repo.url + "/")

        index = ok(fetch_indexes([source], options)[source.url])

    assert sorted(index.charts) == ["cert-manager", "gitea", "kube-prometheus-stack", "myapp", "podinfo", "traefik"]
    newest = index.releases("cert-manager")[0]
    assert (newest.version, newest.created) == ("v1.16.2", datetime(2024, 10, 27, tzinfo=UTC))
    assert newest.urls == (f"{repo.url}/cert-manager-v1.16.2.tgz",)
    assert index.releases("traefik")[0].version == "33.2.0-rc.1"
    assert [r.version for r in index.releases("podinfo")] == [
        "2.1.0-alpha.1",
        "2.0.0",
        "2.0.0-beta.1",
        "1.5.0",
        "1.0.0",
    ]


def test_response_that_is_not_an_index_is_a_clear_failure(server: RepoServer, options: LookupOptions) -> None:
    server.routes["/html/index.yaml"] = Route(body=b"<html><body>Welcome</body></html>\n")
    server.routes["/broken/index.yaml"] = Route(body=b"apiVersion: v1\nentries:\n  a: [unclosed\n")
    html, broken = ChartSource(f"{server.url}/html"), ChartSource(f"{server.url}/broken")
    ftp = ChartSource("ftp://127.0.0.1/charts")

    results = fetch_indexes([html, broken, ftp], options)

    assert failed(results[html.url]).message == (
        f"{html.url}: the response is not a Helm repository index (no `entries` mapping); check the URL"
    )
    assert failed(results[broken.url]).message.startswith(f"{broken.url}: index.yaml is not valid YAML: ")
    assert failed(results[ftp.url]).message == (
        "ftp://127.0.0.1/charts: unsupported URL scheme (use https://, http:// or oci://)"
    )


def test_default_cache_lives_under_xdg_cache_home(
    server: RepoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    source = ChartSource(f"{server.url}/headlamp")

    ok(fetch_indexes([source], LookupOptions(backoff=0.01))[source.url])

    assert default_cache_dir() == tmp_path / "xdg" / "gitops-engine"
    assert len(list(default_cache_dir().glob("http-v1/*.json"))) == 1
    assert len(list(default_cache_dir().glob("parsed-*/*/*.json"))) == 1


def test_without_a_cache_nothing_is_written_and_no_validators_are_sent(
    server: RepoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    source = ChartSource(f"{server.url}/headlamp")
    options = LookupOptions(use_cache=False)

    ok(fetch_indexes([source], options)[source.url])
    ok(fetch_indexes([source], options)[source.url])

    assert [seen.status for seen in server.requests_for("/headlamp/index.yaml")] == [200, 200]
    assert not (tmp_path / "xdg").exists()
