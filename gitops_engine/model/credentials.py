"""A username and password (or token) the engine supplies itself, for git remotes and chart repositories."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """Username and password; the password never appears in a repr, a log line or an error."""

    username: str
    password: str = field(repr=False)
