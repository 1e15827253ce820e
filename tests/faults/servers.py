"""A chart server on 127.0.0.1 that misbehaves on purpose, written on raw sockets so that it can break HTTP itself.

The first path segment names the fault, for Helm repositories (`/<fault>/index.yaml`) and for OCI registries
(`/v2/<fault>/<chart>/tags/list`) alike; `/ok/…` answers properly. Every loop is bounded in count and in time,
and every handler ends when the server stops, so no test can hang on the server side.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import socketserver
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

# how long any handler may live, whatever it does
HANDLER_LIMIT = 60.0
TRICKLE_EVERY = 0.4


def helm_index(charts: dict[str, list[str]]) -> bytes:
    """A Helm repository index with these charts and versions."""
    lines = ["apiVersion: v1", "entries:"]
    for chart, versions in charts.items():
        lines.append(f"  {chart}:")
        for day, version in enumerate(versions, start=1):
            lines += [
                f"  - name: {chart}",
                f"    version: {version}",
                f'    created: "2026-10-{day:02d}T12:00:00Z"',
                f"    urls: [https://charts.example.invalid/{chart}-{version}.tgz]",
            ]
    return ("\n".join(lines) + "\n").encode()


@cache
def gzip_bomb() -> bytes:
    """256 MiB of zeros, gzipped to about a megabyte (the size of the bomb that took the bot down)."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(deflate.compress(block) for _ in range(256)) + deflate.flush()


class FaultServer:
    """Serves `index` (Helm) and `tags` (OCI) under every fault name; counts requests per fault."""

    def __init__(self, index: bytes, tags: list[str]) -> None:
        self.index = index
        self.tags = tags
        self.requests: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._tcp = _Server(("127.0.0.1", 0), _Handler)
        self._tcp.owner = self
        self.port = self._tcp.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._tcp.serve_forever, args=(0.05,), daemon=True)

    def helm(self, fault: str) -> str:
        """The Helm repository URL that answers with `fault`."""
        return f"{self.url}/{fault}"

    def oci(self, fault: str, chart: str = "demo") -> str:
        """The oci:// URL of a repository that answers with `fault` (plain HTTP: Flux's `insecure`)."""
        return f"oci://127.0.0.1:{self.port}/{fault}/{chart}"

    def count(self, fault: str) -> None:
        """Record one request for `fault`."""
        with self._lock:
            self.requests[fault] += 1

    def start(self) -> FaultServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End every handler and close the socket."""
        self.stopping.set()
        self._tcp.shutdown()
        self._tcp.server_close()


@contextmanager
def fault_server(index: bytes, tags: list[str]) -> Iterator[FaultServer]:
    """A started FaultServer, stopped on exit."""
    server = FaultServer(index, tags).start()
    try:
        yield server
    finally:
        server.stop()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultServer


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(5)
        self.started = time.monotonic()
        path = self._read_request_path()
        if path is None:
            return
        parts = path.split("?", 1)[0].strip("/").split("/")
        oci = parts[0] == "v2"
        fault = parts[1] if oci and len(parts) > 1 else parts[0]
        self.owner.count(fault)
        body = json.dumps({"name": "x", "tags": self.owner.tags}).encode() if oci else self.owner.index
        action = _FAULTS.get(fault, _FAULTS["missing"])
        with contextlib.suppress(OSError):  # the client went away, which is what most faults end with
            action(self, path, body)

    @property
    def owner(self) -> FaultServer:
        return self.server.owner

    def alive(self) -> bool:
        """False once the server stops or the handler has run for HANDLER_LIMIT seconds."""
        return not self.owner.stopping.is_set() and time.monotonic() - self.started < HANDLER_LIMIT

    def _read_request_path(self) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            try:
                chunk = self.request.recv(4096)
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode("latin-1").split()
        return line[1] if len(line) >= 2 else None

    def send(self, data: bytes) -> None:
        self.request.sendall(data)

    def head(self, status: str, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def answer(self, status: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send(self.head(status, {"Content-Length": str(len(body)), **(headers or {})}) + body)

    def wait(self, seconds: float) -> None:
        self.owner.stopping.wait(seconds)


Fault = Callable[[_Handler, str, bytes], None]


def _ok(h: _Handler, path: str, body: bytes) -> None:
    h.answer("200 OK", body)


def _missing(h: _Handler, path: str, body: bytes) -> None:
    h.answer("404 Not Found", b"no such fault\n")


def _status_500(h: _Handler, path: str, body: bytes) -> None:
    h.answer("500 Internal Server Error", b"broken\n", {"Retry-After": "0"})


def _hang(h: _Handler, path: str, body: bytes) -> None:
    while h.alive():
        h.wait(0.2)


def _trickle_headers(h: _Handler, path: str, body: bytes) -> None:
    h.send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while h.alive():
        h.send(b"a")
        h.wait(TRICKLE_EVERY)


def _trickle_body(h: _Handler, path: str, body: bytes) -> None:
    h.send(h.head("200 OK", {"Content-Length": str(len(body))}))
    for byte in body:
        if not h.alive():
            return
        h.send(bytes([byte]))
        h.wait(TRICKLE_EVERY)


def _cut_without_length(h: _Handler, path: str, body: bytes) -> None:
    h.send(h.head("200 OK", {}) + body[: len(body) // 2])


def _cut_short_of_length(h: _Handler, path: str, body: bytes) -> None:
    h.send(h.head("200 OK", {"Content-Length": str(len(body))}) + body[: len(body) // 2])


def _cut_chunked(h: _Handler, path: str, body: bytes) -> None:
    half = body[: len(body) // 2]
    h.send(h.head("200 OK", {"Transfer-Encoding": "chunked"}) + b"%x\r\n%s\r\n" % (len(half), half))


def _cut_gzip(h: _Handler, path: str, body: bytes) -> None:
    packed = gzip.compress(body)
    h.answer("200 OK", packed[: len(packed) // 2], {"Content-Encoding": "gzip"})


def _malformed_status(h: _Handler, path: str, body: bytes) -> None:
    h.send(b"HTTP/1.1 2OO OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def _too_many_headers(h: _Handler, path: str, body: bytes) -> None:
    h.answer("200 OK", body, {f"X-Filler-{n}": "x" for n in range(200)})


def _garbage(h: _Handler, path: str, body: bytes) -> None:
    h.answer("200 OK", b"\x00\xff\xfe{{{ not: [an index\n" * 100)


def _endless(h: _Handler, path: str, body: bytes) -> None:
    h.send(h.head("200 OK", {"Transfer-Encoding": "chunked"}))
    block = b"# padding\n" * 6553
    chunk = b"%x\r\n%s\r\n" % (len(block), block)
    for _ in range(20_000):  # about 1.3 GB at most
        if not h.alive():
            return
        h.send(chunk)


def _huge_announced(h: _Handler, path: str, body: bytes) -> None:
    size = 200 << 20
    h.send(h.head("200 OK", {"Content-Length": str(size)}))
    block = bytes(1 << 20)
    for _ in range(200):
        if not h.alive():
            return
        h.send(block)


def _huge_chunked(h: _Handler, path: str, body: bytes) -> None:
    h.send(h.head("200 OK", {"Transfer-Encoding": "chunked"}))
    block = b"# " + b"x" * ((1 << 20) - 3) + b"\n"
    for _ in range(200):
        if not h.alive():
            return
        h.send(b"%x\r\n%s\r\n" % (len(block), block))
    h.send(b"0\r\n\r\n")


def _gzip_bomb(h: _Handler, path: str, body: bytes) -> None:
    h.answer("200 OK", gzip_bomb(), {"Content-Encoding": "gzip"})


def _redirect_loop(h: _Handler, path: str, body: bytes) -> None:
    h.answer("302 Found", b"", {"Location": path})


def _redirect_ping_pong(h: _Handler, path: str, body: bytes) -> None:
    other = path.replace("/redirect-ping-pong/", "/redirect-pong-ping/", 1)
    h.answer("302 Found", b"", {"Location": other})


def _redirect_pong_ping(h: _Handler, path: str, body: bytes) -> None:
    other = path.replace("/redirect-pong-ping/", "/redirect-ping-pong/", 1)
    h.answer("302 Found", b"", {"Location": other})


def _redirect_to_file(h: _Handler, path: str, body: bytes) -> None:
    h.answer("302 Found", b"", {"Location": "file:///etc/passwd"})


def _redirect_with_escapes(h: _Handler, path: str, body: bytes) -> None:
    h.answer("302 Found", b"", {"Location": "/\x1b[2J\x1b]0;owned\x07/index.yaml"})


def _challenge_with_escapes(h: _Handler, path: str, body: bytes) -> None:
    h.answer("401 Unauthorized", b"", {"WWW-Authenticate": "Negotiate \x1b[31mred\x1b[0m\x00tail"})


def _endless_pages(h: _Handler, path: str, body: bytes) -> None:
    page = int(path.rsplit("page=", 1)[1]) if "page=" in path else 0
    fault_path = path.split("?", 1)[0]
    h.answer("200 OK", body, {"Link": f'<{fault_path}?n=1000&page={page + 1}>; rel="next"'})


_FAULTS: dict[str, Fault] = {
    "ok": _ok,
    "missing": _missing,
    "status-500": _status_500,
    "hang": _hang,
    "trickle-headers": _trickle_headers,
    "trickle-body": _trickle_body,
    "cut-without-length": _cut_without_length,
    "cut-short-of-length": _cut_short_of_length,
    "cut-chunked": _cut_chunked,
    "cut-gzip": _cut_gzip,
    "malformed-status": _malformed_status,
    "too-many-headers": _too_many_headers,
    "garbage": _garbage,
    "endless": _endless,
    "huge-announced": _huge_announced,
    "huge-chunked": _huge_chunked,
    "gzip-bomb": _gzip_bomb,
    "redirect-loop": _redirect_loop,
    "redirect-ping-pong": _redirect_ping_pong,
    "redirect-pong-ping": _redirect_pong_ping,
    "redirect-to-file": _redirect_to_file,
    "redirect-with-escapes": _redirect_with_escapes,
    "challenge-with-escapes": _challenge_with_escapes,
    "endless-pages": _endless_pages,
}
