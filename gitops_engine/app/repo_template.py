"""The engine's repository template (package data): the workflows seed writes into every fleet repository."""

from __future__ import annotations

from importlib import resources

WORKFLOWS = ".gitea/workflows"


def workflow_templates() -> dict[str, bytes]:
    """`.gitea/workflows/<name>.yaml` → bytes, as shipped with the engine."""
    folder = resources.files("gitops_engine").joinpath("data", "repo-template", *WORKFLOWS.split("/"))
    return {
        f"{WORKFLOWS}/{entry.name}": entry.read_bytes()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.is_file() and entry.name.endswith(".yaml")
    }
