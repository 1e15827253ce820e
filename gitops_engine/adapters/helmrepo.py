"""Chart lookups: what each Helm repository (HTTP index.yaml) or OCI repository offers, fetched once per run.

`fetch_indexes` is the entry point. It fetches every distinct source URL once, in parallel across sources,
and never raises for a single bad repository: each failure comes back as a LookupFailure for the caller to
report against the items that use it. Helm indexes are revalidated against an on-disk cache (ETag /
Last-Modified) and parsed at most once per distinct content (see chartindex).
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from gitops_engine.adapters.chartindex import cached_index, index_from_bytes, write_atomically
from gitops_engine.adapters.oci import Credentials, fetch_oci_index
from gitops_engine.core.errors import GitopsError, PermanentRemoteError, RemoteError, TransientRemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.model.charts import ChartIndex

log = logging.getLogger(__name__)

_USER_AGENT = "gitops-engine (chart lookups)"


@dataclass(frozen=True)
class BasicAuth:
    """Username and password for a repository (from a Flux `secretRef`); the password is never printed."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ChartSource:
    """One place charts come from: `https://…` (Helm index) or `oci://registry/path/chart` (one OCI repository)."""

    url: str
    auth: BasicAuth | None = None
    ca_bundle: Path | None = None
    insecure: bool = False  # OCI only: plain HTTP, as Flux's `spec.insecure`


@dataclass(frozen=True)
class LookupOptions:
    """How lookups behave; `cache_dir=None` means $XDG_CACHE_HOME/gitops-engine (or ~/.cache/gitops-engine)."""

    cache_dir: Path | None = None
    use_cache: bool = True
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 10.0
    workers: int = 8
    oci_page_size: int = 1000


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
    cache_dir = (opts.cache_dir or default_cache_dir()) if opts.use_cache else None
    distinct: dict[str, ChartSource] = {}
    for source in sources:
        distinct.setdefault(_normalise(source.url), source)
    results: dict[str, ChartIndex | LookupFailure] = {}
    if distinct:
        with (
            _Clients(opts) as clients,
            ThreadPoolExecutor(max_workers=max(1, min(opts.workers, len(distinct)))) as pool,
        ):
            futures = {key: pool.submit(_lookup, clients, source, opts, cache_dir) for key, source in distinct.items()}
            results = {key: future.result() for key, future in futures.items()}
    return {source.url: results[_normalise(source.url)] for source in sources}


def _normalise(url: str) -> str:
    return url.strip().rstrip("/")


def _lookup(
    clients: _Clients, source: ChartSource, opts: LookupOptions, cache_dir: Path | None
) -> ChartIndex | LookupFailure:
    shown = _redact(source.url)
    scheme = urlsplit(source.url).scheme
    auth = (source.auth.username, source.auth.password) if source.auth else None
    try:
        transport = _RetryingTransport(clients.for_bundle(source.ca_bundle), opts)
        if scheme == "oci":
            return fetch_oci_index(
                transport, source.url, insecure=source.insecure, auth=auth, page_size=opts.oci_page_size
            )
        if scheme in ("http", "https"):
            return _fetch_helm_index(transport, source.url, auth, cache_dir)
        raise PermanentRemoteError(f"{shown}: unsupported URL scheme (use https://, http:// or oci://)")
    except RemoteError as exc:
        log.info("lookup failed: %s", exc)
        return LookupFailure(url=source.url, message=str(exc), status=getattr(exc, "status", None))
    except (GitopsError, httpx.HTTPError, OSError) as exc:
        log.info("lookup failed: %s: %s", shown, exc)
        return LookupFailure(url=source.url, message=f"{shown}: {exc}")


def _fetch_helm_index(
    transport: _RetryingTransport, url: str, auth: Credentials | None, cache_dir: Path | None
) -> ChartIndex:
    index_url = f"{_normalise(url)}/index.yaml"
    shown = _redact(index_url)
    validators = _read_validators(cache_dir, index_url) if cache_dir else None
    cached = cached_index(cache_dir, validators.content_sha256, url) if cache_dir and validators else None
    headers = validators.headers() if validators and cached is not None else {}
    response = transport.get(index_url, headers=headers, auth=auth)
    status = response.status_code
    if status == httpx.codes.NOT_MODIFIED and cached is not None:
        log.debug("%s: not modified, parsed index taken from the cache", shown)
        return cached
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        hint = "check the repository credentials" if auth else "the repository needs credentials"
        raise PermanentRemoteError(f"GET {shown}: HTTP {status} ({hint})", status)
    if status == httpx.codes.NOT_FOUND:
        raise PermanentRemoteError(f"GET {shown}: HTTP 404, no index.yaml there (check the repository URL)", status)
    if status != httpx.codes.OK:
        raise PermanentRemoteError(f"GET {shown}: unexpected HTTP {status}", status)
    index, parsed = index_from_bytes(response.content, url, cache_dir)
    log.debug("%s: fetched %d bytes, %s", shown, len(response.content), "parsed" if parsed else "parse cache hit")
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


def _write_validators(cache_dir: Path, index_url: str, response: httpx.Response, content_sha256: str) -> None:
    record = {
        "url": _redact(index_url),
        "sha256": content_sha256,
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
    }
    try:
        write_atomically(_validators_file(cache_dir, index_url), json.dumps(record).encode())
    except OSError as exc:
        # The cache only saves time; a read-only or full disk must not fail the lookup.
        log.warning("could not write the lookup cache in %s: %s", cache_dir, exc)


class _Clients:
    """One pooled HTTP client per CA bundle, shared by all worker threads (httpx clients are thread-safe)."""

    def __init__(self, opts: LookupOptions) -> None:
        self._opts = opts
        self._clients: dict[Path | None, httpx.Client] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> _Clients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for client in self._clients.values():
            client.close()

    def for_bundle(self, ca_bundle: Path | None) -> httpx.Client:
        with self._lock:
            client = self._clients.get(ca_bundle)
            if client is None:
                verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
                client = httpx.Client(
                    timeout=httpx.Timeout(self._opts.timeout),
                    verify=verify,
                    follow_redirects=True,
                    headers={"User-Agent": _USER_AGENT},
                )
                self._clients[ca_bundle] = client
            return client


class _RetryingTransport:
    """GET with bounded retries and exponential backoff on 429, 5xx, timeouts and dropped connections."""

    def __init__(self, client: httpx.Client, opts: LookupOptions) -> None:
        self._client = client
        self._opts = opts

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, auth: Credentials | None = None
    ) -> httpx.Response:
        shown = _redact(url)
        attempts = max(1, self._opts.attempts)
        for attempt in range(1, attempts + 1):
            delay = self._opts.backoff * 2 ** (attempt - 1)
            try:
                response = self._client.get(url, headers=headers, auth=auth)
            except httpx.TimeoutException:
                problem = f"timed out after {self._opts.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({exc or type(exc).__name__})"
                if "CERTIFICATE_VERIFY_FAILED" in problem:
                    # The same certificate comes back on every attempt; say what to configure instead.
                    raise PermanentRemoteError(f"GET {shown}: {problem}; pass the repository's CA bundle") from exc
            else:
                if response.status_code != httpx.codes.TOO_MANY_REQUESTS and response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
                delay = _retry_after(response) or delay
            if attempt < attempts:
                log.info("GET %s: %s; retrying (%d/%d)", shown, problem, attempt, attempts - 1)
                time.sleep(min(delay, self._opts.max_delay))
        raise TransientRemoteError(f"GET {shown}: {problem} (gave up after {attempts} attempts)")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _redact(url: str) -> str:
    """`url` without any user:password part, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
