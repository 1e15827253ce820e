"""The bot end to end on real git repositories, with Helm indexes served over HTTP on 127.0.0.1.

Parity: on the Renovate peer's small-repo our highest proposal per release equals Renovate's recorded one.
Where Renovate is wrong it is asserted and explained here (see test_renovate_wrong_*).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.base import Comment, Forge, Issue, PullRequest
from gitops_engine.adapters.helmrepo import LookupOptions
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import Action, AdapterLookup, BumpResult, Lookup, bump
from gitops_engine.app.publish import open_target
from gitops_engine.cli.main import main
from gitops_engine.core.errors import ConflictError
from gitops_engine.model.charts import ChartIndex
from gitops_engine.updates.branches import BranchPlan
from gitops_engine.updates.scan import ChartSource
from gitops_engine.updates.versions import Version, parse_version
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import NOW, RENOVATE, SMALL_REPO, commit_tree, files_under, oci_stub_index
from tests.updates.support import renovate_index_bytes as make_index

PEER_URL = b"http://127.0.0.1:18879"


@pytest.fixture
def helm_server() -> Iterator[RepoServer]:
    with serving() as server:
        yield server


def run_bump(repo: Path, lookup: Lookup, *, forge: Forge | None = None, **options: Any) -> BumpResult:
    """One bot pass over a local repository, with `forge` standing in for the target's pull requests."""
    with open_target(LocalTarget(repo)) as session:
        return bump(replace(session, forge=forge) if forge is not None else session, lookup, **options)


class HelmAndStubLookup:
    """Helm sources through the real adapter over HTTP; OCI sources from the peer OCI stub's own tag list."""

    def __init__(self, cache: Path) -> None:
        self.helm = AdapterLookup(LookupOptions(cache_dir=cache))
        self.asked: list[list[str]] = []

    def __call__(self, sources: Sequence[ChartSource]) -> Mapping[str, ChartIndex]:
        self.asked.append([s.url for s in sources])
        found = dict(self.helm([s for s in sources if s.kind == "helm"]))
        found.update({s.url: oci_stub_index(s.url) for s in sources if s.kind == "oci"})
        return found


def small_repo(tmp_path: Path, server: RepoServer, extra: Mapping[str, bytes] | None = None) -> Path:
    """small-repo committed to a bare repository, its Helm URL pointed at `server`."""
    server.routes["/index.yaml"] = Route(body=make_index(tmp_path, server.url))
    files = {p: d.replace(PEER_URL, server.url.encode()) for p, d in files_under(SMALL_REPO).items()}
    repo = tmp_path / "fleet.git"
    commit_tree(repo, {**files, **(extra or {})})
    return repo


def highest(result: BumpResult) -> dict[str, str]:
    best: dict[str, str] = {}
    for p in sorted(result.plan.proposals, key=lambda p: p.target):
        best[p.use.path] = p.target.text
    return best


def test_small_repo_parity_with_renovate(tmp_path: Path, helm_server: RepoServer) -> None:
    repo = small_repo(tmp_path, helm_server)
    result = run_bump(repo, HelmAndStubLookup(tmp_path / "cache"), dry_run=True, now=NOW)
    renovate: dict[str, str] = {}
    for entry in json.loads((RENOVATE / "small-repo.renovate.json").read_text()):
        # separateMajorMinor gives some deps two proposals: compare the highest
        renovate[entry["file"]] = max(entry["proposed"], renovate.get(entry["file"], "0"), key=_version_key)
    assert highest(result) == renovate
    # Renovate is wrong on the range: it rewrote ">=55.0.0 <60.0.0" to "<67.0.0", dropping the lower bound the
    # user wrote; we widen the upper bound and keep the rest.
    (ranged,) = [p for p in result.plan.proposals if p.use.is_range]
    assert ranged.new_value == ">=55.0.0 <67.0.0"
    # What Renovate does not propose we skip, each with a reason.
    reasons = {s.use.path: s.reason for s in result.plan.skips}
    assert "does-not-exist" in reasons["clusters/prod/apps/unknown-src/helmrelease.yaml"]
    assert reasons["clusters/staging/apps/gitea/release.yaml"] == "no version: Flux already follows the newest"
    assert all(o.action is Action.PLANNED for o in result.outcomes)


def _version_key(text: str) -> Version:
    parsed = parse_version(text)
    assert parsed is not None
    return parsed


STAGING_REPO = b"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: local-charts
  namespace: flux-system
spec:
  url: %s
"""


def test_renovate_wrong_same_named_repository_in_two_clusters(tmp_path: Path, helm_server: RepoServer) -> None:
    """staging defines its own `local-charts` (an older mirror). Renovate links releases by kind/name/namespace
    across the whole repository and looks up only the first definition, so it proposes kube-prometheus-stack
    66.2.1 for staging (its recorded output) although staging's repository stops at 60.2.1."""
    index = yaml.safe_load(make_index(tmp_path, helm_server.url))
    index["entries"] = {
        name: [e for e in items if name != "kube-prometheus-stack" or int(str(e["version"]).split(".")[0]) <= 60]
        for name, items in index["entries"].items()
    }
    with serving() as mirror:
        mirror.routes["/index.yaml"] = Route(body=yaml.safe_dump(index).encode())
        staging = {"clusters/staging/infrastructure/repos.yaml": STAGING_REPO % mirror.url.encode()}
        repo = small_repo(tmp_path, helm_server, staging)
        result = run_bump(repo, HelmAndStubLookup(tmp_path / "cache"), dry_run=True, now=NOW)
    best = highest(result)
    assert best["clusters/staging/apps/kube-prometheus-stack/helmrelease.yaml"] == "60.2.1"
    assert best["clusters/prod/apps/kube-prometheus-stack/helmrelease.yaml"] == "66.2.1"
    staging_use = next(p for p in result.plan.proposals if "staging/apps/kube" in p.use.path)
    assert staging_use.source_url == mirror.url
    # cert-manager in staging is already on v1.16.2, the newest its own repository (the mirror) has
    assert "clusters/staging/apps/cert-manager/helmrelease.yaml" not in best


def test_a_rerun_reuses_the_branch_trees_it_remembers(
    tmp_path: Path, helm_server: RepoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_engine.app import bump as bump_module
    from gitops_engine.app.publish import Base, Change

    repo_path = small_repo(tmp_path, helm_server)
    lookup = HelmAndStubLookup(tmp_path / "cache")
    first = run_bump(repo_path, lookup, now=NOW, cache_dir=tmp_path / "memo")
    built: list[str] = []
    real = bump_module._branch_change

    def counting(base: Base, plan: BranchPlan) -> Change:
        built.append(plan.name)
        return real(base, plan)

    monkeypatch.setattr(bump_module, "_branch_change", counting)
    second = run_bump(repo_path, lookup, now=NOW, cache_dir=tmp_path / "memo")
    assert built == []
    assert [(o.name, o.action, o.commit) for o in second.outcomes] == [
        (o.name, Action.UNCHANGED, o.commit) for o in first.outcomes
    ]
    # another repository with the same base but without those trees (say, a fresh clone) builds them again
    other = tmp_path / "clone.git"
    head = git.open_repository(repo_path, create=False)
    commit_tree(other, dict(git.read_tree(head, git.head_of(head, "main").tree)))
    third = run_bump(other, lookup, now=NOW, cache_dir=tmp_path / "memo")
    assert sorted(built) == sorted(o.name for o in first.outcomes)
    assert [o.commit for o in third.outcomes] == [o.commit for o in first.outcomes]


def test_branches_are_idempotent_and_follow_upstream(tmp_path: Path, helm_server: RepoServer) -> None:
    repo_path = small_repo(tmp_path, helm_server)
    lookup = HelmAndStubLookup(tmp_path / "cache")
    first = run_bump(repo_path, lookup, now=NOW)
    created = {o.name: o for o in first.outcomes}
    assert {o.action for o in first.outcomes} == {Action.CREATED}
    assert "gitops-engine/podinfo-2" in created and "gitops-engine/podinfo-1" in created
    repo = git.open_repository(repo_path, create=False)
    base = git.read_tree(repo, git.head_of(repo, "main").tree)
    branch_tree = git.read_tree(repo, git.head_of(repo, "gitops-engine/traefik-33").tree)
    changed = [p for p in base if base[p] != branch_tree[p]]
    assert changed == ["clusters/prod/apps/traefik/helmrelease.yaml"]
    assert branch_tree[changed[0]] == base[changed[0]].replace(b"25.0.0 #", b"33.1.0 #")

    second = run_bump(repo_path, lookup, now=NOW)
    assert {o.action for o in second.outcomes} == {Action.UNCHANGED}
    assert [o.commit for o in second.outcomes] == [o.commit for o in first.outcomes]

    # upstream publishes traefik 33.3.0: the existing branch moves, no new branch appears
    index = yaml.safe_load(helm_server.routes["/index.yaml"].body)
    newer = dict(index["entries"]["traefik"][0], version="33.3.0", created="2026-01-01T00:00:00Z")
    index["entries"]["traefik"].insert(0, newer)
    helm_server.routes["/index.yaml"] = Route(body=yaml.safe_dump(index).encode())
    third = run_bump(repo_path, lookup, now=NOW)
    actions = {o.name: o.action for o in third.outcomes}
    assert actions["gitops-engine/traefik-33"] is Action.UPDATED
    assert sum(a is not Action.UNCHANGED for a in actions.values()) == 1
    assert len(third.outcomes) == len(first.outcomes)

    # the base moves on (someone merged podinfo 2.0.0): podinfo-1 is superseded, the others are rebased
    files = dict(base)
    path = "clusters/prod/apps/podinfo/helmrelease.yaml"
    files[path] = files[path].replace(b"1.0.0 #", b"2.0.0 #")
    new_base = commit_tree(repo_path, files, time=1_700_100_000)
    fourth = run_bump(repo_path, lookup, now=NOW)
    actions = {o.name: o.action for o in fourth.outcomes}
    assert actions["gitops-engine/podinfo-1"] is Action.SUPERSEDED
    assert "gitops-engine/podinfo-2" in actions and actions["gitops-engine/podinfo-2"] is Action.SUPERSEDED
    # without a forge there is no PR to close: the superseded branches are deleted
    assert git.head_of(repo, "gitops-engine/podinfo-1").commit is None
    assert git.head_of(repo, "gitops-engine/podinfo-2").commit is None
    assert actions["gitops-engine/traefik-33"] is Action.UPDATED
    traefik = git.head_of(repo, "gitops-engine/traefik-33").commit
    assert traefik is not None and str(repo[traefik].parents[0].id) == new_base  # type: ignore[attr-defined]


class FakeForge:
    """An in-memory forge with the Forge protocol's behaviour (a fake, not a mock)."""

    def __init__(self) -> None:
        self.prs: dict[int, PullRequest] = {}
        self.issues: dict[int, tuple[Issue, tuple[str, ...]]] = {}
        self.comments: list[tuple[int, str]] = []

    def find_open_pull_request(self, head: str, base: str) -> PullRequest | None:
        return next((p for p in self.prs.values() if (p.head, p.base, p.state) == (head, base, "open")), None)

    def list_open_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        return [p for p in self.prs.values() if p.state == "open" and p.head.startswith(head_prefix)]

    def open_pull_request(self, head: str, base: str, title: str, body: str, labels: Sequence[str] = ()) -> PullRequest:
        pr = PullRequest(len(self.prs) + 1, head, base, title, body, "open")
        self.prs[pr.number] = pr
        return pr

    def update_pull_request(self, number: int, title: str, body: str) -> PullRequest:
        old = self.prs[number]
        self.prs[number] = PullRequest(number, old.head, old.base, title, body, old.state)
        return self.prs[number]

    def close_pull_request(self, number: int, comment: str | None = None) -> None:
        old = self.prs[number]
        self.prs[number] = PullRequest(number, old.head, old.base, old.title, old.body, "closed")
        if comment:
            self.comments.append((number, comment))

    def comment(self, number: int, body: str) -> None:
        self.comments.append((number, body))

    def comments_of(self, number: int) -> list[Comment]:
        return [Comment(i, body) for i, (n, body) in enumerate(self.comments) if n == number]

    def edit_comment(self, comment_id: int, body: str) -> None:
        number, _ = self.comments[comment_id]
        self.comments[comment_id] = (number, body)

    def list_closed_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        return [p for p in self.prs.values() if p.state == "closed" and p.head.startswith(head_prefix)]

    def find_issues(self, label: str, marker: str) -> list[Issue]:
        found = [i for i, labels in self.issues.values() if i.state == "open" and label in labels and marker in i.body]
        return sorted(found, key=lambda issue: issue.number)

    def open_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        issue = Issue(len(self.prs) + len(self.issues) + 1, title, body, "open")
        self.issues[issue.number] = (issue, tuple(labels))
        return issue

    def edit_issue(self, number: int, title: str, body: str) -> Issue:
        old, labels = self.issues[number]
        self.issues[number] = (Issue(number, title, body, old.state), labels)
        return self.issues[number][0]

    def close_issue(self, number: int, comment: str | None = None) -> None:
        old, labels = self.issues[number]
        self.issues[number] = (Issue(number, old.title, old.body, "closed"), labels)
        if comment:
            self.comments.append((number, comment))


def test_pull_requests_are_opened_once_updated_and_closed(tmp_path: Path, helm_server: RepoServer) -> None:
    repo_path = small_repo(tmp_path, helm_server)
    lookup, forge = HelmAndStubLookup(tmp_path / "cache"), FakeForge()
    first = run_bump(repo_path, lookup, forge=forge, now=NOW)
    assert len(forge.prs) == len(first.branches)
    pr = next(p for p in forge.prs.values() if p.head == "gitops-engine/cert-manager-1")
    assert pr.title == "Update cert-manager to v1.16.2"
    assert "| cert-manager | prod | `v1.14.2` → `v1.16.2` | minor |" in pr.body
    assert "http://127.0.0.1:" in pr.body
    run_bump(repo_path, lookup, forge=forge, now=NOW)
    assert len(forge.prs) == len(first.branches)  # no duplicates on rerun
    files = git.read_tree(
        git.open_repository(repo_path, create=False),
        git.head_of(git.open_repository(repo_path, create=False), "main").tree,
    )
    path = "clusters/prod/apps/cert-manager/helmrelease.yaml"
    commit_tree(repo_path, {**files, path: files[path].replace(b"v1.14.2", b"v1.16.2")}, time=1_700_200_000)
    run_bump(repo_path, lookup, forge=forge, now=NOW)
    assert forge.prs[pr.number].state == "closed"
    assert any(n == pr.number and "Superseded" in c for n, c in forge.comments)


def test_cli_dry_run_json_and_text(
    tmp_path: Path, helm_server: RepoServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = small_repo(tmp_path, helm_server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # the OCI sources of small-repo have no registry here: their lookups fail, so the pass exits 1
    assert main(["bump", "--repo", str(repo), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "clusters/prod/apps/traefik/helmrelease.yaml:12: traefik 25.0.0 -> 33.1.0 (major) from http://" in out
    assert "clusters/prod/apps/unknown-src/helmrelease.yaml:2: gitea skipped:" in out
    assert "gitops-engine/traefik-33: planned" in out
    assert main(["bump", "--repo", str(repo), "--dry-run", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {p["file"] for p in data["proposals"]} >= {"clusters/prod/apps/gitea/helmrelease.yaml"}
    # the lookup failure is reported beside everything else the pass found
    assert any(url.startswith("oci://") for url in data["lookupFailures"])
    assert git.head_of(git.open_repository(repo, create=False), "gitops-engine/traefik-33").commit is None


def test_cli_bad_policy_exits_2_and_writes_nothing(
    tmp_path: Path, helm_server: RepoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = small_repo(tmp_path, helm_server, {".gitops-engine/currency.yaml": b"defaults:\n  update_types: [all]\n"})
    assert main(["bump", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: .gitops-engine/currency.yaml:2: defaults.update_types[0]: 'all' is not one of patch, minor, major"
    )
    assert git.branch_names(git.open_repository(repo, create=False), "gitops-engine/") == []


def test_a_branch_is_deleted_only_where_it_was_seen(tmp_path: Path) -> None:
    repo_path = tmp_path / "fleet.git"
    first = commit_tree(repo_path, {"a.yaml": b"a: 1\n"}, branch="gitops-engine/x-1")
    second = commit_tree(repo_path, {"a.yaml": b"a: 2\n"}, branch="gitops-engine/x-1", time=1_700_000_100)
    repo = git.open_repository(repo_path, create=False)
    with pytest.raises(ConflictError, match="moved while we worked"):
        git.delete_branch(repo, "gitops-engine/x-1", first)
    assert git.head_of(repo, "gitops-engine/x-1").commit == second
    git.delete_branch(repo, "gitops-engine/x-1", second)
    assert git.branch_names(repo, "gitops-engine/") == []
