"""The small interface every forge offers the engine: pull requests (find, open, update, close, comment) and the
issues the bot keeps (find by label and marker, open, edit, close)."""

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
    merged: bool = False


@dataclass(frozen=True)
class Issue:
    """An issue as the engine needs to know it."""

    number: int
    title: str
    body: str
    state: str
    url: str = ""


@dataclass(frozen=True)
class Comment:
    """A comment on an issue or pull request."""

    id: int
    body: str
    author: str = ""


class Forge(Protocol):
    """Pull-request and issue operations; implemented by the Gitea client (and any future forge)."""

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

    def comments_of(self, number: int) -> list[Comment]:
        """The comments of an issue or PR, oldest first."""
        ...

    def edit_comment(self, comment_id: int, body: str) -> None:
        """Change a comment's text."""
        ...

    def list_closed_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        """Closed (merged or not) PRs whose head branch starts with `head_prefix`."""
        ...

    def find_issues(self, label: str, marker: str) -> list[Issue]:
        """Open issues (not pull requests) labelled `label` whose body contains `marker`, lowest number first."""
        ...

    def open_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        """Open an issue (labels created when missing) and return it."""
        ...

    def edit_issue(self, number: int, title: str, body: str) -> Issue:
        """Change an issue's title and body."""
        ...

    def close_issue(self, number: int, comment: str | None = None) -> None:
        """Close an issue, optionally saying why first."""
        ...
