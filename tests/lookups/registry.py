"""A real OCI registry (Debian's docker-registry, i.e. distribution) on 127.0.0.1, a token issuer, an htpasswd file
for basic auth (Debian's htpasswd, apache2-utils), chart pushes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.lookups.servers import self_signed

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SERVICE, ISSUER = "loopback-registry", "loopback-token-issuer"


def registry_binary() -> str:
    """Path of the distribution registry binary; fails the test (never skips) when it is missing."""
    found = shutil.which("docker-registry") or shutil.which("registry")
    if found is None and os.access("/usr/bin/docker-registry", os.X_OK):
        found = "/usr/bin/docker-registry"
    if found is None:
        pytest.fail(
            "the OCI lookup tests need Debian's docker-registry (distribution): apt-get install -y docker-registry "
            "(bash scripts/test installs it)"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class TokenIssuer:
    """Signs registry tokens with a self-signed key the registry trusts; records every token request."""

    url: str
    requests: list[dict[str, list[str]]]
    cert_path: Path
    key: rsa.RSAPrivateKey
    cert_der: bytes

    def token(self, scopes: list[str]) -> str:
        """A JWT granting every action in `scopes` (`repository:<name>:<actions>`), as distribution expects."""
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": "",
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextmanager
def token_issuer(directory: Path) -> Iterator[TokenIssuer]:
    """A loopback token endpoint (GET /token?service=…&scope=…) answering `{"token": …}`, anonymously."""
    cert_path, key_path = self_signed(directory, "token-issuer")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert_der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    requests: list[dict[str, list[str]]] = []
    holder: list[TokenIssuer] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

        def do_GET(self) -> None:
            """Issue a token for the requested scopes."""
            query = parse_qs(urlsplit(self.path).query)
            requests.append(query)
            body = json.dumps({"token": holder[0].token(query.get("scope", []))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(TokenIssuer(f"http://127.0.0.1:{httpd.server_address[1]}/token", requests, cert_path, key, cert_der))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def htpasswd_file(directory: Path, username: str, password: str) -> Path:
    """An htpasswd file with one bcrypt entry (the only kind distribution accepts), written by Debian's htpasswd;
    the password goes in on stdin, not on the command line. Fails the test (never skips) without htpasswd."""
    binary = shutil.which("htpasswd")
    if binary is None:
        pytest.fail("the basic-auth registry tests need htpasswd: apt-get install apache2-utils (scripts/test does)")
    path = directory / "htpasswd"
    command = [binary, "-i", "-B", "-c", str(path), username]
    subprocess.run(command, input=password.encode(), check=True, capture_output=True)
    return path


@contextmanager
def registry(directory: Path, issuer: TokenIssuer | None = None, htpasswd: Path | None = None) -> Iterator[str]:
    """Run docker-registry on 127.0.0.1 with storage in `directory`; yields its base URL (http://host:port).

    With `issuer` it accepts only that issuer's bearer tokens; with `htpasswd` only HTTP basic auth of its users.
    """
    binary = registry_binary()
    port = free_port()
    auth = ""
    if issuer is not None:
        auth = (
            "auth:\n  token:\n"
            f"    realm: {issuer.url}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {issuer.cert_path}\n"
        )
    elif htpasswd is not None:
        auth = f"auth:\n  htpasswd:\n    realm: loopback-registry\n    path: {htpasswd}\n"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n" + auth
    )
    log_path = directory / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"docker-registry did not answer on {base} within 15 s:\n{log_path.read_text()}")


def push_chart(
    base: str, name: str, version: str, token: str | None = None, basic: tuple[str, str] | None = None
) -> str:
    """Push a minimal Helm chart as an OCI artifact (config + chart layer + manifest); returns the manifest digest.

    `token` is sent as a bearer token, `basic` as HTTP basic credentials."""
    chart = name.rsplit("/", 1)[-1]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    config = json.dumps({"apiVersion": "v2", "name": chart, "version": version}).encode()
    layer = _chart_archive(chart, version)
    with httpx.Client(base_url=base, headers=headers, timeout=10, auth=basic) as client:
        descriptors = [
            _upload(client, name, blob, media) for blob, media in ((config, HELM_CONFIG), (layer, HELM_CHART))
        ]
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0], "layers": descriptors[1:]}
        ).encode()
        tag = version.replace("+", "_")
        answer = client.put(f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
        assert answer.status_code == 201, answer.text
        return answer.headers["Docker-Content-Digest"]


def _upload(client: httpx.Client, name: str, blob: bytes, media_type: str) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(started.headers["Location"])
    finished = client.put(
        location.copy_merge_params({"digest": digest}),
        content=blob,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status_code == 201, finished.text
    return {"mediaType": media_type, "digest": digest, "size": len(blob)}


def _chart_archive(chart: str, version: str) -> bytes:
    chart_yaml = f"apiVersion: v2\nname: {chart}\nversion: {version}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{chart}/Chart.yaml")
        info.size = len(chart_yaml)
        info.mtime = 0
        archive.addfile(info, io.BytesIO(chart_yaml))
    return buffer.getvalue()
