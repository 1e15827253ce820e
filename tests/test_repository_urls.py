"""`--repo https://…` reaches the commands as written: report, bump, propagate and validate read a repository
served by the real `git http-backend` over TLS on 127.0.0.1, and a URL that leads nowhere is named unchanged."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from tests.lookups.servers import Route, self_signed, serving
from tests.seed.helpers import run_cli
from tests.validate.fixtures import BASE, REPOSITORY

INDEX = b"""apiVersion: v1
entries:
  podinfo:
  - {name: podinfo, version: 6.5.5, created: "2026-10-02T12:00:00Z", urls: [podinfo-6.5.5.tgz]}
  - {name: podinfo, version: 6.5.4, created: "2026-09-02T12:00:00Z", urls: [podinfo-6.5.4.tgz]}
"""


class _GitHandler(BaseHTTPRequestHandler):
    """git smart-HTTP: every request goes to `git http-backend` (CGI) over the repositories below `root`."""

    root: Path

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._backend(b"")

    def do_POST(self) -> None:
        self._backend(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _backend(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
            "PATH_INFO": path,
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "operator",  # http-backend accepts pushes from an authenticated user only
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value.strip()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def https_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """https://127.0.0.1:PORT/fleet.git holding the small Flux repository, its charts on a loopback Helm repo."""
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(cert))
    with serving() as charts:
        charts.routes["/podinfo/index.yaml"] = Route(body=INDEX)
        files = {**BASE, "apps/repository.yaml": REPOSITORY.replace(
            "https://stefanprodan.github.io/podinfo", f"{charts.url}/podinfo"
        )}  # fmt: skip
        repo = git.open_repository(tmp_path / "served" / "fleet.git")
        tree = git.write_tree(repo, {p: t.encode() for p, t in files.items()}, guard=None)
        commit = git.create_commit(repo, tree, [], "fleet", git.Signature("t", "t@example.invalid", 1_700_000_000))
        git.move_branch(repo, "main", commit, None, "test")
        handler = type("Handler", (_GitHandler,), {"root": tmp_path / "served"})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{httpd.server_address[1]}/fleet.git"
        finally:
            httpd.shutdown()
            httpd.server_close()


def test_report_bump_propagate_and_validate_read_an_https_repository(https_repository: str) -> None:
    report = run_cli("report", "--repo", https_repository)
    bump = run_cli("bump", "--repo", https_repository, "--dry-run")
    propagate = run_cli("propagate", "--repo", https_repository, "--dry-run")
    validate = run_cli("validate", "--repo", https_repository, "--ref", "main")

    assert report.code == 0, report.err
    assert "podinfo" in report.out and "6.5.4" in report.out and "6.5.5" in report.out
    assert bump.code == 0, bump.err
    assert "apps/release.yaml:" in bump.out and "podinfo 6.5.4 -> 6.5.5 (patch)" in bump.out
    assert propagate.code == 0, propagate.err
    assert validate.code == 0, validate.out + validate.err
    assert "0 error(s)" in validate.out


@pytest.mark.parametrize("command", [("report",), ("bump", "--dry-run"), ("propagate", "--dry-run"), ("validate",)])
def test_an_https_repository_that_is_not_there_is_named_as_written(
    command: tuple[str, ...], https_repository: str
) -> None:
    missing = https_repository.replace("/fleet.git", "/team/missing.git")

    result = run_cli(*command, "--repo", missing)

    assert result.code in (1, 2)
    assert missing in result.err
    assert "https:/127" not in result.err.replace(missing, "")
