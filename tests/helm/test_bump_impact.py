"""The rendered impact of bump: shown where it is read (a dry run's answer, pull requests), and cheap when it
cannot be had — without the Helm extra nothing is read, and charts that cannot be fetched build nothing and are
not asked for again on the next pass. (Pull requests on the test Gitea: tests/forge/test_bump_impact_gitea.py.)"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_engine.cli.main import main
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.sopsfile import encrypt_yaml
from tests.helm.charts import index_yaml, packaged
from tests.helm.fleet import commit, write_fleet
from tests.helm.tools import WITHOUT_HELM, builds, recording_kustomize
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import commit_tree

CHART_2 = "/demo-2.0.0.tgz"
USER, PASSWORD = "robot", "only-this-test-knows-it"
RELEASE_IN = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: {name}, namespace: apps}}
spec:
  chart:
    spec:
      chart: demo
      version: 1.0.0
      sourceRef: {{kind: HelmRepository, name: charts, namespace: flux-system}}
"""
SECRET_HEAD = "apiVersion: v1\nkind: Secret\nmetadata: {name: charts-auth, namespace: apps}\n"


@pytest.fixture
def index_only(tmp_path: Path) -> Iterator[RepoServer]:
    """A Helm repository whose index lists demo 1.0.0 and 2.0.0 but which serves neither archive."""
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        yield server


@pytest.fixture
def fleet(tmp_path: Path, index_only: RepoServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return write_fleet(tmp_path / "fleet", index_only.url, recipient)


def test_without_the_helm_extra_a_dry_run_says_how_to_install_it_and_neither_fetches_nor_builds(
    tmp_path: Path, fleet: Path, index_only: RepoServer
) -> None:
    path, log = recording_kustomize(tmp_path / "bin")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": path, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_HELM, "bump", "--repo", str(fleet), "--dry-run", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (branch,) = json.loads(done.stdout)["branches"]
    assert branch["name"] == "gitops-engine/demo-2"
    assert branch["impact"] == {
        "problem": "the Helm backend is not installed (pip install 'gitops-engine[helm]' shows here what the change "
        "renders)",
        "releases": [],
    }
    assert "helm_python loaded: False" in done.stderr
    assert index_only.requests_for(CHART_2) == []
    assert builds(log) == []


def test_a_dry_run_whose_charts_cannot_be_fetched_builds_nothing_and_the_next_run_asks_for_none(
    tmp_path: Path,
    fleet: Path,
    index_only: RepoServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, log = recording_kustomize(tmp_path / "bin")
    monkeypatch.setenv("PATH", path)
    expected = {
        "problem": f"no chart it moves to could be fetched: GET {index_only.url}{CHART_2}: HTTP 404",
        "releases": [],
    }
    for _ in range(2):
        assert main(["bump", "--repo", str(fleet), "--dry-run", "--json"]) == 0
        (branch,) = json.loads(capsys.readouterr().out)["branches"]
        assert branch["impact"] == expected
    assert len(index_only.requests_for(CHART_2)) == 1  # the failure is remembered for an hour
    assert index_only.requests_for("/demo-1.0.0.tgz") == []  # nothing to compare with: the base is not rendered
    assert builds(log) == []


def test_where_nothing_shows_the_impact_nothing_is_rendered(
    tmp_path: Path, fleet: Path, index_only: RepoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # the text of a dry run has no impact in it
    assert main(["bump", "--repo", str(fleet), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "gitops-engine/demo-2: planned"
    # nor has a pass on a target without pull requests
    bare = tmp_path / "fleet.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(fleet), str(bare)], check=True)
    assert main(["bump", "--repo", str(bare), "--json"]) == 0
    (branch,) = json.loads(capsys.readouterr().out)["branches"]
    assert branch["action"] == "created" and branch["impact"] is None
    assert index_only.requests_for(CHART_2) == []
    # a fresh process: such a pass does not even load the Helm layer
    loaded = (
        "import sys\nfrom gitops_engine.cli.main import main\ncode = main(sys.argv[1:])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('gitops_engine.app.helm', 'gitops_engine.app.impact'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", loaded, "bump", "--repo", str(bare)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_dry_run_on_a_password_protected_repository_renders_the_impact_with_the_bots_credentials_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    identity, recipient = generate_identity()
    # the fleet's key only as --age-key: no identity of this machine opens its Secrets
    key_file = tmp_path / "fleet-key.txt"
    key_file.write_text(identity + "\n")
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts), authorization=basic)
        for version, data in charts.items():
            server.routes[f"/demo-{version}.tgz"] = Route(body=data, authorization=basic)
        fleet = write_fleet(tmp_path / "fleet", server.url, recipient)
        auth = f"{SECRET_HEAD}stringData: {{username: {USER}, password: {PASSWORD}}}\n"
        (fleet / "apps/auth.sops.yaml").write_bytes(encrypt_yaml(auth.encode(), [recipient]))
        repository = fleet / "apps/repository.yaml"
        repository.write_text(repository.read_text() + "  secretRef: {name: charts-auth}\n")
        kustomization = fleet / "apps/kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("release.yaml]", "release.yaml, auth.sops.yaml]"))
        commit(fleet, "private charts")
        assert main(["bump", "--repo", str(fleet), "--dry-run", "--json", "--age-key", str(key_file)]) == 0
        out = capsys.readouterr().out
        refused = [seen for seen in server.seen if seen.status == 401]
    (branch,) = json.loads(out)["branches"]
    assert branch["impact"]["problem"] is None
    (release,) = branch["impact"]["releases"]
    assert (release["helmRelease"], release["added"], release["removed"]) == ("HelmRelease/apps/demo", 0, 0)
    assert "Deployment/web/web-demo: spec.selector changes" in " ".join(release["risks"])
    assert refused == []  # never an anonymous request
    assert PASSWORD not in out
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def test_releases_no_flux_kustomization_builds_are_named_instead_of_claiming_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        for version, data in charts.items():
            server.routes[f"/demo-{version}.tgz"] = Route(body=data)
        # two clusters without a Flux Kustomization, each defining the same HelmRepository: the only build there
        # is (the whole repository) fails on the duplicate, so no HelmRelease is seen
        source = (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
            f"metadata: {{name: charts, namespace: flux-system}}\nspec: {{url: {server.url}}}\n"
        )
        files: dict[str, bytes] = {}
        for cluster in ("a", "b"):
            files[f"clusters/{cluster}/source.yaml"] = source.encode()
            files[f"clusters/{cluster}/demo.yaml"] = RELEASE_IN.format(name=f"demo-{cluster}").encode()
        commit_tree(tmp_path / "fleet.git", files)
        assert main(["bump", "--repo", str(tmp_path / "fleet.git"), "--dry-run", "--json"]) == 0
    (branch,) = json.loads(capsys.readouterr().out)["branches"]
    problem = branch["impact"]["problem"]
    assert problem.startswith(
        "HelmRelease/apps/demo-a (and 1 more) is not among what this repository's Flux Kustomizations build; "
        "kustomize build of ./ failed:"
    ), problem
    assert "already registered id" in problem and branch["impact"]["releases"] == []


def test_a_rerun_on_the_same_base_shows_the_kept_impact_without_building_or_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    identity, recipient = generate_identity()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, log = recording_kustomize(tmp_path / "bin")
    monkeypatch.setenv("PATH", path)
    charts = {version: packaged(tmp_path / "charts", version) for version in ("1.0.0", "2.0.0")}
    answers: list[Any] = []
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=index_yaml(server.url, charts))
        for version, data in charts.items():
            server.routes[f"/demo-{version}.tgz"] = Route(body=data)
        fleet = write_fleet(tmp_path / "fleet", server.url, recipient)
        assert main(["bump", "--repo", str(fleet), "--dry-run", "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out)["branches"])
        first_builds = builds(log)
        # without the kept impact, a rerun would have to build again
        shutil.rmtree(tmp_path / "cache" / "gitops-engine" / "kustomize")
        log.write_text("")
        assert main(["bump", "--repo", str(fleet), "--dry-run", "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out)["branches"])
    (release,) = answers[0][0]["impact"]["releases"]
    assert release["helmRelease"] == "HelmRelease/apps/demo" and release["risks"]
    assert answers[1] == answers[0]
    assert first_builds and builds(log) == []
