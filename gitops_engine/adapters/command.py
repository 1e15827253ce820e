"""The single place external commands run: argv as a value, timeout, cwd, and error text."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitops_engine.core.errors import ToolError


@dataclass(frozen=True)
class Command:
    """A command to run later; never changes the process's working directory."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    timeout: float = 300.0
    ok_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Completed:
    """What a finished command returned."""

    returncode: int
    stdout: bytes
    stderr: bytes


def run(command: Command) -> Completed:
    """Run `command`; raise ToolError (with its stderr) on a code outside `ok_codes` or a timeout."""
    env = {**os.environ, **command.env} if command.env else None
    try:
        proc = subprocess.run(
            command.argv,
            cwd=command.cwd,
            env=env,
            input=command.stdin,
            capture_output=True,
            timeout=command.timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"`{command.argv[0]}` is not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"`{' '.join(command.argv)}` did not finish within {command.timeout:.0f} s") from exc
    if proc.returncode not in command.ok_codes:
        raise ToolError.from_process(command.argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def which(names: Sequence[str]) -> str | None:
    """The first of `names` found on PATH."""
    for name in names:
        for directory in os.environ.get("PATH", "").split(os.pathsep):
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None
