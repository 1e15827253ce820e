"""One error tree for the whole engine; the CLI maps it to exit codes in one place."""

from __future__ import annotations

from collections.abc import Sequence

from gitops_engine.core.shown import shown


class GitopsError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1


class InputError(GitopsError):
    """The user's input (spec, catalog, file, flag) is wrong; each line names file:line and the fix."""

    exit_code = 2

    def __init__(self, lines: Sequence[str] | str) -> None:
        self.lines: tuple[str, ...] = (lines,) if isinstance(lines, str) else tuple(lines)
        super().__init__("\n".join(self.lines))


class ConflictError(GitopsError):
    """Someone else changed the target (a ref moved, a push was rejected); nothing was lost."""


class RefLockError(GitopsError):
    """A git lock file keeps a ref from being written: another process is writing it, or one crashed mid-write."""


class ToolError(GitopsError):
    """An external command failed; the message carries the command and what it printed."""

    @classmethod
    def from_process(cls, argv: Sequence[str], returncode: int, stderr: str) -> ToolError:
        """Build the error from a finished process, keeping the tail of its stderr (escaped: it may quote a server)."""
        tail = [shown(line) for line in stderr.strip().splitlines()[-20:]]
        detail = "\n".join(tail) if tail else "(no output)"
        return cls(f"`{' '.join(argv)}` exited {returncode}:\n{detail}")


class RemoteError(GitopsError):
    """A remote service (forge API, Helm repository, registry) answered with an error."""


class TransientRemoteError(RemoteError):
    """Worth retrying after `delay` seconds: 429, 5xx, a dropped connection."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentRemoteError(RemoteError):
    """Retrying will not help: 401, 403, 404, 409, 422."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SecretLeakError(GitopsError):
    """A plaintext secret was about to reach a git object; nothing was written."""


class LockedError(GitopsError):
    """Another run holds the repository lock (for `held_for` seconds, when its stamp says)."""

    exit_code = 0

    def __init__(self, message: str, held_for: float | None = None) -> None:
        super().__init__(message)
        self.held_for = held_for
