"""A corpus of hostile inputs, each run through the command that reads it, in a child process under a memory
and a time bound: the exact located line(s) it expects, the exit code, nothing written, no traceback.

The cases live in tests/data/hostile/<kind>/ (see its SOURCE.md): a case is a file (or, for catalogs, a folder)
with a sibling `<case>.expected`. That file's first line is `exit N`; each further line is `stdout: …` or
`stderr: …`, and the command must print exactly those lines on those streams (a stream with no line must stay
empty). `{url}` stands for the loopback chart server, `{work}` for the folder the command runs in. A case stored
as `<name>.gz` is unpacked before the run (so a document over the size limit stays small in the checkout), one
stored as `<name>.tar.gz` is unpacked as a folder (links and names no checkout should hold).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.conftest import DATA
from tests.updates.support import commit_tree
from tests.validate.fixtures import GOTK_SYNC

CORPUS = DATA / "hostile"
# published test identities of the sops vectors these cases were made from (tests/data/sops-vectors)
AGE_KEYS = (
    DATA / "sops-vectors" / "kustomize-controller" / "age.agekey",
    DATA / "sops-vectors" / "humphd-sops-age" / "key.txt",
)
MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 30.0
KINDS = ("spec", "catalog", "policy", "sops-config", "sops", "flux", "helm-index", "propagate", "state")


@dataclass(frozen=True)
class Case:
    """One hostile input: its kind, its name (the file or folder name without `.gz`) and where it lies."""

    kind: str
    name: str
    source: Path

    @property
    def stem(self) -> str:
        """The name without its extensions: the expected file's name and the helm-index case's server path."""
        return self.name.split(".")[0]

    @property
    def expected_file(self) -> Path:
        return self.source.parent / f"{self.stem}.expected"

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    def place(self, target: Path) -> Path:
        """Copy the case to `target` (a folder as it is, a `.tar.gz` unpacked into the folder `target`, another
        `.gz` unpacked into the file `target`) and return `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.source.is_dir():
            shutil.copytree(self.source, target)
        elif self.source.name.endswith(".tar.gz"):
            # links that leave the folder and names no checkout should hold (escapes, newlines) travel packed
            with tarfile.open(self.source) as archive:
                archive.extractall(target, filter="tar")
        elif self.source.suffix == ".gz":
            target.write_bytes(gzip.decompress(self.source.read_bytes()))
        else:
            target.write_bytes(self.source.read_bytes())
        return target


def _cases() -> list[Case]:
    cases: list[Case] = []
    for kind in KINDS:
        for entry in sorted((CORPUS / kind).iterdir()):
            if entry.suffix != ".expected" and not entry.name.startswith("_"):
                cases.append(Case(kind, entry.name.removesuffix(".gz").removesuffix(".tar"), entry))
    return cases


CASES = _cases()


@dataclass(frozen=True)
class Expected:
    """What a case's run must give."""

    code: int
    stdout: list[str]
    stderr: list[str]


def _expected(case: Case, url: str, work: Path) -> Expected:
    first, *rest = case.expected_file.read_text().splitlines()
    assert first.startswith("exit "), f"{case.expected_file}: the first line is `exit N`"
    streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
    for line in rest:
        stream, _, text = line.partition(": ")
        assert stream in streams, f"{case.expected_file}: {line!r} is not `stdout: …` or `stderr: …`"
        streams[stream].append(text.replace("{url}", url).replace("{work}", str(work.resolve())))
    return Expected(int(first.removeprefix("exit ")), streams["stdout"], streams["stderr"])


@dataclass(frozen=True)
class Run:
    """How to run the command that reads a case: arguments, folder, extra environment, and what to watch."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    """Serves `/<case>/index.yaml` from the helm-index cases and `/ok/index.yaml`, a good index."""

    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        # a client that stops reading an oversized body is what one case asks for
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        return None


GOOD_INDEX = b"""apiVersion: v1
entries:
  demo:
  - name: demo
    version: 1.1.0
    created: "2026-10-02T12:00:00Z"
    urls: [https://charts.example.invalid/demo-1.1.0.tgz]
  - name: demo
    version: 1.0.0
    created: "2026-10-01T12:00:00Z"
    urls: [https://charts.example.invalid/demo-1.0.0.tgz]
"""


@pytest.fixture(scope="module")
def chart_server() -> Iterator[str]:
    """A Helm repository server on 127.0.0.1 holding every helm-index case, each under its own path."""
    files = {"/ok/index.yaml": GOOD_INDEX}
    for case in CASES:
        if case.kind == "helm-index":
            data = case.source.read_bytes()
            files[f"/{case.stem}/index.yaml"] = gzip.decompress(data) if case.source.suffix == ".gz" else data
    _IndexHandler.files = files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IndexHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SPEC = """apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata: {name: hostile}
git: {url: https://git.example.com/fleet.git}
workspaces: [{name: ws}]
clusters: [{name: mgmt, role: management, workspace: ws}]
apps: [{app: cert-manager, workspace: ws}]
age: {recipients: [age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl]}
catalog: {paths: [catalog]}
"""


def _helm_repository(url: str) -> bytes:
    return f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: flux-system}}
spec:
  interval: 1h
  url: {url}
""".encode()


HELM_RELEASE = b"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: demo, namespace: apps}
spec:
  interval: 1h
  chart:
    spec:
      chart: demo
      version: 1.0.0
      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}
"""


CATALOG_SOURCE = b"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: team-catalog
  namespace: kommander
  labels:
    kommander.d2iq.io/gitapps-gitrepository-type: catalog
    kommander.d2iq.io/workspace-default-catalog-repository: "true"
spec:
  interval: 1h
  ref: {branch: main}
  url: https://git.example.com/team-catalog.git
"""

WORKSPACE_NAMESPACE = b"""apiVersion: v1
kind: Namespace
metadata:
  name: ws
  labels:
    workspaces.kommander.mesosphere.io/workspace-name: ws
"""


def _stage_spec(case: Case, work: Path, url: str) -> Run:
    case.place(work / case.name)
    return Run(("seed", "-c", case.name, "--repo", "fleet.git", "--create"), work, {})


def _stage_catalog(case: Case, work: Path, url: str) -> Run:
    case.place(work / "catalog")
    (work / "platform.yaml").write_text(SPEC)
    return Run(("seed", "-c", "platform.yaml", "--repo", "fleet.git", "--create"), work, {})


def _fleet(work: Path, url: str, extra: dict[str, bytes]) -> Path:
    files = {
        "clusters/c/sources/charts.yaml": _helm_repository(url),
        "clusters/c/apps/demo.yaml": HELM_RELEASE,
        **extra,
    }
    commit_tree(work / "fleet.git", files)
    return work / "fleet.git"


def _stage_policy(case: Case, work: Path, url: str) -> Run:
    _fleet(work, f"{url}/ok", {".gitops-engine/currency.yaml": case.place(work / "policy.yaml").read_bytes()})
    return Run(("bump", "--repo", "fleet.git", "--dry-run"), work, {})


def _stage_helm_index(case: Case, work: Path, url: str) -> Run:
    _fleet(work, f"{url}/{case.stem}", {})
    return Run(("bump", "--repo", "fleet.git", "--dry-run"), work, {})


def _stage_sops_config(case: Case, work: Path, url: str) -> Run:
    case.place(work / ".sops.yaml")
    (work / "db.sops.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {k: v}\n")
    return Run(("secrets", "encrypt", "db.sops.yaml"), work, {})


def _stage_sops(case: Case, work: Path, url: str) -> Run:
    case.place(work / case.name)
    identities = [line for key in AGE_KEYS for line in key.read_text().splitlines() if line.startswith("AGE-SECRET")]
    return Run(("secrets", "decrypt", case.name), work, {"SOPS_AGE_KEY": "\n".join(identities)})


def _stage_flux(case: Case, work: Path, url: str) -> Run:
    repo = work / "repo"
    (repo / "clusters/dev/flux-system").mkdir(parents=True)
    (repo / "clusters/dev/flux-system/gotk-sync.yaml").write_text(GOTK_SYNC)
    (repo / "clusters/dev/flux-system/kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\n")
    (repo / "clusters/dev/kustomization.yaml").write_text(f"resources:\n  - flux-system\n  - {case.name}\n")
    # a packed case holds the entry itself (a symbolic link out of the repository), unpacked beside the others
    case.place(repo / "clusters/dev" if case.source.name.endswith(".tar.gz") else repo / "clusters/dev" / case.name)
    return Run(("validate", "--repo", "repo"), work, {})


def _stage_propagate(case: Case, work: Path, url: str) -> Run:
    placed = case.place(work / case.name).read_bytes()
    # a case named *.source.yaml is a catalog GitRepository; any other is the propagate config
    where = "management/catalogs/team.yaml" if case.name.endswith(".source.yaml") else ".gitops-engine/propagate.yaml"
    files = {"management/catalogs/team.yaml": CATALOG_SOURCE, "workspaces/ws/namespace.yaml": WORKSPACE_NAMESPACE}
    commit_tree(work / "fleet.git", {**files, where: placed})
    return Run(("propagate", "--repo", "fleet.git", "--dry-run"), work, {})


def _stage_state(case: Case, work: Path, url: str) -> Run:
    commit_tree(work / "fleet.git", {".gitops-engine/state.yaml": case.place(work / case.name).read_bytes()})
    (work / "platform.yaml").write_text(SPEC.replace("catalog: {paths: [catalog]}\n", ""))
    return Run(("seed", "-c", "platform.yaml", "--repo", "fleet.git"), work, {})


STAGES: dict[str, Callable[[Case, Path, str], Run]] = {
    "spec": _stage_spec,
    "catalog": _stage_catalog,
    "policy": _stage_policy,
    "sops-config": _stage_sops_config,
    "sops": _stage_sops,
    "flux": _stage_flux,
    "helm-index": _stage_helm_index,
    "propagate": _stage_propagate,
    "state": _stage_state,
}


def _snapshot(root: Path) -> dict[str, str]:
    """Every path below `root` with a digest of what it holds (links by target): "nothing written" checks."""
    found: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = f"link:{path.readlink()}"
            elif path.is_file():
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = "dir"
    return found


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_hostile_input_gets_its_located_line_and_exit_code_within_bounds_and_writes_nothing(
    case: Case, tmp_path: Path, chart_server: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run = STAGES[case.kind](case, work, chart_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_ENGINE_", "SOPS_"))}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), NO_COLOR="1", **run.env)
    before = _snapshot(work)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gitops_engine.cli.main", *run.argv],
            cwd=run.cwd,
            env=env,
            capture_output=True,
            timeout=TIME_LIMIT,
            preexec_fn=_bounded,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case} ran longer than {TIME_LIMIT:.0f} s")
    elapsed = time.monotonic() - started
    out, err = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in out + err, err
    expected = _expected(case, chart_server, work)
    assert (done.returncode, out.splitlines(), err.splitlines()) == (
        expected.code,
        expected.stdout,
        expected.stderr,
    )
    assert _snapshot(work) == before
    assert not (tmp_path / "home").exists(), "a key or config was written"
    assert elapsed < TIME_LIMIT


def test_the_corpus_holds_sixty_cases_or_more_five_of_every_kind_each_with_its_expected_output() -> None:
    counts = Counter(case.kind for case in CASES)
    assert sum(counts.values()) >= 60 and set(counts) == set(KINDS) and min(counts.values()) >= 5, counts
    assert all(case.expected_file.is_file() for case in CASES), [str(c) for c in CASES if not c.expected_file.is_file()]
    expected = {path for kind in KINDS for path in (CORPUS / kind).glob("*.expected")}
    assert expected == {case.expected_file for case in CASES}, "an expected file without its case"
