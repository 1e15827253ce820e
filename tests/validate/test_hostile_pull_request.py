"""A pull request written to steal from the machine that checks it: validate and diff read only its tree.

Each hostile kustomization names something outside the repository (files by `../`, absolute paths, the
process environment, a planted key, a symlink, a remote address served on loopback). Every one must be a
finding; none of the targets' content may reach the output or the build cache, and the server must hear
nothing.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from gitops_engine.cli.main import main
from tests.validate.fixtures import GOTK_SYNC

PLANTED_KEY = "AGE-SECRET-KEY-1PLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTEDQQQ"
PLANTED_ENV = "planted-environment-value-4711"


def _app_ks(name: str) -> str:
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/{name}
  prune: true
  targetNamespace: default
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


def _generator(*files: str) -> str:
    listed = "".join(f"      - {f}\n" for f in files)
    return f"configMapGenerator:\n  - name: loot\n    files:\n{listed}"


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def hostile(tmp_path: Path, server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A working repository whose branch `pr` adds the hostile kustomizations on top of a clean `main`."""
    url, requests = server
    monkeypatch.setenv("PLANTED_TOKEN", PLANTED_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outside = tmp_path / "outside"
    outside.mkdir()
    key = outside / "operator.agekey"
    key.write_text(PLANTED_KEY + "\n")
    work = tmp_path / "work"
    (work / "clusters/dev/flux-system").mkdir(parents=True)
    (work / "clusters/dev/flux-system/gotk-sync.yaml").write_text(GOTK_SYNC)
    (work / "clusters/dev/flux-system/kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\n")
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "clean")
    _git(work, "checkout", "-q", "-b", "pr")
    # the folder depth makes enough ../ to reach / from the temporary build folder
    escape = "../" * 40
    apps = {
        "passwd": _generator(f"{escape}etc/passwd"),
        "environ": _generator("/proc/self/environ"),
        "planted": _generator(f"loot={key}") + f"resources:\n  - {escape}{str(outside).lstrip('/')}\n",
        "remote": f"resources:\n  - {url}/evil.yaml\n",
        "symlink": "resources:\n  - link.yaml\n",
        "plugin": "transformers:\n  - patcher.yaml\n",
        "inline": f"generators:\n  - |\n    apiVersion: builtin\n    kind: ConfigMapGenerator\n"
        f"    metadata:\n      name: loot\n    files:\n      - {key}\n",
    }
    names = sorted(apps)
    (work / "clusters/dev/apps.yaml").write_text("---\n".join(_app_ks(name) for name in names))
    (work / "clusters/dev/kustomization.yaml").write_text("resources:\n  - flux-system\n  - apps.yaml\n")
    for name, body in apps.items():
        (work / "apps" / name).mkdir(parents=True)
        (work / "apps" / name / "kustomization.yaml").write_text(body)
    (work / "apps/symlink/link.yaml").symlink_to(key)
    (work / "apps/plugin/patcher.yaml").write_text(
        "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: steal\npath: /etc/shadow\n"
    )
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "hostile")
    bare = tmp_path / "fleet.git"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return {"work": work, "bare": bare, "requests": requests, "cache": tmp_path / "cache", "names": names}


def _loot_in(text: str) -> list[str]:
    markers = ("root:x:0:0", "root:", PLANTED_KEY, "PLANTEDPLANTED", PLANTED_ENV, "PATH=", "fetched")
    return [m for m in markers if m in text]


def _assert_nothing_leaked(hostile: dict[str, object], output: str) -> None:
    assert _loot_in(output) == []
    cache = hostile["cache"]
    assert isinstance(cache, Path)
    for file in cache.rglob("*"):
        if file.is_file():
            assert _loot_in(file.read_bytes().decode(errors="replace")) == [], file
    assert hostile["requests"] == []


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("mode", ["working-directory", "bare-at-ref"])
def test_validate_reports_every_read_outside_the_tree_and_leaks_nothing(
    hostile: dict[str, object], capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    repo = ["--repo", str(hostile["work"])] if mode == "working-directory" else ["--repo", str(hostile["bare"])]
    ref = [] if mode == "working-directory" else ["--ref", "pr"]
    code, output = _run(capsys, "validate", *repo, *ref, "--json")
    assert code == 1
    findings = json.loads(output[output.index("[") :])
    refused = {(f["file"], f["line"]) for f in findings if f["rule"].startswith("kustomize-")}
    # one finding per hostile entry, each at the line that names it
    assert refused == {
        ("apps/environ/kustomization.yaml", 4),
        ("apps/inline/kustomization.yaml", 2),
        ("apps/passwd/kustomization.yaml", 4),
        ("apps/planted/kustomization.yaml", 4),
        ("apps/planted/kustomization.yaml", 6),
        ("apps/plugin/kustomization.yaml", 2),
        ("apps/remote/kustomization.yaml", 2),
        ("apps/symlink/kustomization.yaml", 2),
    }
    messages = " ".join(f["message"] for f in findings if f["rule"].startswith("kustomize-"))
    for reason in ("absolute path", "leaves the repository", "remote address", "symlinks are never followed"):
        assert reason in messages
    # the refused builds are not reported a second time as failed builds
    assert not [f for f in findings if f["rule"] == "build-failed"]
    _assert_nothing_leaked(hostile, output)


def test_diff_of_the_hostile_pull_request_reports_refusals_and_prints_no_content(
    hostile: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = _run(capsys, "diff", "main", "pr", "--repo", str(hostile["bare"]))
    for name in hostile["names"]:  # type: ignore[attr-defined]
        assert f"apps/{name}" in output
    assert output.count("refused to build") == len(hostile["names"])  # type: ignore[arg-type]
    assert code in (0, 1)
    _assert_nothing_leaked(hostile, output)


def test_reads_inside_the_tree_still_build_as_flux_builds_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flux lets a kustomization read any file of its source, `../` included: only leaving the tree is refused."""
    work = tmp_path / "work"
    (work / "clusters/dev/flux-system").mkdir(parents=True)
    (work / "clusters/dev/flux-system/gotk-sync.yaml").write_text(GOTK_SYNC)
    (work / "clusters/dev/kustomization.yaml").write_text("resources:\n  - flux-system/gotk-sync.yaml\n  - apps.yaml\n")
    (work / "clusters/dev/apps.yaml").write_text(_app_ks("shared"))
    (work / "apps/shared").mkdir(parents=True)
    (work / "common").mkdir()
    (work / "common/settings.txt").write_text("colour=blue\n")
    (work / "apps/shared/kustomization.yaml").write_text(_generator("../../common/settings.txt"))
    code, output = _run(capsys, "validate", "--repo", str(work))
    assert code == 0, output
    assert "0 error(s)" in output
