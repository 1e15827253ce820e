"""A generated 50-cluster fleet whose charts all come from one loopback Helm repository, and the runs over it.

The spec enables apps of the built-in catalog whose charts live in HTTP Helm repositories (OCI charts would be
looked up in public registries). The seeded HelmRepositories name their public upstreams, so after the first
seed an operator commits every HelmRepository URL pointed at the loopback mirror, as one pinning a chart mirror
would; the mirror's index offers newer versions of each chart, so `bump` has work. A re-seed later changes a
value, adds clusters and drops an app, so the second bump updates and supersedes branches.

Every run is the real CLI in a child process (optionally under tests.crash.killer) with its own HOME, config and
cache under one folder — a "world" — so a world can be copied and run again from the same state. The proxy
variables point at a closed port: a lookup that tried to leave 127.0.0.1 would fail the run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters import agekeys, git
from gitops_engine.app.seed import builtin_catalog_dir
from tests.conftest import ROOT

PLATFORM = "crashfleet"
CLUSTERS = 50
WORKSPACES = ("team-0", "team-1", "team-2", "team-3")
# apps whose charts come from HTTP Helm repositories; velero is dropped by the re-seed
APPS = ("cert-manager", "traefik", "gatekeeper", "dex", "kube-prometheus-stack", "grafana-loki", "velero", "metallb")
# the remote and concurrency suites: what they test grows with the pushes and passes, not with the fleet
SMALL_CLUSTERS = 12
SMALL_APPS = ("cert-manager", "traefik", "velero")
EPOCH = "1800000000"
OPERATOR = git.Signature("operator", "operator@example.invalid", 1_800_000_100)
KILLED = -signal.SIGKILL
SEED_SUBJECT = "gitops-engine seed"
PROPAGATE_SUBJECT = "Propagate catalog GitRepositories to workspaces and projects"
# the reconcile lock: an flock'd file that stays in place by design (adapters/lock.py); not a git lock
ENGINE_LOCK = "gitops-engine.lock"
RUN_TIMEOUT = 120
# the default run tries enough kill points to reach every kind of state a write path passes through; the others
# repeat a kind on another step or a neighbouring call, and are tried with CRASH_EVERY_POINT=1
ONLY_WITH_EVERY_POINT = pytest.mark.skipif(
    os.environ.get("CRASH_EVERY_POINT") != "1",
    reason="a kill point that repeats a kind of state the default run tries (CRASH_EVERY_POINT=1 tries it too)",
)


def platform_spec(
    *, reseeded: bool = False, grown: bool = False, clusters: int = CLUSTERS, apps: tuple[str, ...] = APPS
) -> str:
    """The fleet: one management cluster and (by default) 49 workload clusters over four workspaces, every app in
    each, and a catalog GitRepository that `propagate` copies into every workspace.

    The re-seeded spec changes one value, adds two clusters and drops velero. The grown one (the re-seeded spec
    as a later merged pull request changes it) changes the value again and adds a fifth workspace, with no
    clusters yet and every app: the catalog is to be propagated into it and the bot's edits reach it.
    """
    reseeded = reseeded or grown
    apps = tuple(a for a in apps if not (reseeded and a == "velero"))
    clusters += 2 if reseeded else 0
    retention = "60d" if grown else "45d" if reseeded else "30d"
    workspaces = (*WORKSPACES, "team-4") if grown else WORKSPACES
    lines = [
        "apiVersion: gitops-engine.io/v1alpha1",
        "kind: Platform",
        f"metadata: {{name: {PLATFORM}}}",
        "git: {repository: ./fleet.git, branch: main, url: https://git.example.invalid/fleet.git}",
        "ingress: {issuer: selfsigned, domain: example.invalid}",
        "catalog:",
        "  repositories:",
        "    - name: partner-catalog",
        "      url: https://git.example.invalid/partner-catalog.git",
        "      ref: {branch: main}",
        "      labels:",
        "        kommander.d2iq.io/gitapps-gitrepository-type: catalog",
        '        kommander.d2iq.io/workspace-default-catalog-repository: "true"',
        "workspaces:",
        "  - {name: management, namespace: kommander-workspace}",
        *(f"  - {{name: {w}, namespace: {w}}}" for w in workspaces),
        "clusters:",
        "  - {name: host, role: management, workspace: management, labels: {env: prod}}",
    ]
    for n in range(1, clusters):
        env = "dev" if n % 3 == 0 else "prod"
        workspace = WORKSPACES[n % len(WORKSPACES)]
        lines.append(f"  - {{name: c{n:02d}, role: workload, workspace: {workspace}, labels: {{env: {env}}}}}")
    lines.append("apps:")
    lines += [f"  - {{app: {a}, workspace: management}}" for a in apps[:4]]
    for workspace in workspaces:
        for app in apps:
            values = ""
            if app == "kube-prometheus-stack" and workspace == "team-0":
                values = f", values: {{prometheus: {{prometheusSpec: {{retention: {retention}}}}}}}"
            lines.append(f"  - {{app: {app}, workspace: {workspace}{values}}}")
    return "\n".join(lines) + "\n"


def small_spec(*, reseeded: bool = False, grown: bool = False) -> str:
    """The fleet of the remote and concurrency suites: 12 clusters, three apps."""
    return platform_spec(reseeded=reseeded, grown=grown, clusters=SMALL_CLUSTERS, apps=SMALL_APPS)


def mirror_index() -> bytes:
    """A Helm index with, for every HTTP chart of the built-in catalog, its version and the next patch, minor and
    major (written out here, not taken from the engine)."""
    charts: dict[str, str] = {}
    for metadata in sorted(builtin_catalog_dir().glob("*/*/metadata.yaml")):
        chart = yaml.safe_load(metadata.read_text())["chart"]
        if chart["repository"].startswith(("http://", "https://")):
            charts[chart["name"]] = chart["version"]
    entries: dict[str, list[dict[str, object]]] = {}
    for name, version in charts.items():
        prefix = "v" if version.startswith("v") else ""
        major, minor, patch = (int(part) for part in version.removeprefix("v").split("."))
        newer = (
            f"{major}.{minor}.{patch}",
            f"{major}.{minor}.{patch + 1}",
            f"{major}.{minor + 1}.0",
            f"{major + 1}.0.0",
        )
        entries[name] = [
            {"name": name, "version": prefix + v, "created": "2026-10-01T12:00:00Z", "urls": [f"{name}-{v}.tgz"]}
            for v in newer
        ]
    return yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()


@dataclass(frozen=True)
class World:
    """One folder holding the spec, the repository (for local targets) and the HOME the runs use."""

    root: Path

    @property
    def repo(self) -> Path:
        """The local target."""
        return self.root / "fleet.git"

    @property
    def home(self) -> Path:
        """HOME of every run: the age key under .config, the caches (and remote object stores) under .cache."""
        return self.root / "home"

    @property
    def cache(self) -> Path:
        """$XDG_CACHE_HOME of every run."""
        return self.home / ".cache"

    def copy(self, to: Path) -> World:
        """The same world in another folder (the repository, spec, key and caches copied as they are)."""
        shutil.copytree(self.root, to, symlinks=True)
        return World(to)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a run: this world's HOME, no user or system git config, no way off 127.0.0.1."""
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        closed = "http://127.0.0.1:9"
        env |= {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.cache),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(self.home / ".gitconfig"),
            "GIT_TERMINAL_PROMPT": "0",
            "PYTHONPATH": str(ROOT),
            "PYTHONHASHSEED": "0",
            "SOURCE_DATE_EPOCH": EPOCH,
            "HTTP_PROXY": closed,
            "HTTPS_PROXY": closed,
            "http_proxy": closed,
            "https_proxy": closed,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        return env | dict(extra or {})

    def start(
        self, argv: Sequence[str], kill_at: str | None = None, extra: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start the CLI (under the killer when `kill_at` names a point) in its own session."""
        env = self.env(extra)
        if kill_at is not None:
            env["CRASH_KILL_AT"] = kill_at
        return subprocess.Popen(
            [sys.executable, "-m", "tests.crash.killer", *argv],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(
        self, argv: Sequence[str], kill_at: str | None = None, extra: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI to its end (or its kill) and return what it printed."""
        proc = self.start(argv, kill_at, extra)
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def new_world(root: Path, spec: str, key: tuple[str, str] | None = None) -> World:
    """A world with the spec and an age identity made beforehand (`key`, else a new one), so every run of it
    renders the same files."""
    world = World(root)
    world.home.mkdir(parents=True)
    (root / "platform.yaml").write_text(spec)
    agekeys.write_identity(world.home / ".config" / "gitops-engine" / "age" / f"{PLATFORM}.agekey", key)
    return world


def checked(done: subprocess.CompletedProcess[str], what: str) -> str:
    """stdout of a run that must succeed."""
    assert done.returncode == 0, f"{what}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def point_helm_repositories_at(repo: Path, url: str) -> None:
    """Commit, as an operator pinning a chart mirror would, every HelmRepository URL of main set to `url`."""
    repository = git.open_repository(repo, create=False)
    files = git.read_tree(repository, git.head_of(repository, "main").tree)
    edited = {}
    for path, data in files.items():
        if path.startswith("common/helm-repositories/") and path != "common/helm-repositories/kustomization.yaml":
            edited[path] = re.sub(rb"\$\{helmMirrorURL:=[^}]*\}", url.encode(), data)
    assert edited and all(edited[p] != files[p] for p in edited), "every HelmRepository names the mirror variable"
    operator_commit(repo, edited, "charts from the mirror")


def operator_commit(repo: Path, files: Mapping[str, bytes], message: str) -> None:
    """Commit `files` (added or replaced) on main of the bare repository `repo`, as a person would."""
    repository = git.open_repository(repo, create=False)
    head = git.head_of(repository, "main")
    assert head.commit is not None and head.tree is not None
    tree = git.write_tree_changes(repository, head.tree, files)
    commit = git.create_commit(repository, tree, [head.commit], f"{message}\n", OPERATOR)
    git.move_branch(repository, "main", commit, head.commit, "operator")


def git_out(repo: Path, *args: str) -> str:
    """stdout of a git command on the bare repository `repo` (it must succeed)."""
    done = subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
    )  # fmt: skip
    assert done.returncode == 0, f"git {' '.join(args)} in {repo}: {done.stderr}"
    return done.stdout


def refs(repo: Path) -> dict[str, tuple[str, str]]:
    """Every branch and engine ref → (commit, tree)."""
    listing = git_out(
        repo, "for-each-ref", "--format=%(refname) %(objectname) %(tree)", "refs/heads", "refs/gitops-engine"
    )
    found: dict[str, tuple[str, str]] = {}
    for line in listing.splitlines():
        name, commit, tree = line.split()
        found[name] = (commit, tree)
    return found


def trees(found: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """ref → tree of a `refs` listing."""
    return {name: tree for name, (_, tree) in found.items()}


def added_to_main(start: Path, now: Path) -> list[str]:
    """Subjects of the commits main of the bare repository `now` has and main of `start` had not (all of them
    when `start` has no main), oldest first."""
    before = refs(start).get("refs/heads/main") if (start / "HEAD").exists() else None
    span = "main" if before is None else f"{before[0]}..main"
    return git_out(now, "log", "--reverse", "--format=%s", span).splitlines()


@dataclass(frozen=True)
class Leftovers:
    """What a crash left that a clean run does not: temporary pack files, scratch repositories beside the target
    (both harmless, and removed by a later write once an hour old), git lock files."""

    temporaries: tuple[str, ...]
    scratch: tuple[str, ...]
    locks: tuple[str, ...]


def assert_consistent(repo: Path, *, crashed_git: bool = False) -> Leftovers:
    """fsck --full clean, every ref at a complete commit, no git lock file (unless `crashed_git`: a git process
    killed while it held a ref lock leaves its lock file), leftovers only of the kinds the engine sweeps."""
    scratch = tuple(p.name for p in repo.parent.glob(f".{repo.name}.*.new"))
    if not (repo / "HEAD").exists():
        return Leftovers((), scratch, ())
    fsck = subprocess.run(
        ["git", "--git-dir", str(repo), "fsck", "--full", "--strict", "--no-dangling"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert fsck.returncode == 0, f"git fsck --full in {repo}:\n{fsck.stdout}\n{fsck.stderr}"
    assert "error" not in fsck.stderr and "missing" not in fsck.stderr, fsck.stderr
    for commit, _tree in refs(repo).values():
        # every object of the commit's tree is there: rev-list walks them all and fails on a missing one
        git_out(repo, "cat-file", "-e", f"{commit}^{{commit}}")
        git_out(repo, "rev-list", "--objects", "--quiet", commit)
    locks = tuple(
        str(p.relative_to(repo)) for p in repo.rglob("*.lock") if p.name != ENGINE_LOCK and p.parent != repo / "hooks"
    )
    assert crashed_git or locks == (), f"lock files left in {repo}: {locks}"
    temporaries = tuple(str(p.relative_to(repo)) for p in (repo / "objects").rglob("tmp*"))
    # the engine's own temporaries, which it sweeps; git's are named tmp_pack_* / tmp_idx_* (`git gc` prunes them)
    assert all(Path(t).name.startswith(("tmp_gitops-engine_", "tmp_pack_", "tmp_idx_")) for t in temporaries)
    return Leftovers(temporaries, scratch, locks)
