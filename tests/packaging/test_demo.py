"""scripts/demo as a new user runs it, from a copy of the checkout: quiet, runtime dependencies only, and the
living loop — seed, an upstream release on a loopback Helm repository, the scheduled pass's branch, the merge,
the re-seed."""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.packaging.test_installed_wheel import BUILD_IGNORE, user_environment

pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.timeout(900)]

STEPS = [
    "==> install gitops-engine into demo/.venv (runtime dependencies only)",
    "==> seed: a management cluster and a workload cluster into demo/fleet.git",
    "==> a chart mirror on 127.0.0.1: what the fleet runs today",
    "==> upstream releases cert-manager v1.17.0",
    "==> the scheduled pass (what the CronJob runs): reconcile proposes the update on a branch",
    "==> a reviewer merges gitops-engine/cert-manager-1",
    "==> the spec changes (team-a gets traefik too) and seed re-renders: the merged update stays",
    "==> validate the result like a pull request check would",
]


@dataclass(frozen=True)
class Demo:
    """What one run of the demo printed, and the folder it left."""

    code: int
    out: str
    err: str
    folder: Path

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "--git-dir", str(self.folder / "fleet.git"), *args], capture_output=True, text=True, check=True
        )
        return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    checkout = tmp_path_factory.mktemp("demo") / "checkout"

    def ignore(folder: str, names: list[str]) -> set[str]:
        # a demo/ left by an earlier run is not part of the checkout (scripts/demo is)
        return set(BUILD_IGNORE(folder, names)) - {"demo"} | ({"demo"} if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, checkout, ignore=ignore)
    home = checkout.parent / "home"
    home.mkdir()
    env = user_environment(home)
    env = {k: v for k, v in env.items() if not k.startswith("GITOPS_ENGINE_")}
    done = subprocess.run(
        ["bash", "scripts/demo"], cwd=checkout, env=env, capture_output=True, text=True, timeout=840, check=False
    )
    return Demo(done.returncode, done.stdout, done.stderr, checkout / "demo")


def test_the_demo_is_quiet_and_installs_runtime_dependencies_only(demo: Demo) -> None:
    noise = [line for line in (demo.out + demo.err).splitlines() if any(
        word in line.lower() for word in ("warning:", "deprecat", "setuptools", "notice]", "!!")
    )]  # fmt: skip
    assert noise == []
    site = next((demo.folder / ".venv" / "lib").glob("python3.*")) / "site-packages"
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"gitops_engine", "pygit2", "pyrage", "kubernetes_validate"} <= installed
    assert installed & {"pytest", "mypy", "ruff", "import_linter", "pytest_xdist"} == set()
    assert not (demo.folder.parent / "build").exists(), "the install built inside the checkout"


def test_the_demo_walks_the_living_loop_in_order(demo: Demo) -> None:
    lines = demo.out.splitlines()
    assert [line for line in lines if line.startswith("==> ")][:7] == STEPS[:7]
    assert "bump: gitops-engine/cert-manager-1: created " in demo.out
    assert "-      version: v1.16.2\n+      version: v1.17.0\n" in demo.out
    branches = demo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
    assert branches.split() == ["gitops-engine/cert-manager-1", "main"]
    subjects = demo.git("log", "--first-parent", "--format=%s", "main").splitlines()
    assert subjects[-3:] == [
        "Merge gitops-engine/cert-manager-1",
        next(s for s in subjects if s.startswith("Pull charts from the mirror at http://127.0.0.1:")),
        "gitops-engine seed",
    ]


def test_the_merged_update_survives_the_re_seed_and_validates(demo: Demo) -> None:
    subjects = demo.git("log", "--first-parent", "--format=%s", "main").splitlines()
    assert subjects[:2] == ["gitops-engine seed", "Merge gitops-engine/cert-manager-1"]
    release = demo.git("grep", "-h", "version: v1", "main", "--", "applications/cert-manager/*/helmrelease.yaml")
    assert release.split() == ["version:", "v1.17.0"]
    assert [line for line in demo.out.splitlines() if line.startswith("==> ")] == STEPS
    assert "0 error(s)" in demo.out
    assert demo.code == 0, demo.err


def test_the_demo_stops_its_chart_server(demo: Demo) -> None:
    subject = demo.git("log", "--format=%s", "--grep=Pull charts from the mirror", "main").strip()
    port = int(subject.rsplit(":", 1)[1])
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))
