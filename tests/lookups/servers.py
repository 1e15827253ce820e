"""Loopback servers for lookup tests: a Helm repository with scripted faults, and self-signed TLS material."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass
class Route:
    """One served file with its validators; `faults` are consumed one per request before it is served."""

    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    faults: list[str] = field(default_factory=list)
    authorization: str | None = None  # the `Authorization` header required, answered 401 + `challenge` otherwise
    challenge: str = 'Basic realm="charts"'
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None  # answer 302 to this URL (before any auth check), as a moved repository does


@dataclass(frozen=True)
class Seen:
    """A request the server received and how it answered."""

    path: str
    headers: dict[str, str]
    status: int
    gzipped: bool


class RepoServer:
    """A threaded HTTP server on 127.0.0.1 serving `routes` and recording every request.

    Faults: "500" and "429" answer that status, "drop" closes the connection without a response, "hang" keeps
    the request open until the server stops (the client times out). `barrier`, when set, makes every request
    wait until that many requests are in flight at once, which only parallel clients can achieve.
    """

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.barrier: threading.Barrier | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"repo": self}))
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> RepoServer:
        """Begin serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests and shut the server down."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests_for(self, path: str) -> list[Seen]:
        """Requests received for `path`, in order."""
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def record(self, seen: Seen) -> None:
        """Remember one answered request."""
        with self._lock:
            self.seen.append(seen)

    def next_fault(self, route: Route) -> str | None:
        """Take the next scripted fault of `route`, if any."""
        with self._lock:
            return route.faults.pop(0) if route.faults else None

    def wait_until_stopped(self, seconds: float) -> None:
        """Block a handler (a hanging request) until the server stops or `seconds` pass."""
        self._stop.wait(seconds)


@contextmanager
def serving(tls: tuple[Path, Path] | None = None) -> Iterator[RepoServer]:
    """A started RepoServer, stopped on exit."""
    server = RepoServer(tls).start()
    try:
        yield server
    finally:
        server.stop()


class _Handler(BaseHTTPRequestHandler):
    """Answers for one RepoServer (bound by subclassing with `repo` set)."""

    repo: RepoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Serve a route, honouring faults, auth, validators and gzip."""
        # A route keyed with its query string (a later page) wins over the bare path.
        path = self.path if self.path in self.repo.routes else self.path.split("?", 1)[0]
        headers = {key.lower(): value for key, value in self.headers.items()}
        route = self.repo.routes.get(path)
        if self.repo.barrier is not None:
            try:
                self.repo.barrier.wait()
            except threading.BrokenBarrierError:
                self._answer(path, headers, 500, b"barrier broken: requests were not concurrent")
                return
        if route is None:
            self._answer(path, headers, 404, b"not found")
            return
        if self._fault(path, headers, self.repo.next_fault(route)):
            return
        if route.redirect is not None:
            self._answer(path, headers, 302, b"", {"Location": route.redirect})
            return
        if route.authorization is not None and headers.get("authorization") != route.authorization:
            self._answer(path, headers, 401, b"auth", {"WWW-Authenticate": route.challenge})
            return
        if _not_modified(route, headers):
            self._answer(path, headers, 304, b"", _validators(route))
            return
        self._answer(path, headers, 200, route.body, _validators(route))

    def _fault(self, path: str, headers: dict[str, str], fault: str | None) -> bool:
        if fault in ("drop", "hang"):
            self.repo.record(Seen(path, headers, 0, False))
            if fault == "hang":
                self.repo.wait_until_stopped(30)
            # Ending the exchange without a status line is what a dropped connection looks like to the client.
            self.close_connection = True
            return True
        if fault in ("500", "429"):
            self._answer(path, headers, int(fault), b"try again", {"Retry-After": "0"})
            return True
        return False

    def _answer(
        self, path: str, headers: dict[str, str], status: int, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        gzipped = status == 200 and "gzip" in headers.get("accept-encoding", "")
        payload = gzip.compress(body) if gzipped else body
        # recorded before answering: the client may check what the server saw as soon as it has the reply
        self.repo.record(Seen(path, headers, status, gzipped))
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        if status != 304:
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if status != 304:
            self.wfile.write(payload)


def _validators(route: Route) -> dict[str, str]:
    headers = dict(route.headers)
    if route.etag:
        headers["ETag"] = route.etag
    if route.last_modified:
        headers["Last-Modified"] = route.last_modified
    return headers


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    if "if-none-match" in headers:
        return route.etag is not None and headers["if-none-match"] == route.etag
    return route.last_modified is not None and headers.get("if-modified-since") == route.last_modified


def self_signed(directory: Path, name: str = "loopback") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files (cert, key) in `directory`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path
