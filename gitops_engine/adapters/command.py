"""The single place external commands run: argv as a value, timeout, cwd, environment, and error text.

A child never inherits an environment variable the engine read a secret from (a token, a credential, an age
identity): whoever reads one withholds it here. A child that needs a secret gets it by name in its Command's own
environment, as git's credential helper gets the token (adapters.transport).
"""

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


# names of the environment variables holding secrets this process read; kept out of every child's environment
_withheld: set[str] = set()


def withhold(name: str) -> None:
    """Keep the environment variable `name`, which holds a secret, from every command run after this."""
    _withheld.add(name)


@dataclass(frozen=True)
class Completed:
    """What a finished command returned."""

    returncode: int
    stdout: bytes
    stderr: bytes


def run(command: Command) -> Completed:
    """Run `command`; raise ToolError (with its stderr) on a code outside `ok_codes` or a timeout."""
    env = {name: value for name, value in os.environ.items() if name not in _withheld} | dict(command.env)
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
