"""Compatibility gating: a chart release whose `kubeVersion` excludes a cluster's Kubernetes version is never
proposed to that cluster; the newest one held back and why reach Plan.held, the report and the dashboard.

The constraints are the shapes real charts write (`>=1.25.0-0`, `>= 1.23.0 < 1.31.0`), and the expected
verdicts follow Helm's Masterminds rules by hand: a cluster version with a prerelease part (EKS's
`v1.29.4-eks-036c24b`) satisfies only terms that name a prerelease.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.chartindex import parse_index
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import AdapterLookup, bump_target
from gitops_engine.app.report import run_report
from gitops_engine.app.seed import SeedRequest, builtin_catalog_dir, seed
from gitops_engine.core.errors import InputError
from gitops_engine.model.catalog import helm_repository_name
from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.spec.loader import load_platform
from gitops_engine.updates import dashboard
from gitops_engine.updates.policy import Policy
from gitops_engine.updates.proposals import Plan, propose
from gitops_engine.updates.report import build_report
from gitops_engine.updates.scan import scan_tree
from tests.lookups.servers import Route, serving
from tests.updates.support import NOW
from tests.updates.test_policy import REPO, URL, release

# created 200, 100 and 50 days before NOW; each release's kubeVersion as charts write them
RELEASES = (
    ("1.0.0", 200, ">=1.23.0-0"),
    ("1.1.0", 100, ">= 1.23.0 < 1.31.0"),
    ("2.0.0", 50, ">=1.30.0-0"),
)


def _index(url: str = URL) -> ChartIndex:
    releases = tuple(ChartRelease("app", v, NOW - timedelta(days=d), kube_version=k) for v, d, k in RELEASES)
    return ChartIndex(url, MappingProxyType({"app": releases}))


def _vars(version: str) -> bytes:
    return f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: kommander-vars, namespace: kommander-flux}}
data:
  clusterName: prod
  kubernetesVersion: {version}
""".encode()


def _plan(kubernetes: str | None) -> Plan:
    files = {"clusters/prod/repo.yaml": REPO, "clusters/prod/app.yaml": release("app", "1.0.0")}
    if kubernetes is not None:
        files["clusters/prod/kommander-vars.yaml"] = _vars(kubernetes)
    return propose(scan_tree(files), {URL: _index()}, Policy(), NOW)


def _outcome(plan: Plan) -> tuple[list[str], list[tuple[str, str]]]:
    return [p.target.text for p in plan.proposals], [(h.version, h.reason) for h in plan.held]


def test_the_index_carries_each_releases_kube_version() -> None:
    text = b"""apiVersion: v1
entries:
  app:
    - {name: app, version: 2.0.0, kubeVersion: ">=1.30.0-0"}
    - {name: app, version: 1.0.0}
"""
    releases = parse_index(text, URL).releases("app")
    assert [(r.version, r.kube_version) for r in releases] == [("2.0.0", ">=1.30.0-0"), ("1.0.0", None)]


def test_without_a_kubernetes_version_nothing_is_gated() -> None:
    assert _outcome(_plan(None)) == (["1.1.0", "2.0.0"], [])


def test_a_major_the_cluster_cannot_run_is_held_back_and_the_fitting_minor_proposed() -> None:
    assert _outcome(_plan("1.29.4")) == (
        ["1.1.0"],
        [("2.0.0", "kubeVersion >=1.30.0-0 excludes Kubernetes 1.29.4 (cluster prod)")],
    )


def test_a_newer_cluster_skips_the_release_capped_below_it() -> None:
    # 1.1.0 stops below 1.31.0; 2.0.0 fits, and an older release excluded is not worth a row
    assert _outcome(_plan("v1.31.2")) == (["2.0.0"], [])


def test_an_eks_style_version_satisfies_only_terms_that_name_a_prerelease() -> None:
    plan = _plan("v1.29.4-eks-036c24b")
    reason = "kubeVersion >=1.30.0-0 excludes Kubernetes v1.29.4-eks-036c24b (cluster prod)"
    assert _outcome(plan) == ([], [("2.0.0", reason)])
    assert [s.reason for s in plan.skips] == [f"newest 2.0.0 not proposed: {reason}"]


def test_a_kube_version_helm_cannot_read_holds_the_release_back() -> None:
    files = {
        "clusters/prod/repo.yaml": REPO,
        "clusters/prod/app.yaml": release("app", "1.0.0"),
        "clusters/prod/kommander-vars.yaml": _vars("1.29.4"),
    }
    broken = (ChartRelease("app", "1.0.0"), ChartRelease("app", "1.0.1", kube_version=">=banana"))
    plan = propose(scan_tree(files), {URL: ChartIndex(URL, MappingProxyType({"app": broken}))}, Policy(), NOW)
    assert _outcome(plan) == (
        [],
        [("1.0.1", "its kubeVersion '>=banana' is not a constraint Helm can read (cluster prod)")],
    )


def test_the_report_and_the_dashboard_show_what_compatibility_holds_back() -> None:
    files = {
        "clusters/prod/repo.yaml": REPO,
        "clusters/prod/app.yaml": release("app", "1.0.0"),
        "clusters/prod/kommander-vars.yaml": _vars("1.29.4"),
    }
    scan = scan_tree(files)
    plan = propose(scan, {URL: _index()}, Policy(), NOW)
    (row,) = build_report(scan, {URL: _index()}, Policy(), NOW, held=plan.held)
    assert row.held == "2.0.0: kubeVersion >=1.30.0-0 excludes Kubernetes 1.29.4 (cluster prod)"
    page = dashboard.Dashboard("main", NOW, (), plan.held, {}, (), (row,), 30, 60).markdown()
    assert (
        "| app | app | `1.0.0` | `2.0.0` | kubeVersion &gt;=1.30.0-0 excludes Kubernetes 1.29.4 (cluster prod) "
        "| `clusters/prod/app.yaml:8` |"
    ) in page


SPEC = """\
apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata:
  name: compat
git:
  repository: ./fleet.git
  url: https://git.example.com/platform/fleet.git
catalog:
  paths:
    - ./catalog
workspaces:
  - name: management
    namespace: kommander-workspace
clusters:
  - name: host
    role: management
    workspace: management
    kubernetesVersion: "1.29.4"
apps:
  - {app: lbx, workspace: management}
age:
  recipients:
    - age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl
"""
OLD, NEW = "0.14.8", "0.14.9"


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fleet seeded from SPEC: one catalog app (`lbx`, a copy of the built-in metallb folder) whose chart
    repository is a loopback Helm server whose newer release needs Kubernetes 1.30; Flux's own chart source is
    kept off the network by a proxy that refuses every connection."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serving() as server:
        folder = tmp_path / "catalog" / "lbx" / OLD
        shutil.copytree(builtin_catalog_dir() / "metallb" / OLD, folder)
        for item in folder.iterdir():
            text = item.read_text().replace(
                "name: metallb.github.io-metallb", f"name: {helm_repository_name(server.url)}"
            )
            text = text.replace("chart: metallb", "chart: lbx").replace("name: metallb", "name: lbx")
            item.write_text(text.replace("https://metallb.github.io/metallb", server.url))
        entries = [
            {"name": "lbx", "version": OLD, "created": "2026-01-01T00:00:00Z", "kubeVersion": ">= 1.23.0-0"},
            {"name": "lbx", "version": NEW, "created": "2026-10-01T00:00:00Z", "kubeVersion": ">= 1.30.0-0"},
        ]
        index = yaml.safe_dump({"apiVersion": "v1", "entries": {"lbx": entries}}).encode()
        server.routes["/index.yaml"] = Route(body=index)
        (tmp_path / "platform.yaml").write_text(SPEC)
        assert seed(SeedRequest(tmp_path / "platform.yaml")).commit is not None
        yield tmp_path


def test_a_seeded_clusters_kubernetes_version_keeps_the_bot_from_a_chart_it_cannot_run(seeded: Path) -> None:
    repo = git.open_repository(seeded / "fleet.git", create=False)
    files = git.read_tree(repo, git.head_of(repo, "main").tree)
    assert b"\n  kubernetesVersion: 1.29.4\n" in files["clusters/host/kommander-vars.yaml"]
    result = bump_target(LocalTarget(seeded / "fleet.git"), AdapterLookup(), now=NOW, dry_run=True)
    held = {(h.use.chart, h.version, h.reason) for h in result.plan.held}
    assert ("lbx", NEW, "kubeVersion >= 1.30.0-0 excludes Kubernetes 1.29.4 (cluster host)") in held
    assert not [p for p in result.plan.proposals if p.use.chart == "lbx"]
    report = run_report(LocalTarget(seeded / "fleet.git"), AdapterLookup(), now=NOW)
    (row,) = [r for r in report.rows if r.chart == "lbx"]
    assert row.held == f"{NEW}: kubeVersion >= 1.30.0-0 excludes Kubernetes 1.29.4 (cluster host)"


def test_a_kubernetes_version_that_is_no_version_is_refused_at_its_line() -> None:
    text = SPEC.replace('kubernetesVersion: "1.29.4"', "kubernetesVersion: latest")
    with pytest.raises(InputError) as caught:
        load_platform(text, "platform.yaml")
    assert caught.value.lines == (
        "platform.yaml:18: clusters[0].kubernetesVersion: 'latest' is not a Kubernetes version (write e.g. \"1.29.4\")",
    )
