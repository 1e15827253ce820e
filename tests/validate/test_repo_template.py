"""The CI workflow and pre-commit hook shipped in repo-template run the engine's checks."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT

TEMPLATE = ROOT / "repo-template"


def test_workflow_runs_validate_and_diff_on_pull_requests() -> None:
    workflow = yaml.safe_load((TEMPLATE / ".gitea/workflows/validate.yaml").read_text())
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1)
    assert "pull_request" in workflow[True]
    steps = workflow["jobs"]["validate"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    assert "gitops-engine validate --repo ." in commands
    assert 'gitops-engine diff "origin/${{ github.base_ref }}" "${{ github.sha }}"' in commands
    assert steps[0]["with"]["fetch-depth"] == 0


def test_pre_commit_hook_runs_validate() -> None:
    config = yaml.safe_load((TEMPLATE / ".pre-commit-config.yaml").read_text())
    (hook,) = config["repos"][0]["hooks"]
    assert hook["entry"] == "gitops-engine validate --repo ."
    assert hook["pass_filenames"] is False
