"""The engine as a user gets it: an sdist and a wheel built from it, installed into a new virtual environment.

The wheel is installed (not editable) into a venv of its own and every command runs from a temporary folder, so
nothing of the checkout is on the path: the built-in catalog, repo-template and schemas must come from the wheel.
Building and installing take a while (the dependencies come from pip's cache), so it happens once per module and
both tests run on one xdist worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import gitops_engine
from tests.conftest import ROOT
from tests.lookups.servers import Route, serving

pytestmark = pytest.mark.xdist_group("installed-wheel")

PACKAGE_DATA = (
    "gitops_engine/data/catalog/cert-manager/1.16.2/helmrelease.yaml",
    "gitops_engine/data/catalog/traefik/33.2.1/metadata.yaml",
    "gitops_engine/data/repo-template/.gitea/workflows/validate.yaml",
    "gitops_engine/data/repo-template/.pre-commit-config.yaml",
    "gitops_engine/data/flux-schemas/helm.toolkit.fluxcd.io_helmreleases.yaml",
    "gitops_engine/data/example-platform.yaml",
)
# What a Helm mirror serves for this test: newer cert-manager and flux2 releases than the catalog and seed use.
MIRROR_INDEX = b"""apiVersion: v1
entries:
  cert-manager:
  - {name: cert-manager, version: v1.17.0, created: "2026-10-02T12:00:00Z", urls: [cert-manager-v1.17.0.tgz]}
  - {name: cert-manager, version: v1.16.3, created: "2026-10-01T12:00:00Z", urls: [cert-manager-v1.16.3.tgz]}
  - {name: cert-manager, version: v1.16.2, created: "2026-09-01T12:00:00Z", urls: [cert-manager-v1.16.2.tgz]}
  flux2:
  - {name: flux2, version: 2.15.0, created: "2026-10-03T12:00:00Z", urls: [flux2-2.15.0.tgz]}
  - {name: flux2, version: 2.14.1, created: "2026-09-03T12:00:00Z", urls: [flux2-2.14.1.tgz]}
"""
# Charts the example pulls from public OCI registries; the test has no stand-in for those.
OCI_APPS = ("  - {app: zookeeper, project: analytics}\n", "  - {app: kafka, project: analytics}\n")
BUILD_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "node_modules", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", "demo"
)


@dataclass(frozen=True)
class Installed:
    """The built archives and the venv the wheel went into."""

    sdist: Path
    wheel: Path
    venv: Path
    home: Path

    def run(self, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a program of the venv (`gitops-engine`, `python`) from `cwd` with the user environment."""
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=cwd,
            env=user_environment(self.home),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def user_environment(home: Path) -> dict[str, str]:
    """This machine's environment without anything that would point Python at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env | {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config")}


def checked(proc: subprocess.CompletedProcess[str], what: str) -> str:
    """stdout of a step that must succeed; a failure says which step and shows its output."""
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=BUILD_IGNORE)
    venv = work / "venv"
    home = work / "home"
    home.mkdir()
    env = user_environment(home)

    def step(argv: list[str], what: str, cwd: Path = work) -> str:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
        return checked(proc, what)

    step([sys.executable, "-m", "venv", str(venv)], "creating a venv (needs python3-venv)")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    # The sdist is built with the setuptools the project asks for; the wheel is then built from the sdist alone.
    step([*pip, "install", "setuptools>=77"], "installing setuptools into the new venv")
    archives = work / "dist"
    build_sdist = f"from setuptools import build_meta; print(build_meta.build_sdist({str(archives)!r}))"
    built = step([str(venv / "bin" / "python"), "-c", build_sdist], "building the sdist", source)
    sdist = archives / built.splitlines()[-1]  # the build logs on stdout; the archive's name comes last
    step([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(archives), str(sdist)], "building the wheel")
    (wheel,) = archives.glob("gitops_engine-*.whl")
    step([*pip, "install", str(wheel)], "installing the wheel and its dependencies")
    return Installed(sdist, wheel, venv, home)


def test_sdist_and_wheel_carry_the_catalog_and_repo_template(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        top = installed.sdist.name.removesuffix(".tar.gz")
        in_sdist = {m.name.removeprefix(f"{top}/") for m in sdist.getmembers() if m.isfile()}
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    data = ROOT / "gitops_engine" / "data"
    in_checkout = {p.relative_to(ROOT).as_posix() for p in data.rglob("*") if p.is_file()}

    assert [p for p in PACKAGE_DATA if p not in in_checkout] == [], "the checkout itself lost package data"
    assert in_checkout - in_sdist == set()
    assert in_checkout - in_wheel == set()


def test_installed_wheel_runs_init_seed_validate_and_bump_against_a_loopback_mirror(
    installed: Installed, tmp_path: Path
) -> None:
    where = checked(
        installed.run("python", "-c", "import gitops_engine, importlib.metadata as m; "
                      "print(gitops_engine.__file__); print(m.version('gitops-engine'))", cwd=tmp_path),
        "importing the installed package",
    ).split()  # fmt: skip
    assert Path(where[0]).is_relative_to(installed.venv), where
    assert where[1] == gitops_engine.__version__
    version = checked(installed.run("gitops-engine", "--version", cwd=tmp_path), "gitops-engine --version")
    assert version == f"gitops-engine, version {gitops_engine.__version__}\n"

    checked(installed.run("gitops-engine", "init", cwd=tmp_path), "gitops-engine init")
    spec = tmp_path / "platform.yaml"
    text = spec.read_text()
    assert all(line in text for line in OCI_APPS), "the example spec changed; update OCI_APPS"
    for line in OCI_APPS:
        text = text.replace(line, "")

    with serving() as mirror:
        mirror.routes["/mirror/index.yaml"] = Route(body=MIRROR_INDEX)
        # Kubernetes' release files, for the example's managed cluster (1.30.8, its management cluster on 1.31.4)
        for name, version in (("stable", "v1.32.1"), ("stable-1.30", "v1.30.12"), ("stable-1.31", "v1.31.6")):
            mirror.routes[f"/kubernetes/{name}.txt"] = Route(body=f"{version}\n".encode())
        (tmp_path / "currency.yaml").write_text(f"kubernetes:\n  releases: {mirror.url}/kubernetes\n")
        url = f"{mirror.url}/mirror"
        # an air-gapped fleet as the spec declares it: the mirror is a variable of kommander-vars, and every
        # HelmRepository reads ${helmMirrorURL:=<upstream>}; bump must resolve it as Flux does
        mirror_line = "  # helmMirrorURL: https://charts.mirror.example.com"
        assert mirror_line in text, "the example spec changed; update the helmMirrorURL line"
        spec.write_text(text.replace(mirror_line, f"  helmMirrorURL: {url}"))

        seeded = checked(installed.run("gitops-engine", "seed", "-c", "platform.yaml", cwd=tmp_path), "seed")
        assert "committed" in seeded and "to main in fleet.git" in seeded
        key = installed.home / ".config" / "gitops-engine" / "age" / "example.agekey"
        assert key.stat().st_mode & 0o777 == 0o600

        validated = checked(
            installed.run("gitops-engine", "validate", "--repo", "fleet.git", "--ref", "main", cwd=tmp_path),
            "validate",
        )
        assert "0 error(s)" in validated

        branches_before = git(tmp_path / "fleet.git", installed.home, "branch", "--list")
        bump = installed.run(
            "gitops-engine", "bump", "--repo", "fleet.git", "--policy", "currency.yaml", "--dry-run", cwd=tmp_path
        )

        assert bump.returncode == 0, bump.stdout + bump.stderr
        assert f"cert-manager v1.16.2 -> v1.17.0 (minor) from {url} [host-cluster]" in bump.stdout
        assert (
            f"cert-manager v1.16.2 -> v1.17.0 (minor) from {url} [team-a-dev, team-a-prod, team-a-sandbox]"
        ) in bump.stdout
        sandbox = "cluster-api/clusters/team-a-sandbox/cluster.yaml:18: kubernetes"
        releases = f"from {mirror.url}/kubernetes [team-a-sandbox]"
        assert f"{sandbox} v1.30.8 -> v1.30.12 (patch) {releases}" in bump.stdout
        assert f"{sandbox} v1.30.12 -> v1.31.4 (minor) {releases}" in bump.stdout
        # Flux's own chart is the engine's to move (a new engine release does), not the bot's
        assert "flux2 skipped: rendered by gitops-engine itself (Flux's own chart)" in bump.stdout
        assert f"traefik skipped: chart traefik not found in {url}" in bump.stdout
        assert mirror.requests_for("/mirror/index.yaml"), "bump never asked the mirror"
        assert "https://" not in bump.stdout, "a lookup went past the mirror"
        assert git(tmp_path / "fleet.git", installed.home, "branch", "--list") == branches_before == "* main\n"


def git(cwd: Path, home: Path, *args: str) -> str:
    env: Mapping[str, str] = user_environment(home) | {
        "GIT_AUTHOR_NAME": "operator",
        "GIT_AUTHOR_EMAIL": "operator@example.invalid",
        "GIT_COMMITTER_NAME": "operator",
        "GIT_COMMITTER_EMAIL": "operator@example.invalid",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
    return checked(proc, f"git {' '.join(args)}")
