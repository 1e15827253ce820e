"""The one HTTP GET chart lookups use, with limits on what a server can make a run do.

Every answer is bounded: `timeout` for the connection and for each wait on the next bytes, `max_bytes` for the
body as sent and as un-gzipped (a gzip bomb stops there), `max_redirects`, and a `Deadline` per source. At its
deadline a source's open connection is shut down, so a server that trickles a byte every few seconds, in the
headers or in the body, cannot hold a run past it. A body must be complete to be used: its announced length is
checked, a chunked or gzip body must reach its end, and a body that only ends when the connection closes is
refused, as nobody can tell it from one cut short.

Failures are told apart the way retrying needs: 429, 5xx, timeouts and dropped connections are retried with
exponential backoff inside the deadline; a malformed answer, a redirect to anything but http(s), a body over the
limit and an expired deadline are not. Server text in messages goes through `shown`.

HTTP goes through the standard library (urllib: proxies from the environment, TLS against the system store or a
repository's CA bundle) rather than httpx: a scheduled rerun is mostly twenty conditional GETs, and loading
httpx (which loads rich for its command line) cost more CPU than the rest of such a run's lookups.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import http.client
import logging
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from gitops_engine.adapters.oci import BasicPair, Response
from gitops_engine.core.errors import PermanentRemoteError, TransientRemoteError
from gitops_engine.core.shown import shown

log = logging.getLogger(__name__)

_HEADERS = {"User-Agent": "gitops-engine (chart lookups)", "Accept-Encoding": "gzip"}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchLimits:
    """What one GET may cost: seconds per connection or wait for bytes, body size, redirects, retries."""

    timeout: float = 20.0
    max_bytes: int = 64 << 20
    max_redirects: int = 5
    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 10.0


class Deadline:
    """The moment a source's network time ends; used as a context manager around the source's requests.

    Connections opened inside the block (in this thread) are shut down when the deadline passes, which ends any
    read that is waiting on them.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, seconds)
        self._end = time.monotonic() + self.seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._expired = False
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self._expired or self.remaining() == 0.0

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._timer.cancel()
        _current.deadline = None
        with self._lock:
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once when it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _cut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to end
        sock.shutdown(socket.SHUT_RDWR)


class _Current(threading.local):
    deadline: Deadline | None = None


_current = _Current()


def _watch_new(sock: socket.socket | None) -> None:
    deadline = _current.deadline
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _WatchedHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_new(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_new(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTP, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTPS, req, context=self._tls)


class Clients:
    """One urllib opener per (TLS, CA bundle), shared by the worker threads; TLS is set up only when a URL needs it.

    The openers have no redirect or error handlers: every status comes back as a response, and redirects are
    followed by the transport so that credentials go to the origin they were given for only.
    """

    def __init__(self) -> None:
        self._openers: dict[tuple[bool, Path | None], urllib.request.OpenerDirector] = {}
        self._lock = threading.Lock()

    def opener(self, scheme: str, ca_bundle: Path | None) -> urllib.request.OpenerDirector:
        """The opener for `scheme` (`https` with `ca_bundle`, or the system store when None)."""
        tls = scheme == "https"
        key = (tls, ca_bundle if tls else None)
        with self._lock:
            opener = self._openers.get(key)
            if opener is None:
                opener = urllib.request.OpenerDirector()
                opener.add_handler(urllib.request.ProxyHandler())
                opener.add_handler(_HTTPHandler())
                if tls:
                    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
                    opener.add_handler(_HTTPSHandler(context))
                self._openers[key] = opener
            return opener


class RetryingTransport:
    """GET with bounded retries and exponential backoff on 429, 5xx, timeouts and dropped connections."""

    def __init__(self, clients: Clients, ca_bundle: Path | None, limits: FetchLimits, deadline: Deadline) -> None:
        self._clients = clients
        self._ca_bundle = ca_bundle
        self._limits = limits
        self._deadline = deadline

    def get(self, url: str, *, headers: Mapping[str, str] | None = None, auth: BasicPair | None = None) -> Response:
        """The final response to a GET of `url` (redirects followed); RemoteError when it cannot be had."""
        shown_url = redact(url)
        attempts = max(1, self._limits.attempts)
        problem = ""
        for attempt in range(1, attempts + 1):
            delay = self._limits.backoff * 2 ** (attempt - 1)
            try:
                response = self._send(url, headers or {}, auth)
            except (_PermanentError, OSError, http.client.HTTPException, _IncompleteError) as exc:
                if self._deadline.expired:
                    break  # whatever broke, the deadline's shutdown of the connection did it
                problem, permanent = self._problem(exc)
                if permanent:
                    raise PermanentRemoteError(f"GET {shown_url}: {problem}") from None
            else:
                if response.status_code != HTTPStatus.TOO_MANY_REQUESTS and response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
                delay = _retry_after(response) or delay
            if self._deadline.expired:
                break
            if attempt < attempts:
                log.info("GET %s: %s; retrying (%d/%d)", shown_url, problem, attempt, attempts - 1)
                time.sleep(min(delay, self._limits.max_delay, self._deadline.remaining()))
        if self._deadline.expired:
            earlier = f"; before: {problem}" if problem else ""
            allowed = f"the time allowed ({self._deadline.seconds:.0f} s)"
            raise TransientRemoteError(f"GET {shown_url}: no complete answer within {allowed}{earlier}")
        raise TransientRemoteError(f"GET {shown_url}: {problem} (gave up after {attempts} attempts)")

    def _problem(self, exc: BaseException) -> tuple[str, bool]:
        """What went wrong, in words, and whether it is permanent (a bad TLS certificate, a malformed answer)."""
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, _PermanentError):
            return str(reason), True
        if isinstance(reason, ssl.SSLCertVerificationError):
            # the same certificate comes back on every attempt; say what to configure instead
            return f"{_describe(reason)}; pass the repository's CA bundle", True
        if isinstance(reason, _IncompleteError | http.client.IncompleteRead):
            return f"incomplete body ({_describe(reason)})", False
        if isinstance(reason, http.client.HTTPException) and not isinstance(reason, http.client.RemoteDisconnected):
            return f"malformed HTTP answer ({_describe(reason)})", True
        if isinstance(reason, TimeoutError):
            return f"timed out after {self._limits.timeout:g} s", False
        return f"connection failed ({_describe(reason)})", False

    def _send(self, url: str, headers: Mapping[str, str], auth: BasicPair | None) -> Response:
        """One GET, following redirects; credentials (given or in the URL) go to the first origin only."""
        parts = urlsplit(url)
        if auth is None and parts.username is not None:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        origin = (parts.scheme, parts.hostname, parts.port)
        for _ in range(self._limits.max_redirects + 1):
            target = urlsplit(url)
            if target.scheme not in ("http", "https"):
                raise _PermanentError(f"{shown(redact(url))} is not http(s); redirects are followed to http(s) only")
            request = urllib.request.Request(redact(url), headers=_HEADERS)
            same_origin = (target.scheme, target.hostname, target.port) == origin
            for name, value in headers.items():
                if same_origin or name.lower() != "authorization":
                    request.add_header(name, value)
            if auth is not None and same_origin:
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            timeout = min(self._limits.timeout, self._deadline.remaining())
            if timeout <= 0:
                raise TimeoutError("the deadline passed")
            with self._clients.opener(target.scheme, self._ca_bundle).open(request, timeout=timeout) as answer:
                status = answer.status
                received = {name.lower(): value for name, value in answer.headers.items()}
                if status in _REDIRECTS and "location" in received:
                    url = urljoin(url, received["location"])
                    continue
                body = _read_body(answer, received, self._limits.max_bytes) if status == HTTPStatus.OK else b""
            return Response(status, received, body)
        raise _PermanentError(f"more than {self._limits.max_redirects} redirects (last to {shown(redact(url))})")


class _PermanentError(Exception):
    """A fault no retry can mend; its text is safe to show."""


class _IncompleteError(Exception):
    """The body ended before it was complete."""


def _describe(exc: BaseException | str) -> str:
    return shown(str(exc) or type(exc).__name__, 120)


def _read_body(answer: http.client.HTTPResponse, headers: Mapping[str, str], limit: int) -> bytes:
    """The whole body, un-gzipped, or an error when it is over `limit` or cannot be shown to be complete."""
    length = headers.get("content-length", "").strip()
    declared = int(length) if length.isdigit() and len(length) < 20 else None
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    gzipped = headers.get("content-encoding", "").strip().lower() == "gzip"
    if declared is not None and declared > limit:
        raise _PermanentError(f"the body announces {declared} bytes, more than the limit of {limit}")
    if declared is None and not chunked and not gzipped:
        raise _PermanentError(
            "the body has no Content-Length and is not chunked, so a cut-short body cannot be told from a whole one"
        )
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzipped else None
    body = bytearray()
    received = 0
    while chunk := answer.read1(_CHUNK):
        received += len(chunk)
        if inflate is not None:
            try:
                chunk = inflate.decompress(chunk, limit + 1 - len(body))
            except zlib.error as exc:
                raise _PermanentError(f"the gzip-encoded body does not decompress ({exc})") from None
            if inflate.unconsumed_tail:
                chunk += b"\0"  # more output is waiting than the limit leaves room for
        body += chunk
        if received > limit or len(body) > limit:
            raise _PermanentError(f"the body is larger than the limit of {limit} bytes{' un-gzipped' * gzipped}")
    if declared is not None and received < declared:
        raise _IncompleteError(f"{received} of {declared} bytes")
    if inflate is not None and not inflate.eof:
        raise _IncompleteError("the gzip stream stops before its end")
    return bytes(body)


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


def redact(url: str) -> str:
    """`url` without any user:password part, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
