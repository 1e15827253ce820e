"""Shared helpers for seed tests: the example spec, in-process CLI, and a seeded repository."""

from __future__ import annotations

import hashlib
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gitops_engine.cli.main import main

# A public age recipient whose identity nobody keeps: for renders that must not depend on a generated key.
FIXED_RECIPIENT = "age1hn8g387aljkqkg5dg2zt2sganzrnevxl49tmcu4k3z5ffrdq8qvqn2knsl"


def example_spec_text() -> str:
    """The spec `gitops-engine init` writes."""
    return resources.files("gitops_engine").joinpath("data/example-platform.yaml").read_text()


def reproducible_spec_text() -> str:
    """The example with a fixed recipient and without Gitea, whose admin password is generated at random."""
    text = example_spec_text().replace("  - {app: gitea, workspace: management}\n", "")
    return text + f"\nage:\n  recipients:\n    - {FIXED_RECIPIENT}\n"


@dataclass(frozen=True)
class CliRun:
    """Exit code and captured output of one in-process CLI run."""

    code: int
    out: str
    err: str


def run_cli(*args: str) -> CliRun:
    """Run the CLI in this process, capturing stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return CliRun(code, out.getvalue(), err.getvalue())


def write_example(directory: Path, text: str | None = None) -> Path:
    """Write the example spec (or `text`) as platform.yaml in `directory`."""
    spec = directory / "platform.yaml"
    spec.write_text(text if text is not None else example_spec_text())
    return spec


def snapshot_directory(root: Path) -> dict[str, str]:
    """Relative path → sha256 (and mode) of every file below `root`: 'byte-for-byte unchanged' checks."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = hashlib.sha256(full.read_bytes()).hexdigest() + oct(
                full.stat().st_mode
            )
    return out
