"""The fleet repository's own workflows, seeded from the engine's repository template (Gitea Actions syntax,
which GitHub Actions runs too): validate every pull request, and the currency pass.

Two lines follow the spec: the branch pull requests are validated against (git.branch), and the currency
workflow's schedule, present only when the spec runs the reconciler as a workflow (`reconciler.runner:
workflow`); otherwise that workflow runs only when started by hand, and the CronJob (or nothing) keeps time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from gitops_engine.model.platform import Platform

VALIDATE = ".gitea/workflows/validate.yaml"
CURRENCY = ".gitea/workflows/currency.yaml"
# the lines of the templates the spec replaces; a template without them is a packaging mistake
BRANCH_LINE = "    branches: [main]\n"
SCHEDULE_LINES = '  schedule:\n    - cron: "0 * * * *"\n'
_PLAIN_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


def workflow_files(platform: Platform, templates: Mapping[str, bytes]) -> dict[str, bytes]:
    """The workflow files for this spec, from `templates` (repository-template path → bytes)."""
    files: dict[str, bytes] = {}
    if VALIDATE in templates:
        branch = platform.git.branch if _PLAIN_BRANCH.match(platform.git.branch) else json.dumps(platform.git.branch)
        files[VALIDATE] = _replace_once(templates[VALIDATE], BRANCH_LINE, f"    branches: [{branch}]\n", VALIDATE)
    if CURRENCY in templates:
        reconciler = platform.reconciler
        scheduled = reconciler is not None and reconciler.runner == "workflow"
        schedule = f'  schedule:\n    - cron: "{reconciler.schedule}"\n' if reconciler and scheduled else ""
        files[CURRENCY] = _replace_once(templates[CURRENCY], SCHEDULE_LINES, schedule, CURRENCY)
    return files


def _replace_once(template: bytes, old: str, new: str, path: str) -> bytes:
    text = template.decode()
    if text.count(old) != 1:
        raise ValueError(f"repository template {path} must hold {old!r} exactly once")
    return text.replace(old, new).encode()
