"""The CI workflow and pre-commit hook shipped in repo-template (package data) run the engine's checks."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from tests.seed.helpers import reproducible_spec_text

TEMPLATE = resources.files("gitops_engine").joinpath("data", "repo-template")


def test_workflow_runs_validate_and_diff_on_pull_requests() -> None:
    workflow = yaml.safe_load(TEMPLATE.joinpath(".gitea", "workflows", "validate.yaml").read_text())
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1)
    assert "pull_request" in workflow[True]
    steps = workflow["jobs"]["validate"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    assert "gitops-engine validate --repo ." in commands
    assert 'gitops-engine diff "origin/${{ github.base_ref }}" "${{ github.sha }}"' in commands
    assert steps[0]["with"]["fetch-depth"] == 0


def test_pre_commit_hook_runs_validate() -> None:
    config = yaml.safe_load(TEMPLATE.joinpath(".pre-commit-config.yaml").read_text())
    (hook,) = config["repos"][0]["hooks"]
    assert hook["entry"] == "gitops-engine validate --repo ."
    assert hook["pass_filenames"] is False


def test_the_plan_step_comments_what_a_spec_pull_request_would_render(tmp_path: Path) -> None:
    """The workflow's plan step, run as the CI runner would: in a checkout with origin/main and the PR's commit."""
    steps = yaml.safe_load((TEMPLATE / ".gitea/workflows/validate.yaml").read_text())["jobs"]["validate"]["steps"]
    script = next(step["run"] for step in steps if "gitops-engine plan" in step.get("run", ""))
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache")})

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout

    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    (work / ".gitops-engine").mkdir()
    (work / ".gitops-engine/platform.yaml").write_text(reproducible_spec_text())
    git("add", "-A")
    git("commit", "-q", "-m", "spec")
    git("push", "-q", "origin", "HEAD:main")
    seeded = subprocess.run(
        ["gitops-engine", "seed", "--repo", str(origin), "--ref", "main"], env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    git("fetch", "-q", "origin")
    git("checkout", "-q", "-B", "pr", "origin/main")
    spec = work / ".gitops-engine/platform.yaml"
    spec.write_text(spec.read_text().replace("clusterDomain: cluster.local", "clusterDomain: cluster.example"))
    git("commit", "-q", "-am", "change the cluster domain")
    sha = git("rev-parse", "HEAD").strip()
    run = script.replace("${{ github.base_ref }}", "main").replace("${{ github.sha }}", sha)
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", run], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"### gitops-engine plan: merging `{sha}` into `origin/main`"
    assert "**5 file(s)** change." in done.stdout
    assert (work / "plan.md").read_text() == done.stdout
