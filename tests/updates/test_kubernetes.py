"""Kubernetes version currency of managed clusters: the bot proposes each cluster's upgrade steps as branches.

The fleet: a management cluster on 1.31.4 and a managed cluster `edge` on 1.29.4, seeded from a spec; Kubernetes'
release files (`stable.txt`, `stable-1.N.txt`) are served by a loopback server, as dl.k8s.io serves them.
Expected steps, by Kubernetes' rules: the newest 1.29 patch first, then one minor per branch, each branch built on
the one before, and never past the management cluster (1.31.7 is newer than 1.31.4: the last step stops at the
management cluster's own version).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pygit2
import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import Action, AdapterLookup, BumpResult, bump_target
from gitops_engine.app.report import run_report
from gitops_engine.app.seed import SeedRequest, plan_seed, seed
from gitops_engine.app.validate import validate_repository
from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.model.state import STATE_PATH
from gitops_engine.updates import dashboard
from gitops_engine.updates.kubernetes import with_release_source
from gitops_engine.updates.policy import KubernetesReleases, Policy
from gitops_engine.updates.proposals import Plan, propose
from gitops_engine.updates.releases import stable_index
from gitops_engine.updates.report import build_report
from gitops_engine.updates.scan import scan_tree
from tests.lookups.servers import RepoServer, Route, serving
from tests.seed.helpers import run_cli
from tests.updates.support import NOW, commit_tree
from tests.updates.test_policy import REPO, URL, release

SPEC = """\
apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata:
  name: lifecycle
git:
  repository: ./fleet.git
  url: https://git.example.com/platform/fleet.git
workspaces:
  - {name: management, namespace: kommander-workspace}
  - {name: team-a, namespace: team-a}
clusters:
  - {name: host, role: management, workspace: management, kubernetesVersion: "1.31.4"}
  - name: edge
    workspace: team-a
    kubernetesVersion: "1.29.4"
    topology:
      class: dev-in-memory
      controlPlane: {replicas: 1}
      machineDeployments: [{name: md-0, class: default-worker, replicas: 2}]
"""
STABLE = {"": "v1.32.3", "-1.29": "v1.29.14", "-1.30": "v1.30.10", "-1.31": "v1.31.7", "-1.32": "v1.32.3"}
BRANCHES = (
    "gitops-engine/kubernetes-edge-1.29",
    "gitops-engine/kubernetes-edge-1.30",
    "gitops-engine/kubernetes-edge-1.31",
)
CLUSTER_FILE = "cluster-api/clusters/edge/cluster.yaml"
VARS_FILE = "clusters/edge/kommander-vars.yaml"


@dataclass
class Fleet:
    root: Path
    server: RepoServer

    @property
    def spec(self) -> Path:
        return self.root / "platform.yaml"

    @property
    def repo(self) -> git.Repository:
        return git.open_repository(self.root / "fleet.git", create=False)

    @property
    def policy(self) -> Path:
        return self.root / "currency.yaml"

    def files(self, branch: str = "main") -> dict[str, bytes]:
        return dict(git.read_tree(self.repo, git.head_of(self.repo, branch).tree))

    def bump(self, *, dry_run: bool = False) -> BumpResult:
        return bump_target(
            LocalTarget(self.root / "fleet.git"),
            AdapterLookup(),
            policy_file=self.policy,
            now=NOW,
            dry_run=dry_run,
            cache_dir=self.root / "scans",
        )

    def merge(self, branch: str) -> None:
        """Fast-forward main to the bot's branch, as a forge's merge button would."""
        head, main = git.head_of(self.repo, branch), git.head_of(self.repo, "main")
        assert head.commit is not None
        git.move_branch(self.repo, "main", head.commit, main.commit, "merge")


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serving() as server:
        for suffix, version in STABLE.items():
            server.routes[f"/release/stable{suffix}.txt"] = Route(body=f"{version}\n".encode())
        (tmp_path / "currency.yaml").write_text(f"kubernetes:\n  releases: {server.url}/release\n")
        (tmp_path / "platform.yaml").write_text(SPEC)
        assert seed(SeedRequest(tmp_path / "platform.yaml")).commit is not None
        yield Fleet(tmp_path, server)


def _parents(fleet: Fleet, branch: str) -> list[str]:
    head = git.head_of(fleet.repo, branch).commit
    assert head is not None
    return [str(parent) for parent in fleet.repo.revparse_single(head).peel(pygit2.Commit).parent_ids]


def _outcomes(result: BumpResult) -> dict[str, str]:
    return {o.name: o.action.value for o in result.outcomes if o.action is not Action.SUPERSEDED}


def test_a_cluster_takes_its_minors_newest_patch_first_then_one_minor_per_branch(fleet: Fleet) -> None:
    result = fleet.bump()
    assert _outcomes(result) == dict.fromkeys(BRANCHES, "created")
    steps = [(p.current.text, p.target.text, p.update.value, p.line, p.after) for p in result.plan.proposals]
    assert steps == [
        ("v1.29.4", "v1.29.14", "patch", "1.29", ""),
        ("v1.29.14", "v1.30.10", "minor", "1.30", "1.29"),
        ("v1.30.10", "v1.31.4", "minor", "1.31", "1.30"),
    ]
    # each branch is one commit on the one before: merging the second merges the first with it
    parents = [_parents(fleet, b) for b in BRANCHES]
    heads = [git.head_of(fleet.repo, name).commit for name in ("main", *BRANCHES)]
    assert parents == [[heads[0]], [heads[1]], [heads[2]]]
    # the release files of every minor from the cluster's own to the newest were read, once each
    paths = sorted(seen.path for seen in fleet.server.seen)
    assert paths == sorted(f"/release/stable{s}.txt" for s in ("", "-1.29", "-1.30", "-1.31"))


def test_a_step_edits_only_the_version_bytes_and_records_the_version(fleet: Fleet) -> None:
    fleet.bump()
    before, after = fleet.files(), fleet.files(BRANCHES[0])
    assert {p for p in after if after[p] != before.get(p)} == {CLUSTER_FILE, VARS_FILE, STATE_PATH}
    assert after[CLUSTER_FILE] == before[CLUSTER_FILE].replace(b"    version: v1.29.4\n", b"    version: v1.29.14\n")
    assert before[VARS_FILE].count(b"  kubernetesVersion: 1.29.4\n") == 1
    assert after[VARS_FILE] == before[VARS_FILE].replace(b"kubernetesVersion: 1.29.4", b"kubernetesVersion: 1.29.14")
    state = yaml.safe_load(after[STATE_PATH])
    assert state["clusters"] == {"edge": {"version": "1.29.14", "source": "bump"}}
    last = fleet.files(BRANCHES[2])
    assert b"    version: v1.31.4\n" in last[CLUSTER_FILE]
    assert yaml.safe_load(last[STATE_PATH])["clusters"] == {"edge": {"version": "1.31.4", "source": "bump"}}
    report, _ = validate_repository(str(fleet.root / "fleet.git"), BRANCHES[2])
    assert report.errors == ()


def test_the_management_cluster_caps_every_step_and_the_reason_is_held(fleet: Fleet) -> None:
    plan = fleet.bump(dry_run=True).plan
    assert [(h.use.clusters, h.version, h.reason) for h in plan.held] == [
        (("edge",), "v1.31.7", "ahead of management cluster host (1.31.4)")
    ]
    # the management cluster itself is attached: reported, never bumped
    (skip,) = [s for s in plan.skips if s.use.app == "kubernetes" and s.use.clusters == ("host",)]
    assert skip.reason.startswith("attached: upgraded where it was created")


def test_a_rerun_changes_nothing_and_a_merged_step_leaves_the_rest_in_place(fleet: Fleet) -> None:
    assert _outcomes(fleet.bump()) == dict.fromkeys(BRANCHES, "created")
    assert _outcomes(fleet.bump()) == dict.fromkeys(BRANCHES, "unchanged")
    first = {name: git.head_of(fleet.repo, name).commit for name in BRANCHES}
    fleet.merge(BRANCHES[0])
    result = fleet.bump()
    assert _outcomes(result) == dict.fromkeys(BRANCHES[1:], "unchanged")
    assert [(o.name, o.action.value) for o in result.outcomes if o.action is Action.SUPERSEDED] == [
        (BRANCHES[0], "superseded")
    ]
    assert {name: git.head_of(fleet.repo, name).commit for name in BRANCHES[1:]} == {
        name: first[name] for name in BRANCHES[1:]
    }


def test_a_merged_kubernetes_bump_survives_a_re_seed(fleet: Fleet) -> None:
    fleet.bump()
    fleet.merge(BRANCHES[1])  # 1.29.14 and 1.30.10
    assert seed(SeedRequest(fleet.spec, force=True)).commit is None
    # a spec change elsewhere re-renders the fleet and keeps the cluster on the merged version
    fleet.spec.write_text(fleet.spec.read_text().replace("replicas: 2}]", "replicas: 3}]"))
    plan = plan_seed(SeedRequest(fleet.spec))
    assert plan.version_notes == (
        "clusters[edge]: runs Kubernetes 1.30.10 by a merged bump, kept although the spec names 1.29.4 "
        "(Kubernetes does not go back a version); write 1.30.10 in the spec",
    )
    assert seed(SeedRequest(fleet.spec)).commit is not None
    files = fleet.files()
    assert b"    version: v1.30.10\n" in files[CLUSTER_FILE] and b"replicas: 3" in files[CLUSTER_FILE]
    assert b"kubernetesVersion: 1.30.10" in files[VARS_FILE]
    assert yaml.safe_load(files[STATE_PATH])["clusters"] == {"edge": {"version": "1.30.10", "source": "bump"}}
    # and the bot goes on from there: only the last step is left, rebuilt on the new main
    assert _outcomes(fleet.bump()) == {"gitops-engine/kubernetes-edge-1.31": "updated"}
    assert _parents(fleet, BRANCHES[2]) == [git.head_of(fleet.repo, "main").commit]


def test_a_spec_naming_a_newer_version_replaces_the_merged_bump(fleet: Fleet) -> None:
    fleet.bump()
    fleet.merge(BRANCHES[0])  # 1.29.14
    fleet.spec.write_text(fleet.spec.read_text().replace('kubernetesVersion: "1.29.4"', 'kubernetesVersion: "1.30.2"'))
    plan = plan_seed(SeedRequest(fleet.spec))
    assert plan.version_notes == ("clusters[edge]: the spec's Kubernetes 1.30.2 replaces the merged bump to 1.29.14",)
    seed(SeedRequest(fleet.spec))
    files = fleet.files()
    assert b"    version: v1.30.2\n" in files[CLUSTER_FILE]
    assert yaml.safe_load(files[STATE_PATH])["clusters"] == {"edge": {"version": "1.30.2", "source": "spec"}}


def test_the_report_shows_how_far_each_cluster_is_from_the_supported_minors(fleet: Fleet) -> None:
    report = run_report(LocalTarget(fleet.root / "fleet.git"), AdapterLookup(), policy_file=fleet.policy, now=NOW)
    rows = {r.clusters: r for r in report.rows if r.app == "kubernetes"}
    edge, host = rows[("edge",)], rows[("host",)]
    assert (edge.current, edge.newest_patch, edge.newest_minor, edge.minors_behind) == (
        "v1.29.4",
        "v1.29.14",
        "v1.32.3",
        3,
    )
    assert edge.status.value == "overdue"
    assert edge.note == "3 minors behind 1.32: out of support (supported: 1.30–1.32)"
    assert edge.held == "v1.31.7: ahead of management cluster host (1.31.4)"
    assert (host.current, host.minors_behind, host.status.value) == ("1.31.4", 1, "due")
    assert host.note.startswith("1 minor behind 1.32, supported (1.30–1.32); attached:")


def test_a_release_source_that_cannot_be_read_fails_the_run_and_keeps_the_branches(fleet: Fleet) -> None:
    fleet.bump()
    fleet.server.routes["/release/stable-1.30.txt"] = Route(body=b"<html>not found</html>")
    result = run_cli("bump", "--repo", str(fleet.root / "fleet.git"), "--policy", str(fleet.policy))
    assert result.code == 1
    assert f"lookup failed: GET {fleet.server.url}/release/stable-1.30.txt: " in result.err
    assert "is not a Kubernetes version" in result.err
    # nothing is known about what the branches should hold now: they stay
    assert all(git.head_of(fleet.repo, name).commit is not None for name in BRANCHES)


def test_a_curated_list_served_over_http_gives_the_versions_and_their_ages(fleet: Fleet) -> None:
    listed = "# platform-approved Kubernetes releases\nv1.29.10 2026-09-01\nv1.30.6 2026-11-20\n"
    fleet.server.routes["/approved.txt"] = Route(body=listed.encode())
    fleet.policy.write_text(
        f"kubernetes:\n  list: {fleet.server.url}/approved.txt\n"
        "rules:\n  - apps: [kubernetes]\n    minimum_release_age: 7d\n"
    )
    plan = fleet.bump(dry_run=True).plan
    assert [(p.target.text, p.line) for p in plan.proposals] == [("v1.29.10", "1.29")]
    assert [(h.version, h.reason) for h in plan.held] == [("v1.30.6", "released 2.0 days ago, policy waits 7 days")]


def test_outside_its_schedule_a_cluster_keeps_its_branches_and_says_why(fleet: Fleet) -> None:
    fleet.bump()
    # NOW is a Sunday: a Saturday window defers every step
    fleet.policy.write_text(
        fleet.policy.read_text() + 'rules:\n  - apps: [kubernetes]\n    schedule: ["sat 02:00-06:00"]\n'
    )
    result = fleet.bump()
    assert _outcomes(result) == {}
    assert all(git.head_of(fleet.repo, name).commit is not None for name in BRANCHES)
    assert ("v1.31.4", "outside the policy's schedule windows; existing branches are kept") in [
        (h.version, h.reason) for h in result.plan.held
    ]


# --- hand-written repositories: a Cluster the engine did not seed, charts with a kubeVersion ------------------

KUBE_URL = "https://releases.example.invalid/kubernetes"
HAND_CLUSTER = b"""\
# the edge cluster, written by hand
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {name: edge, namespace: fleet}
spec:
  topology:
    classRef: {name: edge}
    # the platform team pins this
    version: "v1.30.2"   # quoted on purpose
    controlPlane: {replicas: 3}
"""


def _vars(cluster: str, role: str, version: str) -> bytes:
    return f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: kommander-vars, namespace: kommander-flux}}
data:
  clusterName: {cluster}
  clusterRole: {role}
  kubernetesVersion: "{version}"
""".encode()


def _hand_tree(chart_version: str | None = None, management: str = "1.31.4") -> dict[str, bytes]:
    files = {
        "clusters/mgmt/kommander-vars.yaml": _vars("mgmt", "management", management),
        "clusters/edge/kommander-vars.yaml": _vars("edge", "workload", "1.30.2"),
        "fleet/edge.yaml": HAND_CLUSTER,
    }
    if chart_version is not None:
        files["clusters/edge/repo.yaml"] = REPO
        files["clusters/edge/app.yaml"] = release("app", chart_version)
    return files


def _kube_index(*versions: str) -> ChartIndex:
    return stable_index(KUBE_URL, versions)


def _chart_index(kube_version: str) -> ChartIndex:
    releases = (ChartRelease("app", "1.1.0", NOW - timedelta(days=90), kube_version=kube_version),)
    return ChartIndex(URL, MappingProxyType({"app": releases}))


def _propose(files: dict[str, bytes], indexes: dict[str, ChartIndex]) -> Plan:
    scan = with_release_source(scan_tree(files), KubernetesReleases(KUBE_URL))
    return propose(scan, indexes, Policy(), NOW)


def test_a_step_a_deployed_charts_kube_version_excludes_is_held_back_with_the_chart_named() -> None:
    indexes = {KUBE_URL: _kube_index("v1.30.9", "v1.31.4"), URL: _chart_index(">= 1.23.0 < 1.31.0")}
    plan = _propose(_hand_tree("1.1.0"), indexes)
    assert [(p.target.text, p.update.value) for p in plan.proposals] == [("v1.30.9", "patch")]
    reason = "chart app 1.1.0 (deployed on the cluster) requires kubeVersion >= 1.23.0 < 1.31.0"
    kubernetes = [(h.version, h.reason) for h in plan.held if h.use.app == "kubernetes"]
    assert kubernetes == [("v1.31.4", reason)]
    # the report and the dashboard say so
    scan = with_release_source(scan_tree(_hand_tree("1.1.0")), KubernetesReleases(KUBE_URL))
    rows = build_report(scan, indexes, Policy(), NOW, held=plan.held)
    assert [r.held for r in rows if r.app == "kubernetes" and r.clusters == ("edge",)] == [f"v1.31.4: {reason}"]
    page = dashboard.Dashboard("main", NOW, (), plan.held, {}, (), rows, 30, 60).markdown()
    shown = reason.replace(">", "&gt;").replace("<", "&lt;")  # the dashboard escapes HTML
    assert f"| kubernetes | kubernetes | `v1.30.2` | `v1.31.4` | {shown} | `fleet/edge.yaml:9` |" in page
    assert "| due: 1 minor behind 1.31, supported (1.29–1.31) | kubernetes | kubernetes | `v1.30.2` | edge |" in page


def test_a_chart_whose_kube_version_admits_the_next_minor_lets_the_step_through() -> None:
    indexes = {KUBE_URL: _kube_index("v1.30.9", "v1.31.4"), URL: _chart_index(">=1.25.0-0")}
    plan = _propose(_hand_tree("1.1.0"), indexes)
    assert [(p.target.text, p.after) for p in plan.proposals] == [("v1.30.9", ""), ("v1.31.4", "1.30")]


def test_a_chart_whose_repository_could_not_be_read_holds_the_step_back() -> None:
    plan = _propose(_hand_tree("1.1.0"), {KUBE_URL: _kube_index("v1.30.9")})
    assert plan.proposals == ()
    reason = "the kubeVersion of chart app 1.1.0 cannot be checked (its chart repository could not be read)"
    assert [(h.version, h.reason) for h in plan.held if h.use.app == "kubernetes"] == [("v1.30.9", reason)]


def test_a_minor_missing_from_the_source_stops_the_steps_before_it() -> None:
    plan = _propose(_hand_tree(management="1.33.0"), {KUBE_URL: _kube_index("v1.30.2", "v1.32.1")})
    assert plan.proposals == ()
    # the management cluster's own 1.33.0 counts as a known release too
    assert [(h.version, h.reason) for h in plan.held] == [
        ("v1.33.0", "no release of 1.31 is known (a minor cannot be skipped)")
    ]


def test_a_hand_written_cluster_keeps_its_quotes_and_comments_byte_for_byte(tmp_path: Path) -> None:
    commit_tree(tmp_path / "fleet.git", _hand_tree())
    (tmp_path / "currency.yaml").write_text('kubernetes:\n  versions: ["1.30.9", "1.31.4 2026-10-01"]\n')
    result = bump_target(
        LocalTarget(tmp_path / "fleet.git"), AdapterLookup(), policy_file=tmp_path / "currency.yaml", now=NOW
    )
    assert _outcomes(result) == {
        "gitops-engine/kubernetes-edge-1.30": "created",
        "gitops-engine/kubernetes-edge-1.31": "created",
    }
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    first = dict(git.read_tree(repo, git.head_of(repo, "gitops-engine/kubernetes-edge-1.30").tree))
    second = dict(git.read_tree(repo, git.head_of(repo, "gitops-engine/kubernetes-edge-1.31").tree))
    assert first["fleet/edge.yaml"] == HAND_CLUSTER.replace(b'"v1.30.2"   #', b'"v1.30.9"   #')
    assert second["fleet/edge.yaml"] == HAND_CLUSTER.replace(b'"v1.30.2"   #', b'"v1.31.4"   #')
    # the variables follow, spelled as they were (no state file: nothing else is written)
    assert second["clusters/edge/kommander-vars.yaml"] == _vars("edge", "workload", "1.31.4")
    assert set(second) == set(_hand_tree())


def test_bump_json_names_the_branch_each_step_is_built_on(fleet: Fleet) -> None:
    result = run_cli(
        "bump", "--repo", str(fleet.root / "fleet.git"), "--policy", str(fleet.policy), "--dry-run", "--json"
    )
    assert result.code == 0, result.err
    steps = [(p["branch"], p["after"]) for p in json.loads(result.out)["proposals"] if p["chart"] == "kubernetes"]
    assert steps == [(BRANCHES[0], None), (BRANCHES[1], BRANCHES[0]), (BRANCHES[2], BRANCHES[1])]


def test_a_minor_released_longer_ago_than_its_window_makes_the_cluster_overdue(fleet: Fleet) -> None:
    # NOW is 2026-11-22: 1.30.6 came out 52 days earlier, past the 30-day minor window; 1.29.10 is a patch
    listed = "1.29.4 2026-03-01\n1.29.10 2026-10-01\n1.30.6 2026-10-01\n"
    fleet.policy.write_text(
        f"kubernetes:\n  versions: {json.dumps(listed.splitlines())}\nwindows: {{minor_days: 60}}\n"
    )
    report = run_report(LocalTarget(fleet.root / "fleet.git"), AdapterLookup(), policy_file=fleet.policy, now=NOW)
    (edge,) = [r for r in report.rows if r.clusters == ("edge",)]
    assert (edge.status.value, edge.days_behind, edge.minors_behind) == ("due", 52, 1)
    fleet.policy.write_text(f"kubernetes:\n  versions: {json.dumps(listed.splitlines())}\n")
    report = run_report(LocalTarget(fleet.root / "fleet.git"), AdapterLookup(), policy_file=fleet.policy, now=NOW)
    (edge,) = [r for r in report.rows if r.clusters == ("edge",)]
    assert (edge.status.value, edge.note) == ("overdue", "1 minor behind 1.30, supported (1.28–1.30)")


def test_a_kubernetes_step_moves_no_chart_so_its_branch_carries_no_rendered_impact(fleet: Fleet) -> None:
    result = run_cli(
        "bump", "--repo", str(fleet.root / "fleet.git"), "--policy", str(fleet.policy), "--dry-run", "--json"
    )
    assert result.code == 0, result.err
    impacts = {b["name"]: b["impact"] for b in json.loads(result.out)["branches"]}
    assert {name: impacts[name] for name in BRANCHES} == dict.fromkeys(BRANCHES)
