"""A fleet's year: spec pull requests, bot pull requests and re-seeds on one Gitea repository, run the way a
platform team runs them, converge on a fleet that always validates.

Everything is real but the forge and the cluster: git smart-HTTP and the OpenAPI-validated test Gitea
(tests/forge), a loopback Helm repository whose releases the test publishes, kustomize for every validate, age
for the Secrets. The reconciler runs as the scheduled job would: `gitops-engine reconcile --repo URL
--gitea-token-env VAR`. After every step the same invariants are checked (see `_check`).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.gitea import GiteaClient
from gitops_engine.app.seed import SPEC_PATH, builtin_catalog_dir
from gitops_engine.app.validate import validate_repository
from gitops_engine.cli.main import main
from gitops_engine.model.catalog import helm_repository_name
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.sopsfile import decrypt
from gitops_engine.secrets.stores import Format
from tests.forge.gitea_server import GiteaServer
from tests.lookups.servers import RepoServer, Route, serving

HUMAN = git.Signature("engineer", "engineer@example.invalid", 1_800_000_000)
OWNER, NAME = "platform", "fleet"
CATALOG = ".gitops-engine/catalog"


def _spec(extra_apps: str = "", extra_clusters: str = "", tail: str = "") -> str:
    return f"""\
apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata:
  name: year
git:
  url: https://git.example.com/platform/fleet.git
catalog:
  paths:
    - catalog
workspaces:
  - name: management
    namespace: kommander-workspace
  - name: team-a
    namespace: team-a
clusters:
  - name: host
    role: management
    workspace: management
  - name: edge
    role: workload
    workspace: team-a
{extra_clusters}apps:
  - {{app: lbx, workspace: management}}
  - {{app: lbx, workspace: team-a}}
  - {{app: cmx, workspace: team-a}}
{extra_apps}secrets:
  - name: api-token
    workspace: team-a
    data:
      token: {{env: YEAR_API_TOKEN}}
{tail}"""


def _catalog_folder(server: RepoServer, app: str, template: str, version: str) -> dict[str, bytes]:
    """A catalog folder for `app` at `version`, made from a built-in one, its chart served by `server`."""
    source = next((builtin_catalog_dir() / template).iterdir())
    old = source.name
    files: dict[str, bytes] = {}
    for item in source.iterdir():
        text = item.read_text()
        text = text.replace(f"chart: {template}", f"chart: {app}").replace(f"name: {template}", f"name: {app}")
        files[f"{CATALOG}/{app}/{version}/{item.name}"] = text.replace(old, version).encode()
    # point the chart source at the loopback repository
    for path, data in list(files.items()):
        text = data.decode()
        if path.endswith("metadata.yaml"):
            upstream = text.split("repository: ", 1)[1].split("\n", 1)[0]
            text = text.replace(upstream, server.url)
        if path.endswith("helmrelease.yaml"):
            start = text.index("sourceRef:")
            name_at = text.index("name: ", start) + len("name: ")
            end = text.index("\n", name_at)
            text = text[:name_at] + helm_repository_name(server.url) + text[end:]
        files[path] = text.encode()
    return files


class Upstream:
    """The loopback Helm repository: what upstream has published so far."""

    def __init__(self, server: RepoServer) -> None:
        self.server = server
        self.releases: dict[str, list[str]] = {"lbx": ["1.0.0"], "cmx": ["2.0.0"]}
        self.publish()

    def publish(self, **more: str) -> None:
        for chart, version in more.items():
            self.releases[chart].append(version)
        entries = {
            chart: [
                {
                    "name": chart,
                    "version": v,
                    "urls": [f"{self.server.url}/{chart}-{v}.tgz"],
                    "created": "2026-06-01T00:00:00Z",
                }
                for v in versions
            ]
            for chart, versions in self.releases.items()
        }
        self.server.routes["/index.yaml"] = Route(
            body=yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()
        )


class Year:
    """The repository on the test Gitea and the commands a platform team runs against it."""

    def __init__(self, gitea: GiteaServer, token: str, tmp: Path) -> None:
        self.gitea, self.token, self.tmp = gitea, token, tmp
        self.url = f"{gitea.url}/{OWNER}/{NAME}.git"
        self.bare = gitea.bare_path(OWNER, NAME)
        self.hand_edits: dict[str, bytes] = {}

    @property
    def repo(self) -> git.Repository:
        return git.open_repository(self.bare, create=False)

    def files(self, branch: str = "main") -> dict[str, bytes]:
        return dict(git.read_tree(self.repo, git.head_of(self.repo, branch).tree))

    def commit(self, branch: str, files: dict[str, bytes], message: str, *, start: str = "main") -> None:
        """An engineer pushes a commit (changes on top of `start`) to `branch`."""
        repo = self.repo
        current = git.head_of(repo, branch).commit
        parent = current or git.head_of(repo, start).commit
        tree = dict(git.read_tree(repo, git.head_of(repo, branch if current else start).tree))
        tree.update(files)
        new = git.create_commit(repo, git.write_tree(repo, tree), [parent] if parent else [], message, HUMAN)
        git.move_branch(repo, branch, new, current, "engineer")

    def client(self) -> GiteaClient:
        return GiteaClient(self.gitea.url, self.token)

    def cli(self, *args: str) -> int:
        return main([*args, "--repo", self.url, "--gitea-token-env", "YEAR_TOKEN"])

    def reconcile(self) -> int:
        return self.cli("reconcile")

    def open_bot_pulls(self) -> list[tuple[str, int, str]]:
        return sorted(
            (p.head_ref, p.number, p.title)
            for p in self.gitea.pulls_of(OWNER, NAME)
            if p.state == "open" and p.head_ref.startswith("gitops-engine/")
        )

    def merge(self, head: str) -> None:
        number = next(n for h, n, _ in self.open_bot_pulls() if h == head)
        with self.client() as client:
            client.merge_pull_request(OWNER, NAME, number)

    def snapshot(self) -> tuple[dict[str, str | None], list[tuple[str, int, str]], list[tuple[int, str]]]:
        repo = self.repo
        refs = {name: git.head_of(repo, name).commit for name in git.branch_names(repo)}
        issues = [(i.number, i.body) for i in self.gitea.issues_of(OWNER, NAME) if i.state == "open"]
        return refs, self.open_bot_pulls(), issues


def _check(year: Year, capsys: pytest.CaptureFixture[str], *, reconciled_exit: int = 0) -> None:
    """The invariants after every step: a scheduled pass absorbs the step, and then main validates, every hand
    edit is still there, no (app, major) has two open PRs, a second pass changes nothing, and the dashboard
    lists every open bot PR."""
    assert year.reconcile() == reconciled_exit
    report, _ = validate_repository(str(year.bare), "main")
    assert report.errors == (), [str(f) for f in report.errors]
    files = year.files()
    for path, text in year.hand_edits.items():
        assert text in files[path], f"hand edit lost in {path}"
    heads = [head for head, _, _ in year.open_bot_pulls()]
    assert len(heads) == len(set(heads)), "two open pull requests for one (app, major)"
    before = year.snapshot()
    assert year.reconcile() == reconciled_exit
    assert year.snapshot() == before, "a second reconcile changed something"
    dashboards = [i for i in year.gitea.issues_of(OWNER, NAME) if i.state == "open" and "dashboard" in i.title]
    assert len(dashboards) == 1
    for _, number, _ in year.open_bot_pulls():
        assert f"[#{number}]" in dashboards[0].body, f"the dashboard misses PR #{number}"
    capsys.readouterr()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with serving() as server:
        yield Upstream(server)


def test_a_fleets_year(
    gitea: GiteaServer,
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokens: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("YEAR_TOKEN", tokens["alice"])
    monkeypatch.setenv("YEAR_API_TOKEN", "the-api-token-value")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with GiteaClient(gitea.url, tokens["alice"]) as client:
        client.create_org(OWNER)
        client.create_repository(OWNER, NAME, in_org=True)
    year = Year(gitea, tokens["alice"], tmp_path)
    catalog = {**_catalog_folder(upstream.server, "lbx", "metallb", "1.0.0")}
    catalog.update(_catalog_folder(upstream.server, "cmx", "external-dns", "2.0.0"))

    # 1. the fleet is seeded from the spec in its repository
    year.commit("main", {SPEC_PATH: _spec().encode(), **catalog}, "the platform spec")
    assert year.reconcile() == 0
    assert "clusters/edge/apps/team-a/lbx.yaml" in year.files()
    _check(year, capsys)

    # 2-3. upstream publishes a patch, a minor and a major: the reconciler proposes them
    upstream.publish(lbx="1.0.1")
    upstream.publish(lbx="1.1.0")
    upstream.publish(lbx="2.0.0")
    upstream.publish(cmx="2.0.1")
    assert year.reconcile() == 0
    assert [(h, t) for h, _, t in year.open_bot_pulls()] == [
        ("gitops-engine/cmx-2", "Update cmx to 2.0.1"),
        ("gitops-engine/lbx-1", "Update lbx to 1.1.0"),
        ("gitops-engine/lbx-2", "Update lbx to 2.0.0"),
    ]
    _check(year, capsys)

    # 4. one is merged: the fleet runs lbx 1.1.0, its other proposals stay
    year.merge("gitops-engine/lbx-1")
    assert year.reconcile() == 0
    assert "applications/lbx/1.1.0/helmrelease.yaml" in year.files()
    assert [h for h, _, _ in year.open_bot_pulls()] == ["gitops-engine/cmx-2", "gitops-engine/lbx-2"]
    _check(year, capsys)

    # 5. an engineer edits a deployment by hand on main
    path = "clusters/edge/apps/team-a/lbx.yaml"
    edited = year.files()[path].replace(b"interval: 6h", b"interval: 2h")
    year.commit("main", {path: edited}, "tune the lbx interval")
    year.hand_edits[path] = b"interval: 2h"
    _check(year, capsys)

    # 6. a spec pull request adds a cluster and an app; its plan is commented, then it is merged
    apps_edge2 = "  - {app: cmx, workspace: management}\n"
    clusters_edge2 = "  - name: edge2\n    role: workload\n    workspace: team-a\n"
    spec = _spec(apps_edge2, clusters_edge2)
    year.commit("spec/edge2", {SPEC_PATH: spec.encode()}, "add edge2 and cmx on management")
    with year.client() as client:
        pull = client.create_pull_request(OWNER, NAME, "spec/edge2", "main", "Add edge2", "")
    assert year.cli("plan", "--ref", "spec/edge2", "--comment") == 0
    comments = next(p for p in gitea.pulls_of(OWNER, NAME) if p.number == pull.number).comments
    assert len(comments) == 1 and "merging `spec/edge2` into `main`" in comments[0][2]
    assert "clusters/edge2/kommander-vars.yaml" in comments[0][2]
    with year.client() as client:
        client.merge_pull_request(OWNER, NAME, pull.number)
    assert year.reconcile() == 0
    files = year.files()
    assert "clusters/edge2/apps/team-a/lbx.yaml" in files
    assert b"./applications/lbx/1.1.0" in files["clusters/edge2/apps/team-a/lbx.yaml"]  # the merged bump holds
    _check(year, capsys)

    # 7. the catalog gains lbx 1.2.0: the re-seed takes the catalog's newer version over the merged bump
    upstream.publish(lbx="1.2.0")
    year.commit("main", _catalog_folder(upstream.server, "lbx", "metallb", "1.2.0"), "catalog: lbx 1.2.0")
    assert year.reconcile() == 0
    files = year.files()
    assert "applications/lbx/1.2.0/helmrelease.yaml" in files and "applications/lbx/1.1.0/helmrelease.yaml" not in files
    _check(year, capsys)

    # 8. upstream publishes lbx 2.1.0: the open major PR is updated, not duplicated
    number = next(n for h, n, _ in year.open_bot_pulls() if h == "gitops-engine/lbx-2")
    upstream.publish(lbx="2.1.0")
    assert year.reconcile() == 0
    assert ("gitops-engine/lbx-2", number, "Update lbx to 2.1.0") in year.open_bot_pulls()
    _check(year, capsys)

    # 9. a PR closed by hand stays closed until a newer version
    cmx = next(n for h, n, _ in year.open_bot_pulls() if h == "gitops-engine/cmx-2")
    with year.client() as client:
        client.edit_pull_request(OWNER, NAME, cmx, state="closed")
    assert year.reconcile() == 0
    assert "gitops-engine/cmx-2" not in [h for h, _, _ in year.open_bot_pulls()]
    _check(year, capsys)
    upstream.publish(cmx="2.0.2")
    assert year.reconcile() == 0
    assert ("gitops-engine/cmx-2", "Update cmx to 2.0.2") in [(h, t) for h, _, t in year.open_bot_pulls()]
    _check(year, capsys)

    # 10. the recipients change: every encrypted file is re-wrapped for the new key too
    identity, recipient = generate_identity()
    own_recipient = year.files()[".sops.yaml"].decode().split("age: ", 1)[1].split("\n", 1)[0].strip()
    grown = _spec(apps_edge2, clusters_edge2, f"age:\n  recipients:\n    - {own_recipient}\n    - {recipient}\n")
    year.commit("main", {SPEC_PATH: grown.encode()}, "a second age recipient")
    assert year.reconcile() == 0
    secrets = sorted(p for p in year.files() if p.endswith(".sops.yaml") and p.startswith("clusters/"))
    assert secrets == [
        "clusters/edge/secrets/team-a-api-token.sops.yaml",
        "clusters/edge2/secrets/team-a-api-token.sops.yaml",
    ]
    for path in secrets:
        plain = yaml.safe_load(decrypt(year.files()[path], Format.for_path(path), [identity], path))
        assert base64.b64decode(plain["data"]["token"]) == b"the-api-token-value"
    _check(year, capsys)

    # 11. a catalog repository is added and propagated to the workspaces
    spec11 = grown.replace(
        "catalog:\n  paths:\n    - catalog\n",
        "catalog:\n  paths:\n    - catalog\n  repositories:\n    - name: partner\n      url: https://git.example.com/partner.git\n"
        "      ref: {branch: main}\n      labels:\n        kommander.d2iq.io/gitapps-gitrepository-type: catalog\n"
        '        kommander.d2iq.io/workspace-default-catalog-repository: "true"\n',
    )
    year.commit("main", {SPEC_PATH: spec11.encode()}, "a partner catalog")
    assert year.reconcile() == 0
    files = year.files()
    assert "common/catalog-repositories/partner.yaml" in files
    assert "workspaces/team-a/catalogs/partner.yaml" in files
    _check(year, capsys)

    # 12. the chart repository goes down: the pass fails honestly, the dashboard says so, the PRs stay
    pulls = year.open_bot_pulls()
    upstream.server.routes["/index.yaml"] = Route(body=b"", faults=["500"] * 1000)
    capsys.readouterr()
    assert year.reconcile() == 1
    assert year.open_bot_pulls() == pulls
    dashboard = next(i for i in gitea.issues_of(OWNER, NAME) if i.state == "open" and "dashboard" in i.title)
    assert upstream.server.url in dashboard.body and "failure" in dashboard.body
    _check(year, capsys, reconciled_exit=1)
    upstream.publish()

    # 13. a reconcile killed mid-run: the next one converges
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    upstream.publish(lbx="2.2.0")
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitops_engine.cli.main",
            "reconcile",
            "--repo",
            year.url,
            "--gitea-token-env",
            "YEAR_TOKEN",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert year.reconcile() == 0
    assert ("gitops-engine/lbx-2", "Update lbx to 2.2.0") in [(h, t) for h, _, t in year.open_bot_pulls()]
    _check(year, capsys)
