"""Observing what a command runs: kustomize through a recording shim, the Helm extra hidden from a child process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Runs the CLI as if `gitops-engine[helm]` were not installed: the import is blocked and its distribution is not
# found. The child prints, last, whether the Helm SDK was imported anyway.
WITHOUT_HELM = """\
import sys, importlib.metadata as m
sys.modules['helm_python'] = None
real = m.version
def version(name):
    if name == 'helm-python-sdk':
        raise m.PackageNotFoundError(name)
    return real(name)
m.version = version
from gitops_engine.cli.main import main
code = main(sys.argv[1:])
print('helm_python loaded:', sys.modules.get('helm_python') is not None, file=sys.stderr)
sys.exit(code)
"""


def recording_kustomize(directory: Path) -> tuple[str, Path]:
    """A PATH whose `kustomize` and `kubectl` log each call to the returned file before running the real tool."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "calls.log"
    log.touch()
    for name in ("kustomize", "kubectl"):
        real = shutil.which(name)
        if real is None:
            continue
        shim = directory / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", log


def builds(log: Path) -> list[str]:
    """The kustomize builds the log recorded (version queries left out)."""
    return [line for line in log.read_text().splitlines() if " version" not in line]
