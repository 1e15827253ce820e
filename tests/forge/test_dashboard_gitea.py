"""The dashboard issue on the OpenAPI-checked test Gitea, with the charts served by a loopback Helm repository.

One issue per repository and base branch: opened by the first pass, left alone by a pass with nothing new, edited
when upstream publishes or a chart repository goes down, deduplicated when two exist, never touched by a dry run,
and absent (without error) where the target has no forge.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.base import Issue
from gitops_engine.adapters.forge.gitea import GiteaClient, GiteaForge
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import GiteaTarget, LocalTarget, Target, gitea_target, parse_target
from gitops_engine.app.bump import AdapterLookup, BumpResult, bump, bump_target
from gitops_engine.app.dashboard import DashboardAction
from gitops_engine.app.publish import open_target
from gitops_engine.cli.main import main
from gitops_engine.model.tree import Tree
from gitops_engine.updates import dashboard
from tests.forge.gitea_server import Fault, GiteaServer
from tests.forge.support import publish_tree
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import NOW, commit_tree
from tests.updates.test_policy import release

AUTHOR = git.Signature("human", "h@example.invalid", 1_800_000_000)
POLICY = b"defaults: {update_types: [patch, minor]}\n"
INDEX = """apiVersion: v1
entries:
  podinfo:
  - {name: podinfo, version: 7.0.0, created: "2026-11-17T00:00:00Z", urls: [podinfo-7.0.0.tgz]}
  - {name: podinfo, version: 6.8.0, created: "2026-11-10T00:00:00Z", urls: [podinfo-6.8.0.tgz]}
  - {name: podinfo, version: 6.7.0, created: "2026-08-14T00:00:00Z", urls: [podinfo-6.7.0.tgz]}
  traefik:
  - {name: traefik, version: 33.1.0, created: "2026-09-13T00:00:00Z", urls: [traefik-33.1.0.tgz]}
  - {name: traefik, version: 25.0.0, created: "2026-05-06T00:00:00Z", urls: [traefik-25.0.0.tgz]}
"""
NEWER = """  - {name: podinfo, version: 6.9.0, created: "2026-11-20T00:00:00Z", urls: [podinfo-6.9.0.tgz]}
"""


@pytest.fixture
def helm_server() -> Iterator[RepoServer]:
    with serving() as server:
        server.routes["/index.yaml"] = Route(body=INDEX.encode())
        yield server


@pytest.fixture
def target(gitea: GiteaServer, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> GiteaTarget:
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    block = {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}
    return gitea_target(block, "test")


def _fleet(helm_url: str) -> Tree:
    charts = f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {{name: charts, namespace: flux-system}}
spec: {{url: {helm_url}}}
"""
    return Tree(
        {
            ".gitops-engine/currency.yaml": POLICY,
            "clusters/prod/charts.yaml": charts.encode(),
            "clusters/prod/podinfo.yaml": release("podinfo", "6.7.0"),
            "clusters/prod/traefik.yaml": release("traefik", "25.0.0"),
        }
    )


def _seed(target: Target, helm: RepoServer) -> None:
    publish_tree(target, "main", lambda _files: _fleet(helm.url), "fleet", author=AUTHOR)


def _bump(target: Target, tmp_path: Path, *, dry_run: bool = False) -> BumpResult:
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    return bump_target(target, lookup, now=NOW, cache_dir=tmp_path / "scans", dry_run=dry_run)


def _writes(gitea: GiteaServer, since: int = 0) -> list[str]:
    """The issue-writing API calls made after exchange number `since`."""
    issue_writes = ("issueCreateIssue", "issueEditIssue", "issueCreateComment")
    return [e.operation for e in gitea.exchanges[since:] if e.operation in issue_writes]


def _dashboards(gitea: GiteaServer) -> list[tuple[int, str]]:
    return [(i.number, i.state) for i in gitea.issues_of("platform", "fleet")]


def _body(gitea: GiteaServer, number: int) -> str:
    return next(i.body for i in gitea.issues_of("platform", "fleet") if i.number == number)


def test_the_dashboard_is_opened_once_left_alone_when_nothing_changed_and_edited_on_a_new_release(
    gitea: GiteaServer, helm_server: RepoServer, target: GiteaTarget, tmp_path: Path
) -> None:
    _seed(target, helm_server)
    first = _bump(target, tmp_path)
    assert first.dashboard is not None and first.dashboard.action is DashboardAction.CREATED
    # issues and pull requests share Gitea's numbering: the PR is #1, the dashboard #2
    assert (first.dashboard.number, first.dashboard.url) == (2, f"{gitea.url}/platform/fleet/issues/2")
    (issue,) = gitea.issues_of("platform", "fleet")
    assert issue.title == "gitops-engine dashboard (main)"
    labels = {label["id"]: label["name"] for label in gitea.labels[("platform", "fleet")]}
    assert [labels[i] for i in issue.labels] == ["gitops-engine-dashboard"]
    assert issue.body == (
        "<!-- gitops-engine:dashboard base=main -->\n"
        "**Last run:** 2026-11-22 (UTC) · **status:** ok · **base:** `main`\n"
        "\n"
        "This issue is rewritten by gitops-engine on every `bump` and `reconcile`; edits made here are lost.\n"
        "\n"
        "## Pending updates\n"
        "\n"
        "| Branch | Update | Changes | Pull request |\n"
        "|---|---|---|---|\n"
        "| `gitops-engine/podinfo-6` | Update podinfo to 6.8.0 | podinfo `6.7.0` → `6.8.0` (minor) "
        f"| [#1]({gitea.url}/platform/fleet/pulls/1) |\n"
        "\n"
        "## Held back by policy or compatibility\n"
        "\n"
        "| App | Chart | Current | Held back | Why | Where |\n"
        "|---|---|---|---|---|---|\n"
        "| podinfo | podinfo | `6.7.0` | `7.0.0` | major updates are not allowed | `clusters/prod/podinfo.yaml:8` |\n"
        "| traefik | traefik | `25.0.0` | `33.1.0` | major updates are not allowed | `clusters/prod/traefik.yaml:8` |\n"
        "\n"
        "## Failed lookups\n"
        "\n"
        "None.\n"
        "\n"
        "## Currency windows\n"
        "\n"
        "A new minor should land within 30 days of its release, a new major within 60.\n"
        "\n"
        "| Window | App | Chart | Current | Clusters | Newest minor | Newest major | Behind |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| overdue | traefik | traefik | `25.0.0` | prod | - | `33.1.0` | 70 days |\n"
        "| due | podinfo | podinfo | `6.7.0` | prod | `6.8.0` | `7.0.0` | 12 days |\n"
    )

    # nothing new: the dashboard is found and not written to
    seen = len(gitea.exchanges)
    second = _bump(target, tmp_path)
    assert second.dashboard is not None and second.dashboard.action is DashboardAction.UNCHANGED
    assert second.dashboard.number == 2
    assert _writes(gitea, seen) == []

    # upstream publishes 6.9.0: the PR and the dashboard move to it, still one issue
    helm_server.routes["/index.yaml"] = Route(body=(INDEX.replace("  podinfo:\n", "  podinfo:\n" + NEWER)).encode())
    seen = len(gitea.exchanges)
    third = _bump(target, tmp_path)
    assert third.dashboard is not None and third.dashboard.action is DashboardAction.UPDATED
    assert _writes(gitea, seen) == ["issueEditIssue"]
    assert _dashboards(gitea) == [(2, "open")]
    body = _body(gitea, 2)
    assert "| Update podinfo to 6.9.0 | podinfo `6.7.0` → `6.9.0` (minor) |" in body
    assert "| due | podinfo | podinfo | `6.7.0` | prod | `6.9.0` | `7.0.0` | 12 days |" in body


def test_a_chart_repository_that_goes_down_is_on_the_dashboard_and_bump_exits_1(
    gitea: GiteaServer,
    helm_server: RepoServer,
    target: GiteaTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(target, helm_server)
    first = _bump(target, tmp_path)
    assert first.dashboard is not None
    helm_server.routes["/index.yaml"].faults = ["500"] * 3
    repo = f"{gitea.url}/platform/fleet.git"
    assert main(["bump", "--repo", repo, "--gitea-token-env", "TEST_GITEA_TOKEN", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["dashboard"] == {
        "number": 2,
        "url": f"{gitea.url}/platform/fleet/issues/2",
        "action": "updated",
        "closed": [],
        "error": None,
    }
    body = _body(gitea, 2)
    assert "· **status:** 1 failure ·" in body
    failed = body.split("## Failed lookups\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert failed[:2] == ["| Chart repository | Reason |", "|---|---|"]
    assert len(failed) == 3 and failed[2].startswith(f"| {helm_server.url} | ") and "500" in failed[2]
    assert "| unknown: lookup failed | podinfo | podinfo | `6.7.0` | prod | - | - | - |" in body
    # the rest proceeded, and the branch and open pull request of the chart that could not be looked up are kept
    assert [(p.number, p.state) for p in gitea.pulls_of("platform", "fleet")] == [(1, "open")]
    assert gitea.branch_sha(gitea.repos[("platform", "fleet")], "gitops-engine/podinfo-6") is not None


def test_two_dashboards_found_keep_the_lowest_number_and_close_the_other(
    gitea: GiteaServer, helm_server: RepoServer, target: GiteaTarget, tmp_path: Path
) -> None:
    _seed(target, helm_server)
    first = _bump(target, tmp_path)
    assert first.dashboard is not None and first.dashboard.number == 2
    # another machine's run opened a second one
    with open_target(target) as session:
        assert session.forge is not None
        session.forge.open_issue(dashboard.title("main"), _body(gitea, 2), (dashboard.LABEL,))
    assert _dashboards(gitea) == [(2, "open"), (3, "open")]
    second = _bump(target, tmp_path)
    assert second.dashboard is not None
    assert (second.dashboard.number, second.dashboard.closed) == (2, (3,))
    assert _dashboards(gitea) == [(2, "open"), (3, "closed")]
    (closed,) = [i for i in gitea.issues_of("platform", "fleet") if i.number == 3]
    assert [body for _, _, body in closed.comments] == ["gitops-engine keeps one dashboard: #2."]


class _Racing(GiteaForge):
    """A forge whose first look for the dashboard misses it: the run racing ours opened it meanwhile."""

    missed = False

    def find_issues(self, label: str, marker: str) -> list[Issue]:
        if not self.missed:
            self.missed = True
            return []
        return super().find_issues(label, marker)


def test_a_run_that_raced_another_past_not_found_closes_its_own_issue_in_the_same_pass(
    gitea: GiteaServer, helm_server: RepoServer, target: GiteaTarget, tmp_path: Path, tokens: dict[str, str]
) -> None:
    _seed(target, helm_server)
    _bump(target, tmp_path)
    lookup = AdapterLookup(LookupOptions(cache_dir=tmp_path / "charts"))
    with open_target(target) as session, GiteaClient(gitea.url, tokens["alice"]) as client:
        result = bump(replace(session, forge=_Racing(client, "platform", "fleet")), lookup, now=NOW)
    assert result.dashboard is not None
    assert (result.dashboard.number, result.dashboard.closed) == (2, (3,))
    assert result.dashboard.action is DashboardAction.UNCHANGED
    assert _dashboards(gitea) == [(2, "open"), (3, "closed")]


def test_a_dry_run_never_touches_the_dashboard(
    gitea: GiteaServer, helm_server: RepoServer, target: GiteaTarget, tmp_path: Path
) -> None:
    _seed(target, helm_server)
    seen = len(gitea.exchanges)
    result = _bump(target, tmp_path, dry_run=True)
    assert result.dashboard is None
    assert [e for e in gitea.exchanges[seen:] if "ssue" in e.operation] == []
    assert gitea.issues_of("platform", "fleet") == []


def test_a_dashboard_that_cannot_be_written_is_a_failed_item_and_the_pass_still_completes(
    gitea: GiteaServer,
    helm_server: RepoServer,
    target: GiteaTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(target, helm_server)
    gitea.faults.append(Fault("POST", r"/api/v1/repos/platform/fleet/issues", 403))
    repo = f"{gitea.url}/platform/fleet.git"
    assert main(["bump", "--repo", repo, "--gitea-token-env", "TEST_GITEA_TOKEN"]) == 1
    captured = capsys.readouterr()
    assert "gitops-engine/podinfo-6: created" in captured.out
    (line,) = [x for x in captured.err.splitlines() if x.startswith("dashboard: failed: ")]
    assert "open issue" in line and "403" in line
    assert [(p.head, p.state) for p in gitea.pulls_of("platform", "fleet")] == [("gitops-engine/podinfo-6", "open")]
    assert gitea.issues_of("platform", "fleet") == []


def test_reconcile_json_names_the_dashboard_issue(
    gitea: GiteaServer,
    helm_server: RepoServer,
    target: GiteaTarget,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(target, helm_server)
    repo = f"{gitea.url}/platform/fleet"
    assert main(["reconcile", "--repo", repo, "--gitea-token-env", "TEST_GITEA_TOKEN", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dashboard"]["number"] == 2 and out["dashboard"]["action"] == "created"
    assert out["dashboard"]["url"] == f"{gitea.url}/platform/fleet/issues/2"
    (step,) = [s for s in out["steps"] if s["name"] == "bump"]
    assert step["status"] == "ok" and f"dashboard: created #2 {gitea.url}/platform/fleet/issues/2" in step["items"]


def test_plain_remote_and_local_targets_have_no_dashboard_and_no_error(
    gitea: GiteaServer,
    helm_server: RepoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = tmp_path / "git-credentials"
    store.write_text(f"http://alice:alice-password@{gitea.url.removeprefix('http://')}\n")
    store.chmod(0o600)
    subprocess.run(["git", "config", "--global", "credential.helper", f"store --file={store}"], check=True)
    gitea.add_plain_repo("plain", "fleet")
    remote = parse_target(f"{gitea.url}/plain/fleet.git")
    _seed(remote, helm_server)
    result = _bump(remote, tmp_path)
    assert result.branches and result.dashboard is None
    local = tmp_path / "fleet.git"
    commit_tree(local, dict(_fleet(helm_server.url)))
    assert main(["bump", "--repo", str(local), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dashboard"] is None
    assert _bump(LocalTarget(local), tmp_path).dashboard is None
    assert all("ssue" not in e.operation for e in gitea.exchanges)
