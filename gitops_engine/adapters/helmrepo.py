"""Chart lookups: what each Helm repository (HTTP index.yaml) or OCI repository offers, fetched once per run.

`fetch_indexes` is the entry point. It fetches every distinct source URL once, in parallel across sources,
and never raises for a single bad repository: each failure comes back as a LookupFailure for the caller to
report against the items that use it. Helm indexes are revalidated against an on-disk cache (ETag /
Last-Modified) and parsed at most once per distinct content (see chartindex).

HTTP goes through the standard library (urllib: proxies from the environment, TLS against the system store or a
repository's CA bundle) rather than httpx: a scheduled rerun is mostly twenty conditional GETs, and loading
httpx (which loads rich for its command line) cost more CPU than the rest of such a run's lookups.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import http.client
import json
import logging
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from gitops_engine.adapters.chartindex import cached_index, index_from_bytes
from gitops_engine.adapters.fs import write_atomic
from gitops_engine.adapters.oci import BasicPair, Response, fetch_oci_index
from gitops_engine.core.errors import GitopsError, PermanentRemoteError, RemoteError, TransientRemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.model.charts import ChartIndex
from gitops_engine.model.credentials import Credentials

log = logging.getLogger(__name__)

_USER_AGENT = "gitops-engine (chart lookups)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10


@dataclass(frozen=True)
class ChartSource:
    """One place charts come from: `https://…` (Helm index) or `oci://registry/path/chart` (one OCI repository)."""

    url: str
    auth: Credentials | None = None
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
    cache_dir = _cache_root(opts)
    distinct: dict[str, ChartSource] = {}
    for source in sources:
        distinct.setdefault(_normalise(source.url), source)
    results: dict[str, ChartIndex | LookupFailure] = {}
    if distinct:
        clients = _Clients()
        with ThreadPoolExecutor(max_workers=max(1, min(opts.workers, len(distinct)))) as pool:
            futures = {key: pool.submit(_lookup, clients, source, opts, cache_dir) for key, source in distinct.items()}
            results = {key: future.result() for key, future in futures.items()}
    return {source.url: results[_normalise(source.url)] for source in sources}


def _normalise(url: str) -> str:
    return url.strip().rstrip("/")


def _index_url(url: str) -> str:
    return f"{_normalise(url)}/index.yaml"


def _cache_root(opts: LookupOptions) -> Path | None:
    return (opts.cache_dir or default_cache_dir()) if opts.use_cache else None


def _transport(
    clients: _Clients, source: ChartSource, opts: LookupOptions
) -> tuple[_RetryingTransport, BasicPair | None]:
    """The retrying GET for `source`, and the credentials it was given."""
    auth = (source.auth.username, source.auth.password) if source.auth else None
    return _RetryingTransport(clients, source.ca_bundle, opts), auth


def _list_oci(
    transport: _RetryingTransport, source: ChartSource, auth: BasicPair | None, opts: LookupOptions
) -> ChartIndex:
    return fetch_oci_index(transport, source.url, insecure=source.insecure, auth=auth, page_size=opts.oci_page_size)


def _lookup(
    clients: _Clients, source: ChartSource, opts: LookupOptions, cache_dir: Path | None
) -> ChartIndex | LookupFailure:
    shown = _redact(source.url)
    scheme = urlsplit(source.url).scheme
    try:
        transport, auth = _transport(clients, source, opts)
        if scheme == "oci":
            return _list_oci(transport, source, auth, opts)
        if scheme in ("http", "https"):
            return _fetch_helm_index(transport, source.url, auth, cache_dir)
        raise PermanentRemoteError(f"{shown}: unsupported URL scheme (use https://, http:// or oci://)")
    except RemoteError as exc:
        log.info("lookup failed: %s", exc)
        return LookupFailure(url=source.url, message=str(exc), status=getattr(exc, "status", None))
    except (GitopsError, OSError, http.client.HTTPException) as exc:
        log.info("lookup failed: %s: %s", shown, exc)
        return LookupFailure(url=source.url, message=f"{shown}: {exc}")


def _fetch_helm_index(
    transport: _RetryingTransport, url: str, auth: BasicPair | None, cache_dir: Path | None
) -> ChartIndex:
    index_url = _index_url(url)
    shown = _redact(index_url)
    validators = _read_validators(cache_dir, index_url) if cache_dir else None
    cached = cached_index(cache_dir, validators.content_sha256, url) if cache_dir and validators else None
    headers = validators.headers() if validators and cached is not None else {}
    response = transport.get(index_url, headers=headers, auth=auth)
    status = response.status_code
    if status == HTTPStatus.NOT_MODIFIED and cached is not None:
        log.debug("%s: not modified, parsed index taken from the cache", shown)
        return cached
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        hint = "check the repository credentials" if auth else "the repository needs credentials"
        raise PermanentRemoteError(f"GET {shown}: HTTP {status} ({hint})", status)
    if status == HTTPStatus.NOT_FOUND:
        raise PermanentRemoteError(f"GET {shown}: HTTP 404, no index.yaml there (check the repository URL)", status)
    if status != HTTPStatus.OK:
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


def _write_validators(cache_dir: Path, index_url: str, response: Response, content_sha256: str) -> None:
    record = {
        "url": _redact(index_url),
        "sha256": content_sha256,
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
    }
    try:
        write_atomic(_validators_file(cache_dir, index_url), json.dumps(record).encode(), mode=0o600)
    except OSError as exc:
        # The cache only saves time; a read-only or full disk must not fail the lookup.
        log.warning("could not write the lookup cache in %s: %s", cache_dir, exc)


class _Clients:
    """One urllib opener per (TLS, CA bundle), shared by the worker threads; TLS is set up only when a URL needs it.

    The openers have no redirect or error handlers: every status comes back as a response, and redirects are
    followed by the transport so that credentials go to the origin they were given for only.
    """

    def __init__(self) -> None:
        self._openers: dict[tuple[bool, Path | None], urllib.request.OpenerDirector] = {}
        self._lock = threading.Lock()

    def opener(self, scheme: str, ca_bundle: Path | None) -> urllib.request.OpenerDirector:
        tls = scheme == "https"
        key = (tls, ca_bundle if tls else None)
        with self._lock:
            opener = self._openers.get(key)
            if opener is None:
                opener = urllib.request.OpenerDirector()
                opener.add_handler(urllib.request.ProxyHandler())
                opener.add_handler(urllib.request.HTTPHandler())
                if tls:
                    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
                    opener.add_handler(urllib.request.HTTPSHandler(context=context))
                self._openers[key] = opener
            return opener


class _RetryingTransport:
    """GET with bounded retries and exponential backoff on 429, 5xx, timeouts and dropped connections."""

    def __init__(self, clients: _Clients, ca_bundle: Path | None, opts: LookupOptions) -> None:
        self._clients = clients
        self._ca_bundle = ca_bundle
        self._opts = opts

    def get(self, url: str, *, headers: Mapping[str, str] | None = None, auth: BasicPair | None = None) -> Response:
        shown = _redact(url)
        attempts = max(1, self._opts.attempts)
        for attempt in range(1, attempts + 1):
            delay = self._opts.backoff * 2 ** (attempt - 1)
            try:
                response = self._send(url, headers or {}, auth)
            except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
                problem = _problem(exc, self._opts.timeout)
                if "CERTIFICATE_VERIFY_FAILED" in problem:
                    # The same certificate comes back on every attempt; say what to configure instead.
                    raise PermanentRemoteError(f"GET {shown}: {problem}; pass the repository's CA bundle") from exc
            else:
                if response.status_code != HTTPStatus.TOO_MANY_REQUESTS and response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
                delay = _retry_after(response) or delay
            if attempt < attempts:
                log.info("GET %s: %s; retrying (%d/%d)", shown, problem, attempt, attempts - 1)
                time.sleep(min(delay, self._opts.max_delay))
        raise TransientRemoteError(f"GET {shown}: {problem} (gave up after {attempts} attempts)")

    def _send(self, url: str, headers: Mapping[str, str], auth: BasicPair | None) -> Response:
        """One GET, following redirects; credentials (given or in the URL) go to the first origin only."""
        parts = urlsplit(url)
        if auth is None and parts.username is not None:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        origin = (parts.scheme, parts.hostname, parts.port)
        for _ in range(_MAX_REDIRECTS + 1):
            target = urlsplit(url)
            request = urllib.request.Request(
                _redact(url), headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "gzip"}
            )
            same_origin = (target.scheme, target.hostname, target.port) == origin
            for name, value in headers.items():
                if same_origin or name.lower() != "authorization":
                    request.add_header(name, value)
            if auth is not None and same_origin:
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            answer = self._clients.opener(target.scheme, self._ca_bundle).open(request, timeout=self._opts.timeout)
            if answer is None:
                raise urllib.error.URLError(f"no handler for {target.scheme}:// (check the proxy settings)")
            with answer:
                status = answer.status
                received = {name.lower(): value for name, value in answer.headers.items()}
                body = answer.read()
            if status in _REDIRECTS and "location" in received:
                url = urljoin(url, received["location"])
                continue
            return Response(status, received, _decoded(body, received, _redact(url)))
        raise PermanentRemoteError(f"GET {_redact(url)}: more than {_MAX_REDIRECTS} redirects")


def _problem(exc: BaseException, timeout: float) -> str:
    """What went wrong with a connection, in words; urllib wraps errors met while connecting in URLError."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"connection failed ({reason or type(reason).__name__})"


def _decoded(body: bytes, headers: Mapping[str, str], shown: str) -> bytes:
    if headers.get("content-encoding", "").strip().lower() != "gzip":
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise PermanentRemoteError(f"GET {shown}: the gzip-encoded body does not decompress ({exc})") from exc


def _retry_after(response: Response) -> float | None:
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
