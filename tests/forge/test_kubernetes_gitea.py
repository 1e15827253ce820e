"""A managed cluster two minors behind on the test Gitea: two ordered pull requests, the second built on the first.

The repository holds a hand-written Cluster (`spec.topology.version: v1.29.8`) and the clusters' kommander-vars
(the management cluster on 1.31.2); the curated release list is written in the currency policy itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.forge.gitea import GiteaClient
from gitops_engine.adapters.targets import gitea_target
from gitops_engine.app.bump import Action, AdapterLookup, bump_target
from gitops_engine.model.tree import Tree
from tests.forge.gitea_server import GiteaServer
from tests.forge.support import publish_tree as publish
from tests.updates.support import NOW

CLUSTER = b"""\
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {name: edge, namespace: fleet}
spec:
  topology:
    classRef: {name: dev-in-memory}
    version: v1.29.8
"""
POLICY = b'kubernetes:\n  versions: ["v1.29.8", "v1.30.5", "v1.31.2"]\n'
FIRST, SECOND = "gitops-engine/kubernetes-edge-1.30", "gitops-engine/kubernetes-edge-1.31"


def _vars(cluster: str, role: str, version: str) -> bytes:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: kommander-vars, namespace: kommander-flux}}\n"
        f"data: {{clusterName: {cluster}, clusterRole: {role}, kubernetesVersion: '{version}'}}\n"
    ).encode()


def test_a_two_minor_gap_is_two_ordered_pull_requests_and_the_second_follows_the_first(
    gitea: GiteaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    monkeypatch.setenv("TEST_GITEA_TOKEN", tokens["alice"])
    target = gitea_target(
        {"url": gitea.url, "owner": "platform", "repository": "fleet", "tokenEnv": "TEST_GITEA_TOKEN"}, "test"
    )
    files = Tree(
        {
            "fleet/edge.yaml": CLUSTER,
            "clusters/host/kommander-vars.yaml": _vars("host", "management", "1.31.2"),
            "clusters/edge/kommander-vars.yaml": _vars("edge", "workload", "1.29.8"),
            ".gitops-engine/currency.yaml": POLICY,
        }
    )
    author = git.Signature("human", "h@example.invalid", 1_800_000_000)
    publish(target, "main", lambda _base: files, "fleet", author=author)

    first = bump_target(target, AdapterLookup(), now=NOW, cache_dir=tmp_path / "scans")
    assert {o.name: o.action for o in first.outcomes} == {FIRST: Action.CREATED, SECOND: Action.CREATED}
    pulls = {p.head_ref: p for p in gitea.pulls_of("platform", "fleet") if p.state == "open"}
    assert sorted(pulls) == [FIRST, SECOND]
    assert (pulls[FIRST].base, pulls[SECOND].base) == ("main", "main")
    assert pulls[FIRST].title == "Update Kubernetes of edge to v1.30.5"
    assert pulls[SECOND].title == "Update Kubernetes of edge to v1.31.2"
    assert "| edge | `v1.29.8` → `v1.30.5` | minor | `fleet/edge.yaml:7` |" in pulls[FIRST].body
    assert "Built on" not in pulls[FIRST].body
    assert f"Built on `{FIRST}`: Kubernetes upgrades one minor at a time, so merge that branch first" in (
        pulls[SECOND].body
    )
    # the dashboard lists both steps as pending updates
    (dashboard,) = [i for i in gitea.issues_of("platform", "fleet") if i.state == "open"]
    assert f"| `{FIRST}` | Update Kubernetes of edge to v1.30.5 |" in dashboard.body
    assert f"| `{SECOND}` | Update Kubernetes of edge to v1.31.2 |" in dashboard.body

    # the first is merged (a merge commit): the second stays the one open pull request; its branch already holds
    # the tree it should (its first commit is now in main's history), and its text no longer waits for the first
    with GiteaClient(gitea.url, tokens["alice"]) as client:
        client.merge_pull_request("platform", "fleet", pulls[FIRST].number)
    second = bump_target(target, AdapterLookup(), now=NOW, cache_dir=tmp_path / "scans")
    actions = {o.name: o.action for o in second.outcomes}
    assert actions == {SECOND: Action.UNCHANGED, FIRST: Action.SUPERSEDED}
    still_open = [p for p in gitea.pulls_of("platform", "fleet") if p.state == "open"]
    assert [(p.head_ref, p.number, p.base) for p in still_open] == [(SECOND, pulls[SECOND].number, "main")]
    assert "Built on" not in still_open[0].body
    assert "| edge | `v1.30.5` → `v1.31.2` | minor |" in still_open[0].body
