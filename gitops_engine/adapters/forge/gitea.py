"""Gitea REST API v1 client: organisations, repositories, users, pull requests and issues.

The contract is Gitea's own OpenAPI document; the test server checks every request and response against it.
The token travels only in the Authorization header: it is not part of any URL, repr, log line or error text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gitops_engine.adapters.forge.base import Issue, PullRequest
from gitops_engine.core.errors import PermanentRemoteError, RemoteError, TransientRemoteError

_PAGE = 50
_LABEL_COLOR = "#0075ca"
_PERMANENT_HINTS = {
    401: "the token was refused; check the token the gitea block names (tokenEnv / tokenFile)",
    403: "the token lacks the permission or scope for this (write:organization, write:repository, admin for users)",
    404: "not found, or not visible to this token",
    409: "conflicts with what already exists",
    422: "the server rejected the request as invalid",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry 429, 5xx and dropped connections."""

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, suggested: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based); a server's Retry-After wins, capped."""
        wanted = suggested if suggested is not None else self.backoff * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.max_delay))


@dataclass(frozen=True)
class Repository:
    """A Gitea repository as the engine needs to know it."""

    owner: str
    name: str
    default_branch: str
    clone_url: str
    empty: bool


def raise_for_status(response: httpx.Response, what: str, secrets: Sequence[str] = ()) -> None:
    """Map an HTTP status to the error tree: 401/403/404/409/422 and other 4xx permanent, 429/5xx transient."""
    status = response.status_code
    if status < 400:
        return
    detail = _server_message(response)
    for secret in secrets:
        detail = detail.replace(secret, "***")
    suffix = f": {detail}" if detail else ""
    if status == 429 or status >= 500:
        message = f"{what}: {status} {response.reason_phrase} (temporary; retried){suffix}"
        raise TransientRemoteError(message, delay=_retry_after(response) or 1.0)
    hint = _PERMANENT_HINTS.get(status, "the server refused the request")
    raise PermanentRemoteError(f"{what}: {status} {response.reason_phrase} — {hint}{suffix}", status=status)


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        message = body.get("message")
        errors = body.get("errors")
        parts = [str(message)] if message else []
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        return "; ".join(parts)[:500]
    return ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


class GiteaClient:
    """A Gitea server reached with one token; use as a context manager or call `close()`."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=f"{self.server}/api/v1",
            headers={"Authorization": f"token {token}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GiteaClient({self.server!r})"

    def __enter__(self) -> GiteaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    # -- users and organisations

    def current_user(self) -> str:
        """The login the token belongs to."""
        return str(self._call("GET", "/user")["login"])

    def user_exists(self, username: str) -> bool:
        """True when a user (or organisation) of that name exists."""
        return self._exists(f"/users/{username}")

    def admin_create_user(self, username: str, email: str, password: str) -> None:
        """Create a user with the admin API (needs an admin token)."""
        body = {"username": username, "email": email, "password": password, "must_change_password": False}
        self._call("POST", "/admin/users", json=body, what=f"create user {username}")

    def org_exists(self, name: str) -> bool:
        """True when the organisation exists."""
        return self._exists(f"/orgs/{name}")

    def create_org(self, name: str) -> None:
        """Create a private organisation owned by the token's user."""
        self._call(
            "POST", "/orgs", json={"username": name, "visibility": "private"}, what=f"create organisation {name}"
        )

    # -- repositories

    def get_repository(self, owner: str, name: str) -> Repository | None:
        """The repository, or None when it does not exist."""
        try:
            return _repository(self._call("GET", f"/repos/{owner}/{name}"))
        except PermanentRemoteError as exc:
            if exc.status == 404:
                return None
            raise

    def create_repository(self, owner: str, name: str, *, in_org: bool, default_branch: str = "main") -> Repository:
        """Create an empty private repository in an organisation or the token user's account."""
        body = {"name": name, "private": True, "auto_init": False, "default_branch": default_branch}
        path = f"/orgs/{owner}/repos" if in_org else "/user/repos"
        return _repository(self._call("POST", path, json=body, what=f"create repository {owner}/{name}"))

    # -- pull requests

    def list_pull_requests(self, owner: str, repo: str, state: str = "open") -> list[PullRequest]:
        """Every pull request in `state` (open, closed, all), all pages."""
        return [_pull_request(raw) for raw in self._pages(f"/repos/{owner}/{repo}/pulls", {"state": state})]

    def create_pull_request(
        self, owner: str, repo: str, head: str, base: str, title: str, body: str, label_ids: Sequence[int] = ()
    ) -> PullRequest:
        """Open a pull request from branch `head` into `base`."""
        payload: dict[str, Any] = {"head": head, "base": base, "title": title, "body": body}
        if label_ids:
            payload["labels"] = list(label_ids)
        raw = self._call("POST", f"/repos/{owner}/{repo}/pulls", json=payload, what=f"open pull request {head}")
        return _pull_request(raw)

    def edit_pull_request(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> PullRequest:
        """Change title, body or state (open/closed) of a pull request."""
        payload = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v is not None}
        raw = self._call("PATCH", f"/repos/{owner}/{repo}/pulls/{number}", json=payload, what=f"edit pull #{number}")
        return _pull_request(raw)

    def merge_pull_request(self, owner: str, repo: str, number: int, style: str = "merge") -> None:
        """Merge a pull request (`style`: merge, rebase, rebase-merge, squash, fast-forward-only)."""
        self._call(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/merge", json={"do": style}, what=f"merge pull #{number}"
        )

    def comment(self, owner: str, repo: str, number: int, body: str) -> None:
        """Comment on an issue or pull request."""
        path = f"/repos/{owner}/{repo}/issues/{number}/comments"
        self._call("POST", path, json={"body": body}, what=f"comment on #{number}")

    def label_ids(self, owner: str, repo: str, names: Sequence[str]) -> list[int]:
        """Ids of the named labels, creating the ones the repository lacks."""
        known = {str(raw["name"]): int(raw["id"]) for raw in self._pages(f"/repos/{owner}/{repo}/labels", {})}
        for name in names:
            if name not in known:
                body = {"name": name, "color": _LABEL_COLOR}
                raw = self._call("POST", f"/repos/{owner}/{repo}/labels", json=body, what=f"create label {name}")
                known[name] = int(raw["id"])
        return [known[name] for name in names]

    def add_labels(self, owner: str, repo: str, number: int, names: Sequence[str]) -> None:
        """Add labels (created when missing) to an issue or pull request."""
        ids = self.label_ids(owner, repo, names)
        path = f"/repos/{owner}/{repo}/issues/{number}/labels"
        self._call("POST", path, json={"labels": ids}, what=f"label #{number}")

    # -- issues

    def list_issues(self, owner: str, repo: str, *, labels: Sequence[str] = (), state: str = "open") -> list[Issue]:
        """Every issue (pull requests left out) in `state` carrying any of `labels`, all pages.

        Gitea drops label names the repository does not have from the filter: with none left, every issue is
        listed, so callers check what they look for in each issue too.
        """
        params = {"state": state, "type": "issues"}
        if labels:
            params["labels"] = ",".join(labels)
        return [_issue(raw) for raw in self._pages(f"/repos/{owner}/{repo}/issues", params)]

    def create_issue(self, owner: str, repo: str, title: str, body: str, label_ids: Sequence[int] = ()) -> Issue:
        """Open an issue."""
        payload: dict[str, Any] = {"title": title, "body": body}
        if label_ids:
            payload["labels"] = list(label_ids)
        return _issue(self._call("POST", f"/repos/{owner}/{repo}/issues", json=payload, what=f"open issue {title!r}"))

    def edit_issue(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> Issue:
        """Change title, body or state (open/closed) of an issue."""
        payload = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v is not None}
        raw = self._call("PATCH", f"/repos/{owner}/{repo}/issues/{number}", json=payload, what=f"edit issue #{number}")
        return _issue(raw)

    def forge(self, owner: str, repo: str) -> GiteaForge:
        """The pull-request and issue interface of one repository."""
        return GiteaForge(self, owner, repo)

    # -- plumbing

    def _exists(self, path: str) -> bool:
        try:
            self._call("GET", path)
        except PermanentRemoteError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        page = 1
        while True:
            batch = self._call("GET", path, params={**params, "page": str(page), "limit": str(_PAGE)})
            if not isinstance(batch, list):
                raise PermanentRemoteError(f"GET {path}: expected a JSON list from {self.server}")
            yield from batch
            if len(batch) < _PAGE:
                return
            page += 1

    def _call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None, what: str = ""
    ) -> Any:
        label = f"Gitea {self.server}: {what or method + ' ' + path}"
        last: RemoteError | None = None
        for attempt in range(1, self._retry.attempts + 1):
            try:
                response = self._http.request(method, path, params=params, json=json)
                raise_for_status(response, label, (self._token,))
                return response.json() if response.content else None
            except TransientRemoteError as exc:
                last, suggested = exc, exc.delay
            except httpx.TransportError as exc:
                last = TransientRemoteError(f"{label}: connection failed ({type(exc).__name__})")
                suggested = None
            if attempt < self._retry.attempts:
                self._sleep(self._retry.delay(attempt, suggested))
        assert last is not None
        raise TransientRemoteError(f"{last} — gave up after {self._retry.attempts} attempts") from None


class GiteaForge:
    """The engine's Forge interface for one Gitea repository."""

    def __init__(self, client: GiteaClient, owner: str, repo: str) -> None:
        self._client = client
        self.owner = owner
        self.repo = repo

    def find_open_pull_request(self, head: str, base: str) -> PullRequest | None:
        """The open PR from `head` into `base`, if any."""
        for pr in self._client.list_pull_requests(self.owner, self.repo):
            if pr.head == head and pr.base == base:
                return pr
        return None

    def list_open_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        """Open PRs whose head branch starts with `head_prefix`."""
        return [pr for pr in self._client.list_pull_requests(self.owner, self.repo) if pr.head.startswith(head_prefix)]

    def open_pull_request(self, head: str, base: str, title: str, body: str, labels: Sequence[str] = ()) -> PullRequest:
        """Open a PR and return it."""
        ids = self._client.label_ids(self.owner, self.repo, labels) if labels else []
        return self._client.create_pull_request(self.owner, self.repo, head, base, title, body, ids)

    def update_pull_request(self, number: int, title: str, body: str) -> PullRequest:
        """Change a PR's title and body."""
        return self._client.edit_pull_request(self.owner, self.repo, number, title=title, body=body)

    def close_pull_request(self, number: int, comment: str | None = None) -> None:
        """Close a PR, optionally saying why first."""
        if comment:
            self._client.comment(self.owner, self.repo, number, comment)
        self._client.edit_pull_request(self.owner, self.repo, number, state="closed")

    def comment(self, number: int, body: str) -> None:
        """Add a comment to a PR."""
        self._client.comment(self.owner, self.repo, number, body)

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add labels (created when missing) to a PR."""
        self._client.add_labels(self.owner, self.repo, number, labels)

    def merge_pull_request(self, number: int, style: str = "merge") -> None:
        """Merge a PR."""
        self._client.merge_pull_request(self.owner, self.repo, number, style)

    def find_issues(self, label: str, marker: str) -> list[Issue]:
        """Open issues (not pull requests) labelled `label` whose body contains `marker`, lowest number first."""
        found = [i for i in self._client.list_issues(self.owner, self.repo, labels=(label,)) if marker in i.body]
        return sorted(found, key=lambda issue: issue.number)

    def open_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        """Open an issue (labels created when missing) and return it."""
        ids = self._client.label_ids(self.owner, self.repo, labels) if labels else []
        return self._client.create_issue(self.owner, self.repo, title, body, ids)

    def edit_issue(self, number: int, title: str, body: str) -> Issue:
        """Change an issue's title and body."""
        return self._client.edit_issue(self.owner, self.repo, number, title=title, body=body)

    def close_issue(self, number: int, comment: str | None = None) -> None:
        """Close an issue, optionally saying why first."""
        if comment:
            self._client.comment(self.owner, self.repo, number, comment)
        self._client.edit_issue(self.owner, self.repo, number, state="closed")


def _repository(raw: Mapping[str, Any]) -> Repository:
    owner = raw.get("owner") or {}
    return Repository(
        owner=str(owner.get("login", "")),
        name=str(raw["name"]),
        default_branch=str(raw.get("default_branch") or "main"),
        clone_url=str(raw.get("clone_url", "")),
        empty=bool(raw.get("empty", False)),
    )


def _pull_request(raw: Mapping[str, Any]) -> PullRequest:
    head = raw.get("head") or {}
    base = raw.get("base") or {}
    return PullRequest(
        number=int(raw["number"]),
        head=str(head.get("ref", "")),
        base=str(base.get("ref", "")),
        title=str(raw.get("title") or ""),
        body=str(raw.get("body") or ""),
        state=str(raw.get("state") or ""),
        url=str(raw.get("html_url") or ""),
    )


def _issue(raw: Mapping[str, Any]) -> Issue:
    return Issue(
        number=int(raw["number"]),
        title=str(raw.get("title") or ""),
        body=str(raw.get("body") or ""),
        state=str(raw.get("state") or ""),
        url=str(raw.get("html_url") or ""),
    )
