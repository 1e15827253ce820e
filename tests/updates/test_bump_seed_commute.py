"""The bump/seed commutation property: `bump` then `seed` changes nothing, and `seed` then `bump` gives the same
branch trees as `bump` alone — on the example spec and on a generated 50-cluster fleet.

Upstream offers, for every chart the fleet pins, the next patch and the next minor, and Kubernetes a newer patch
of every minor a managed cluster runs and of the two minors after it (a stand-in lookup: what is under test is how
the bot's edits and the seed's render agree, not the HTTP lookups, which have their own tests). The managed
clusters' Kubernetes steps are stacked branches: merging the last one merges every step before it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from gitops_engine.adapters import git
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import bump_target
from gitops_engine.app.seed import SeedRequest, builtin_catalog_dir, seed
from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.releases import stable_index
from gitops_engine.updates.uses import STABLE_RELEASES, ChartSource
from gitops_engine.updates.versions import parse_version
from tests.seed.helpers import reproducible_spec_text

NOW = datetime(2026, 11, 22, tzinfo=UTC)
RELEASED = datetime(2026, 9, 1, tzinfo=UTC)


class NextReleases:
    """Every chart the catalog knows, with its catalog versions and the next patch and minor of each."""

    def __init__(self) -> None:
        charts: dict[str, set[str]] = {}
        for metadata in builtin_catalog_dir().glob("*/*/metadata.yaml"):
            text = metadata.read_text()
            name = text.split("\n  name: ", 1)[1].split("\n", 1)[0].strip()
            version = text.split("\n  version: ", 1)[1].split("\n", 1)[0].strip()
            charts.setdefault(name, set()).update(_next(version))
        charts.setdefault("flux2", set()).update(_next("2.14.1"))
        self.charts = {name: tuple(sorted(v)) for name, v in charts.items()}

    def __call__(self, sources: Sequence[ChartSource]) -> Mapping[str, ChartIndex]:
        indexes: dict[str, ChartIndex] = {}
        for source in sources:
            if source.kind == STABLE_RELEASES:
                indexes[source.url] = stable_index(source.url, _kubernetes_patches(source.charts))
                continue
            releases = {
                chart: tuple(ChartRelease(chart, v, RELEASED) for v in self.charts.get(chart, ()))
                for chart in source.charts
            }
            indexes[source.url] = ChartIndex(source.url, MappingProxyType(releases))
        return indexes


def _kubernetes_patches(minors: Sequence[str]) -> list[str]:
    """A late patch (.20) of each minor asked and of the two after it."""
    major, _, lowest = min(minors, key=lambda m: int(m.split(".")[1])).partition(".")
    return [f"v{major}.{minor}.20" for minor in range(int(lowest), int(lowest) + 3)]


def _next(version: str) -> set[str]:
    parsed = parse_version(version)
    assert parsed is not None
    major, minor, patch = parsed.core[:3]
    prefix = "v" if version.startswith("v") else ""
    return {version, f"{prefix}{major}.{minor}.{patch + 1}", f"{prefix}{major}.{minor + 1}.0"}


def _fleet_spec(clusters: int) -> str:
    """A fleet of `clusters` workload clusters over five workspaces, each running a few catalog apps."""
    lines = [
        "apiVersion: gitops-engine.io/v1alpha1",
        "kind: Platform",
        "metadata: {name: big}",
        "git: {repository: ./fleet.git, url: https://git.example.com/big.git}",
        "age: {recipients: [age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl]}",
        "workspaces:",
        "  - {name: management, namespace: kommander-workspace}",
    ]
    lines += [f"  - {{name: ws{w}, namespace: ws{w}}}" for w in range(5)]
    lines += ["clusters:", '  - {name: host, role: management, workspace: management, kubernetesVersion: "1.31.4"}']
    lines += [
        f"  - {{name: c{i:02d}, role: workload, workspace: ws{i % 5}, labels: {{tier: t{i % 3}}}}}"
        if i % 10
        # every tenth cluster is managed, on a Kubernetes one or two minors behind the management cluster
        else f'  - {{name: c{i:02d}, workspace: ws{i % 5}, kubernetesVersion: "1.{29 + i // 10 % 2}.3", '
        "topology: {class: dev-in-memory, machineDeployments: [{name: md-0, class: default-worker}]}}"
        for i in range(clusters)
    ]
    lines += ["apps:", "  - {app: cert-manager, workspace: management}", "  - {app: traefik, workspace: management}"]
    for w in range(5):
        lines += [f"  - {{app: cert-manager, workspace: ws{w}}}", f"  - {{app: metallb, workspace: ws{w}}}"]
        lines += [f"  - {{app: external-dns, workspace: ws{w}, clusterSelector: {{matchLabels: {{tier: t{w % 3}}}}}}}"]
    lines += ['  - {app: velero, workspace: ws0, version: "8.1.0"}']
    return "\n".join(lines) + "\n"


SPECS: dict[str, Callable[[], str]] = {"example": reproducible_spec_text, "fleet-50": lambda: _fleet_spec(50)}


def _branch_trees(repo_path: Path) -> dict[str, str]:
    repo = git.open_repository(repo_path, create=False)
    return {name: str(git.head_of(repo, name).tree) for name in git.branch_names(repo, "gitops-engine/")}


def _bump(repo: Path) -> dict[str, str]:
    result = bump_target(LocalTarget(repo), NextReleases(), now=NOW, verify=False)
    assert not [o for o in result.outcomes if o.failed], [str(o) for o in result.outcomes if o.failed]
    return _branch_trees(repo)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_bump_then_seed_changes_nothing_and_seed_then_bump_gives_the_same_branches(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "platform.yaml"
    spec.write_text(SPECS[name]())
    assert seed(SeedRequest(spec, verify=False)).commit is not None
    pristine = tmp_path / "pristine.git"
    shutil.copytree(tmp_path / "fleet.git", pristine)

    alone = _bump(tmp_path / "fleet.git")
    assert len(alone) >= 3, alone  # patch and minor proposals of several apps: the property is not vacuous
    # and Kubernetes steps of the managed clusters, stacked: the property covers clusters too
    assert len([name for name in alone if name.startswith("gitops-engine/kubernetes-")]) >= 2, alone

    # seed then bump: the same branch trees as bump alone
    shutil.copytree(pristine, tmp_path / "second.git")
    second = SeedRequest(spec, repository=str(tmp_path / "second.git"), force=True, verify=False)
    assert seed(second).commit is None
    assert _bump(tmp_path / "second.git") == alone

    # bump then seed: with each branch merged, a full re-seed (no input-digest shortcut) changes nothing
    for branch in sorted(alone):
        merged = tmp_path / f"merged-{branch.replace('/', '-')}.git"
        shutil.copytree(tmp_path / "fleet.git", merged)
        repo = git.open_repository(merged, create=False)
        head, main = git.head_of(repo, branch), git.head_of(repo, "main")
        assert head.commit is not None
        git.move_branch(repo, "main", head.commit, main.commit, "merge")
        result = seed(SeedRequest(spec, repository=str(merged), force=True, verify=False))
        assert result.commit is None, (
            branch,
            result.plan.changed_files,
            [d.path for ph in result.plan.phases for d in ph.files][:10],
        )
