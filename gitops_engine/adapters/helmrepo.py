"""Chart lookups: what each Helm repository (HTTP index.yaml) or OCI repository offers, fetched once per run;
Kubernetes release sources are looked up the same way (adapters.kubernetes_releases).

`fetch_indexes` is the entry point. It fetches every distinct source URL once, in parallel across sources,
and never raises for a single bad repository: each failure comes back as a LookupFailure for the caller to
report against the items that use it. Helm indexes are revalidated against an on-disk cache (ETag /
Last-Modified) and parsed at most once per distinct content (see chartindex).

Every GET goes through httpget, with its limits on size, redirects and time; each source also has a deadline
(`source_deadline`) and the whole run one more (`run_deadline`), so a server that hangs or trickles costs that
source a bounded time and every other source is still looked up.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from gitops_engine.adapters.chartindex import cached_index, index_from_bytes
from gitops_engine.adapters.fs import write_atomic
from gitops_engine.adapters.httpget import Clients, Deadline, FetchLimits, RetryingTransport, redact
from gitops_engine.adapters.kubernetes_releases import fetch_releases
from gitops_engine.adapters.oci import BasicPair, Response, fetch_oci_index
from gitops_engine.core.errors import GitopsError, PermanentRemoteError, RemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.shown import shown
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.credentials import Credentials
from gitops_engine.updates.uses import RELEASE_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChartSource:
    """One place charts come from: `https://…` (Helm index) or `oci://registry/path/chart` (one OCI repository);
    or, with a Kubernetes release `kind` (updates.uses.RELEASE_KINDS), where Kubernetes releases are listed, asked
    for the minors in `asked`."""

    url: str
    auth: Credentials | None = None
    ca_bundle: Path | None = None
    insecure: bool = False  # OCI only: plain HTTP, as Flux's `spec.insecure`
    kind: str = "helm"
    asked: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupOptions:
    """How lookups behave; `cache_dir=None` means $XDG_CACHE_HOME/gitops-engine (or ~/.cache/gitops-engine)."""

    cache_dir: Path | None = None
    use_cache: bool = True
    timeout: float = 20.0  # seconds to connect, and to wait for each next piece of an answer
    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 10.0
    workers: int = 8
    oci_page_size: int = 1000
    max_bytes: int = 64 << 20  # per body, as sent and un-gzipped; the largest public indexes are about 20 MB
    max_redirects: int = 5
    source_deadline: float = 120.0  # all of one source's requests, retries and pages included
    run_deadline: float = 300.0  # all sources of one fetch_indexes call

    def limits(self) -> FetchLimits:
        """The per-request limits these options set."""
        return FetchLimits(
            self.timeout, self.max_bytes, self.max_redirects, self.attempts, self.backoff, self.max_delay
        )


@dataclass(frozen=True)
class LookupFailure:
    """Why one source could not be read; `message` names the URL and is safe to print."""

    url: str
    message: str
    status: int | None = None


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/gitops-engine, or ~/.cache/gitops-engine when XDG_CACHE_HOME is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-engine"


def fetch_indexes(
    sources: Sequence[ChartSource], options: LookupOptions | None = None
) -> dict[str, ChartIndex | LookupFailure]:
    """What every source offers, keyed by each source's URL as given; one fetch per distinct URL."""
    opts = options or LookupOptions()
    cache_dir = _cache_root(opts)
    distinct: dict[str, ChartSource] = {}
    for source in sources:
        distinct.setdefault(_normalise(source.url), source)
    results: dict[str, ChartIndex | LookupFailure] = {}
    if distinct:
        clients = Clients()
        run_ends = time.monotonic() + opts.run_deadline
        with ThreadPoolExecutor(max_workers=max(1, min(opts.workers, len(distinct)))) as pool:
            futures = {key: pool.submit(_lookup, clients, s, opts, cache_dir, run_ends) for key, s in distinct.items()}
            results = {key: future.result() for key, future in futures.items()}
    return {source.url: results[_normalise(source.url)] for source in sources}


def _normalise(url: str) -> str:
    return url.strip().rstrip("/")


def _index_url(url: str) -> str:
    return f"{_normalise(url)}/index.yaml"


def _cache_root(opts: LookupOptions) -> Path | None:
    return (opts.cache_dir or default_cache_dir()) if opts.use_cache else None


def _auth(source: ChartSource) -> BasicPair | None:
    return (source.auth.username, source.auth.password) if source.auth else None


def _list_oci(transport: RetryingTransport, source: ChartSource, opts: LookupOptions) -> ChartIndex:
    return fetch_oci_index(
        transport, source.url, insecure=source.insecure, auth=_auth(source), page_size=opts.oci_page_size
    )


def _lookup(
    clients: Clients, source: ChartSource, opts: LookupOptions, cache_dir: Path | None, run_ends: float
) -> ChartIndex | LookupFailure:
    where = redact(source.url)
    scheme = urlsplit(source.url).scheme
    seconds = min(opts.source_deadline, run_ends - time.monotonic())
    if seconds <= 0:
        spent = f"other sources used up the {opts.run_deadline:g} s all lookups may take"
        return LookupFailure(source.url, f"{where}: not looked up: {spent}")
    try:
        with Deadline(seconds) as deadline:
            transport = RetryingTransport(clients, source.ca_bundle, opts.limits(), deadline)
            if source.kind in RELEASE_KINDS and scheme in ("http", "https"):
                return fetch_releases(transport, source.url, source.kind, source.asked)
            if scheme == "oci":
                return _list_oci(transport, source, opts)
            if scheme in ("http", "https"):
                return _fetch_helm_index(transport, source.url, _auth(source), cache_dir)
            raise PermanentRemoteError(f"{where}: unsupported URL scheme (use https://, http:// or oci://)")
    except RemoteError as exc:
        log.info("lookup failed: %s", exc)
        return LookupFailure(url=source.url, message=str(exc), status=getattr(exc, "status", None))
    except (GitopsError, OSError, http.client.HTTPException) as exc:
        log.info("lookup failed: %s: %s", where, exc)
        return LookupFailure(url=source.url, message=f"{where}: {shown(str(exc))}")


def _fetch_helm_index(
    transport: RetryingTransport, url: str, auth: BasicPair | None, cache_dir: Path | None
) -> ChartIndex:
    index_url = _index_url(url)
    where = redact(index_url)
    validators = _read_validators(cache_dir, index_url) if cache_dir else None
    cached = cached_index(cache_dir, validators.content_sha256, url) if cache_dir and validators else None
    headers = validators.headers() if validators and cached is not None else {}
    response = transport.get(index_url, headers=headers, auth=auth)
    status = response.status_code
    if status == HTTPStatus.NOT_MODIFIED and cached is not None:
        log.debug("%s: not modified, parsed index taken from the cache", where)
        return cached
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        hint = "check the repository credentials" if auth else "the repository needs credentials"
        raise PermanentRemoteError(f"GET {where}: HTTP {status} ({hint})", status)
    if status == HTTPStatus.NOT_FOUND:
        raise PermanentRemoteError(f"GET {where}: HTTP 404, no index.yaml there (check the repository URL)", status)
    if status != HTTPStatus.OK:
        raise PermanentRemoteError(f"GET {where}: unexpected HTTP {status}", status)
    index, parsed = index_from_bytes(response.content, url, cache_dir)
    log.debug("%s: fetched %d bytes, %s", where, len(response.content), "parsed" if parsed else "parse cache hit")
    if cache_dir is not None:
        _write_validators(cache_dir, index_url, response, sha256_hex(response.content))
    return index


@dataclass(frozen=True)
class _Validators:
    """What the last 200 said about an index: its validators and the hash of its bytes."""

    content_sha256: str
    etag: str | None
    last_modified: str | None

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def _validators_file(cache_dir: Path, index_url: str) -> Path:
    return cache_dir / "http-v1" / f"{sha256_hex(index_url.encode())[:40]}.json"


def _read_validators(cache_dir: Path, index_url: str) -> _Validators | None:
    try:
        data = json.loads(_validators_file(cache_dir, index_url).read_bytes())
        return _Validators(data["sha256"], data.get("etag"), data.get("last_modified"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_validators(cache_dir: Path, index_url: str, response: Response, content_sha256: str) -> None:
    record = {
        "url": redact(index_url),
        "sha256": content_sha256,
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
    }
    try:
        write_atomic(_validators_file(cache_dir, index_url), json.dumps(record).encode(), mode=0o600)
    except OSError as exc:
        # The cache only saves time; a read-only or full disk must not fail the lookup.
        log.warning("could not write the lookup cache in %s: %s", cache_dir, exc)
