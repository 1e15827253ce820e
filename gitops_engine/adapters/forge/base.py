"""The small interface every forge offers the engine: find, open, update, close and comment on pull requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the engine needs to know it."""

    number: int
    head: str
    base: str
    title: str
    body: str
    state: str
    url: str = ""


class Forge(Protocol):
    """Pull-request operations; implemented by the Gitea client (and any future forge)."""

    def find_open_pull_request(self, head: str, base: str) -> PullRequest | None:
        """The open PR from `head` into `base`, if any."""
        ...

    def list_open_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        """Open PRs whose head branch starts with `head_prefix`."""
        ...

    def open_pull_request(self, head: str, base: str, title: str, body: str, labels: Sequence[str] = ()) -> PullRequest:
        """Open a PR and return it."""
        ...

    def update_pull_request(self, number: int, title: str, body: str) -> PullRequest:
        """Change a PR's title and body."""
        ...

    def close_pull_request(self, number: int, comment: str | None = None) -> None:
        """Close a PR, optionally saying why first."""
        ...

    def comment(self, number: int, body: str) -> None:
        """Add a comment to a PR."""
        ...
