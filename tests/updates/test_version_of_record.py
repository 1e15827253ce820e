"""A merged bot bump is what the fleet runs: re-seeds keep it, the bump writes what a seed would render.

The fleet: two clusters, one catalog app (`lbx`, a copy of the built-in metallb folder whose chart repository
is a loopback Helm server offering a newer version), seeded from a spec; the other chart source every fleet has
(Flux's own) is kept off the network by a proxy that refuses every connection.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.adapters.targets import LocalTarget
from gitops_engine.app.bump import Action, AdapterLookup, bump_target
from gitops_engine.app.seed import SeedRequest, builtin_catalog_dir, plan_seed, seed
from gitops_engine.app.validate import validate_repository
from gitops_engine.model.catalog import helm_repository_name
from gitops_engine.model.state import STATE_PATH
from tests.lookups.servers import RepoServer, Route, serving
from tests.updates.support import NOW

OLD, NEW = "0.14.8", "0.14.9"
HUMAN = git.Signature("human", "human@example.invalid", 1_800_000_000)
SPEC = """\
apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata:
  name: record
git:
  repository: ./fleet.git
  url: https://git.example.com/platform/fleet.git
catalog:
  paths:
    - ./catalog
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
apps:
  - {app: lbx, workspace: management}
  - {app: lbx, workspace: team-a, values: {speaker: {enabled: true}}}
age:
  recipients:
    - age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl
"""


def _index(url: str, *versions: str) -> bytes:
    entries = [
        {"name": "lbx", "version": v, "urls": [f"{url}/lbx-{v}.tgz"], "created": "2026-10-01T00:00:00Z"}
        for v in versions
    ]
    return yaml.safe_dump({"apiVersion": "v1", "entries": {"lbx": entries}}).encode()


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

    def files(self, branch: str = "main") -> dict[str, bytes]:
        return dict(git.read_tree(self.repo, git.head_of(self.repo, branch).tree))

    def bump(self) -> dict[str, str]:
        result = bump_target(
            LocalTarget(self.root / "fleet.git"), AdapterLookup(), now=NOW, cache_dir=self.root / "scans"
        )
        failed = [o.error for o in result.outcomes if o.failed]
        assert not failed, failed
        return {o.name: o.action.value for o in result.outcomes if o.action is not Action.SUPERSEDED}

    def merge(self, branch: str) -> None:
        """Fast-forward main to the bot's branch, as a forge's merge button would (the branch is on main)."""
        repo = self.repo
        head, main = git.head_of(repo, branch), git.head_of(repo, "main")
        assert head.commit is not None
        git.move_branch(repo, "main", head.commit, main.commit, "merge")

    def hand_edit(self, path: str, old: bytes, new: bytes) -> None:
        repo, head = self.repo, git.head_of(self.repo, "main")
        files = self.files()
        assert old in files[path]
        files[path] = files[path].replace(old, new)
        commit = git.create_commit(repo, git.write_tree(repo, files), [head.commit or ""], "hand edit", HUMAN)
        git.move_branch(repo, "main", commit, head.commit, "human")


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    yield from _fleet(tmp_path, monkeypatch, chart_prefix="")


def _fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chart_prefix: str) -> Iterator[Fleet]:
    """The fleet of the module doc; its chart versions spelled `{chart_prefix}0.14.8` (the folder stays 0.14.8)."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serving() as server:
        source = builtin_catalog_dir() / "metallb" / OLD
        folder = tmp_path / "catalog" / "lbx" / OLD
        shutil.copytree(source, folder)
        for item in folder.iterdir():
            text = item.read_text().replace(
                "name: metallb.github.io-metallb", f"name: {helm_repository_name(server.url)}"
            )
            text = text.replace("chart: metallb", "chart: lbx").replace("name: metallb", "name: lbx")
            text = text.replace("https://metallb.github.io/metallb", server.url)
            text = text.replace(f"version: {OLD}", f"version: {chart_prefix}{OLD}")
            item.write_text(text)
        server.routes["/index.yaml"] = Route(body=_index(server.url, f"{chart_prefix}{OLD}", f"{chart_prefix}{NEW}"))
        (tmp_path / "platform.yaml").write_text(SPEC)
        result = seed(SeedRequest(tmp_path / "platform.yaml"))
        assert result.commit is not None
        yield Fleet(tmp_path, server)


def _kustomization(files: dict[str, bytes], cluster: str, workspace: str) -> dict[str, object]:
    loaded = yaml.safe_load(files[f"clusters/{cluster}/apps/{workspace}/lbx.yaml"])
    assert isinstance(loaded, dict)
    return loaded


def test_the_bump_writes_what_a_seed_with_the_new_version_renders(fleet: Fleet) -> None:
    assert fleet.bump() == {"gitops-engine/lbx-0": "created"}
    files = fleet.files("gitops-engine/lbx-0")
    assert not any(p.startswith(f"applications/lbx/{OLD}/") for p in files)
    release = yaml.safe_load(files[f"applications/lbx/{NEW}/helmrelease.yaml"])
    assert release["spec"]["chart"]["spec"]["version"] == NEW
    assert yaml.safe_load(files[f"applications/lbx/{NEW}/metadata.yaml"])["chart"]["version"] == NEW
    for cluster, workspace in (("host", "management"), ("edge", "team-a")):
        ks = _kustomization(files, cluster, workspace)
        assert ks["spec"]["path"] == f"./applications/lbx/{NEW}"  # type: ignore[index]
        assert ks["spec"]["postBuild"]["substitute"]["appVersion"] == NEW  # type: ignore[index]
        assert ks["metadata"]["labels"]["gitops-engine.io/app-version"] == NEW  # type: ignore[index]
    overrides = yaml.safe_load(files["clusters/edge/apps/team-a/lbx-overrides.yaml"])
    assert overrides["metadata"]["labels"]["gitops-engine.io/app-version"] == NEW
    state = yaml.safe_load(files[STATE_PATH])
    assert state["apps"] == {
        "lbx@management": {"version": NEW, "source": "bump"},
        "lbx@team-a": {"version": NEW, "source": "bump"},
    }
    report, _ = validate_repository(str(fleet.root / "fleet.git"), "gitops-engine/lbx-0")
    assert report.errors == ()
    # exactly what a seed renders with the bumped version: after the merge a forced full re-seed changes nothing
    fleet.merge("gitops-engine/lbx-0")
    forced = seed(SeedRequest(fleet.spec, force=True))
    assert forced.commit is None


def test_a_merged_bump_survives_a_re_seed_of_a_changed_spec(fleet: Fleet) -> None:
    fleet.bump()
    fleet.merge("gitops-engine/lbx-0")
    fleet.spec.write_text(fleet.spec.read_text().replace("speaker: {enabled: true}", "speaker: {enabled: false}"))
    result = seed(SeedRequest(fleet.spec))
    assert result.commit is not None
    files = fleet.files()
    assert f"applications/lbx/{NEW}/helmrelease.yaml" in files
    assert not any(p.startswith(f"applications/lbx/{OLD}/") for p in files)
    assert _kustomization(files, "edge", "team-a")["spec"]["path"] == f"./applications/lbx/{NEW}"  # type: ignore[index]
    assert b"enabled: false" in files["clusters/edge/apps/team-a/lbx-overrides.yaml"]
    report, _ = validate_repository(str(fleet.root / "fleet.git"), "main")
    assert report.errors == ()
    # and the bot has nothing left to propose
    assert fleet.bump() == {}


def test_a_spec_pin_wins_over_a_merged_bump_and_the_plan_says_so(fleet: Fleet) -> None:
    fleet.bump()
    fleet.merge("gitops-engine/lbx-0")
    pinned = fleet.spec.read_text().replace(
        "{app: lbx, workspace: team-a,", f'{{app: lbx, workspace: team-a, version: "{OLD}",'
    )
    fleet.spec.write_text(pinned)
    plan = plan_seed(SeedRequest(fleet.spec))
    assert plan.version_notes == (f"lbx@team-a: the spec pins {OLD}; the merged bump to {NEW} is replaced",)
    seed(SeedRequest(fleet.spec))
    files = fleet.files()
    # team-a runs the pinned folder again, management keeps the bump: both folders are there
    assert _kustomization(files, "edge", "team-a")["spec"]["path"] == f"./applications/lbx/{OLD}"  # type: ignore[index]
    assert _kustomization(files, "host", "management")["spec"]["path"] == f"./applications/lbx/{NEW}"  # type: ignore[index]
    state = yaml.safe_load(files[STATE_PATH])
    assert state["apps"]["lbx@team-a"] == {"version": OLD, "source": "spec"}
    assert state["apps"]["lbx@management"] == {"version": NEW, "source": "bump"}


def test_a_hand_edit_of_a_deployment_is_carried_by_the_bump_and_the_next_re_seed(fleet: Fleet) -> None:
    path = "clusters/edge/apps/team-a/lbx.yaml"
    fleet.hand_edit(path, b"interval: 6h", b"interval: 3m")
    fleet.bump()
    assert b"interval: 3m" in fleet.files("gitops-engine/lbx-0")[path]
    fleet.merge("gitops-engine/lbx-0")
    fleet.spec.write_text(fleet.spec.read_text().replace("speaker: {enabled: true}", "speaker: {enabled: false}"))
    seed(SeedRequest(fleet.spec))
    text = fleet.files()[path].decode()
    assert "interval: 3m" in text and f"./applications/lbx/{NEW}" in text and "<<<<<<<" not in text


def test_an_app_only_spec_pinned_deployments_run_is_held_back(fleet: Fleet) -> None:
    text = fleet.spec.read_text().replace(
        "{app: lbx, workspace: management}", f'{{app: lbx, workspace: management, version: "{OLD}"}}'
    )
    text = text.replace("{app: lbx, workspace: team-a,", f'{{app: lbx, workspace: team-a, version: "{OLD}",')
    fleet.spec.write_text(text)
    seed(SeedRequest(fleet.spec))
    result = bump_target(LocalTarget(fleet.root / "fleet.git"), AdapterLookup(), now=NOW, dry_run=True)
    skips = [s.reason for s in result.plan.skips if s.use.chart == "lbx"]
    assert set(skips) == {"pinned by the platform spec (lbx@management, lbx@team-a); change the pin there to move it"}
    assert not result.plan.proposals or all(p.use.chart != "lbx" for p in result.plan.proposals)


def test_a_bump_that_would_break_a_hand_written_kustomization_is_not_written(fleet: Fleet) -> None:
    """A human Kustomization still building the old folder: moving the folder would break it, so the branch is
    refused with the finding (verification), and nothing is pushed."""
    path = "clusters/edge/apps.yaml"
    extra = (
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: extra-lbx\n"
        f"  namespace: kommander-flux\nspec:\n  interval: 10m\n  path: ./applications/lbx/{OLD}\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: management\n"
    )
    files = fleet.files()
    fleet.hand_edit(path, files[path], files[path] + extra.encode())
    result = bump_target(
        LocalTarget(fleet.root / "fleet.git"), AdapterLookup(), now=NOW, cache_dir=fleet.root / "scans"
    )
    (outcome,) = [o for o in result.outcomes if o.name == "gitops-engine/lbx-0"]
    assert outcome.failed
    assert "refusing to commit" in outcome.error and "[ks-path-missing]" in outcome.error
    assert "extra-lbx" in outcome.error
    assert git.head_of(fleet.repo, "gitops-engine/lbx-0").commit is None


@pytest.fixture
def v_fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """cert-manager's way: chart v0.14.8 served by the catalog folder 0.14.8; upstream publishes v0.14.9."""
    yield from _fleet(tmp_path, monkeypatch, chart_prefix="v")


def test_a_chart_spelled_with_a_v_moves_to_a_folder_spelled_as_the_catalog_spells_its_own(v_fleet: Fleet) -> None:
    fleet = v_fleet
    assert fleet.bump() == {"gitops-engine/lbx-0": "created"}
    files = fleet.files("gitops-engine/lbx-0")
    assert sorted({p.split("/")[2] for p in files if p.startswith("applications/lbx/")}) == [NEW]
    release = yaml.safe_load(files[f"applications/lbx/{NEW}/helmrelease.yaml"])
    assert release["spec"]["chart"]["spec"]["version"] == f"v{NEW}"
    assert yaml.safe_load(files[f"applications/lbx/{NEW}/metadata.yaml"])["chart"]["version"] == f"v{NEW}"
    ks = _kustomization(files, "edge", "team-a")
    assert ks["spec"]["path"] == f"./applications/lbx/{NEW}"  # type: ignore[index]
    assert ks["metadata"]["labels"]["gitops-engine.io/app-version"] == NEW  # type: ignore[index]
    assert yaml.safe_load(files[STATE_PATH])["apps"]["lbx@team-a"] == {"version": NEW, "source": "bump"}
    fleet.merge("gitops-engine/lbx-0")
    assert seed(SeedRequest(fleet.spec, force=True)).commit is None
    assert fleet.bump() == {}
