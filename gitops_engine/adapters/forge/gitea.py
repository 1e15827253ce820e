"""Gitea REST API v1 client: organisations, repositories, users, pull requests and issues.

The contract is Gitea's own OpenAPI document; the test server checks every request and response against it.
The token travels only in the Authorization header: it is not part of any URL, repr, log line or error text.

Failures mid-run are retried only where a retry cannot do a thing twice: reads and edits (GET, PATCH) are
retried with backoff on 429, 5xx, timeouts and dropped connections; a create (POST) whose answer was lost may
have taken effect, so it is retried only after a check finds nothing made (and an "already exists" answer is
resolved by the same check). Each call has a deadline over all its attempts, and every answer a size limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gitops_engine.adapters.forge.base import Comment, Issue, PullRequest
from gitops_engine.core.errors import PermanentRemoteError, TransientRemoteError
from gitops_engine.core.shown import shown

_PAGE = 50
_MAX_PAGES = 200  # 10,000 items: a server that never sends a short page must not keep a run listing
_MAX_BODY = 16 << 20
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
    deadline: float = 120.0  # seconds for one call, all attempts and waits included

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


def raise_for_status(response: httpx.Response, content: bytes, what: str, secrets: Sequence[str] = ()) -> None:
    """Map an HTTP status to the error tree: 401/403/404/409/422 and other 4xx permanent, 429/5xx transient."""
    status = response.status_code
    if status < 400:
        return
    detail = _server_message(content)
    for secret in secrets:
        detail = detail.replace(secret, "***")
    suffix = f": {shown(detail)}" if detail else ""
    reason = shown(response.reason_phrase, 60)
    if status == 429 or status >= 500:
        message = f"{what}: {status} {reason} (temporary; retried){suffix}"
        raise TransientRemoteError(message, delay=_retry_after(response) or 1.0)
    hint = _PERMANENT_HINTS.get(status, "the server refused the request")
    raise PermanentRemoteError(f"{what}: {status} {reason} — {hint}{suffix}", status=status)


def _server_message(content: bytes) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        message = body.get("message")
        errors = body.get("errors")
        parts = [str(message)] if message else []
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        return "; ".join(parts)
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
        self._timeout = timeout
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
        self._call(
            "POST",
            "/admin/users",
            payload=body,
            what=f"create user {username}",
            existing=lambda: self._found(f"/users/{username}"),
        )

    def org_exists(self, name: str) -> bool:
        """True when the organisation exists."""
        return self._exists(f"/orgs/{name}")

    def create_org(self, name: str) -> None:
        """Create a private organisation owned by the token's user."""
        self._call(
            "POST",
            "/orgs",
            payload={"username": name, "visibility": "private"},
            what=f"create organisation {name}",
            existing=lambda: self._found(f"/orgs/{name}"),
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
        made = self._call(
            "POST",
            path,
            payload=body,
            what=f"create repository {owner}/{name}",
            existing=lambda: self._found(f"/repos/{owner}/{name}"),
        )
        return _repository(made)

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
        path = f"/repos/{owner}/{repo}/pulls"

        def existing() -> Mapping[str, Any] | None:
            for raw in self._pages(path, {"state": "open"}):
                if (raw.get("head") or {}).get("ref") == head and (raw.get("base") or {}).get("ref") == base:
                    return raw
            return None

        raw = self._call("POST", path, payload=payload, what=f"open pull request {head}", existing=existing)
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
        path = f"/repos/{owner}/{repo}/pulls/{number}"
        return _pull_request(self._edit(path, f"edit pull #{number}", title, body, state))

    def merge_pull_request(self, owner: str, repo: str, number: int, style: str = "merge") -> None:
        """Merge a pull request (`style`: merge, rebase, rebase-merge, squash, fast-forward-only)."""
        self._call(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/merge", payload={"do": style}, what=f"merge pull #{number}"
        )

    def comment(self, owner: str, repo: str, number: int, body: str) -> None:
        """Comment on an issue or pull request."""
        path = f"/repos/{owner}/{repo}/issues/{number}/comments"
        self._call("POST", path, payload={"body": body}, what=f"comment on #{number}")

    def list_comments(self, owner: str, repo: str, number: int) -> list[Comment]:
        """The comments of an issue or pull request, oldest first."""
        raws = self._found(f"/repos/{owner}/{repo}/issues/{number}/comments") or []
        return [_comment(raw) for raw in raws if isinstance(raw, Mapping)]

    def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> None:
        """Change a comment's text."""
        path = f"/repos/{owner}/{repo}/issues/comments/{comment_id}"
        self._call("PATCH", path, payload={"body": body}, what=f"edit comment {comment_id}", idempotent=True)

    def label_ids(self, owner: str, repo: str, names: Sequence[str]) -> list[int]:
        """Ids of the named labels, creating the ones the repository lacks."""
        path = f"/repos/{owner}/{repo}/labels"
        known = {str(raw["name"]): int(raw["id"]) for raw in self._pages(path, {})}
        for name in names:
            if name not in known:
                body = {"name": name, "color": _LABEL_COLOR}

                def existing(name: str = name) -> Mapping[str, Any] | None:
                    return next((raw for raw in self._pages(path, {}) if raw.get("name") == name), None)

                raw = self._call("POST", path, payload=body, what=f"create label {name}", existing=existing)
                known[name] = int(raw["id"])
        return [known[name] for name in names]

    def add_labels(self, owner: str, repo: str, number: int, names: Sequence[str]) -> None:
        """Add labels (created when missing) to an issue or pull request."""
        ids = self.label_ids(owner, repo, names)
        path = f"/repos/{owner}/{repo}/issues/{number}/labels"
        # adding labels a pull request already has changes nothing: safe to repeat
        self._call("POST", path, payload={"labels": ids}, what=f"label #{number}", idempotent=True)

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
        path = f"/repos/{owner}/{repo}/issues"

        def existing() -> Mapping[str, Any] | None:
            issues = self._pages(path, {"state": "open", "type": "issues"})
            return next((raw for raw in issues if raw.get("title") == title), None)

        return _issue(self._call("POST", path, payload=payload, what=f"open issue {title!r}", existing=existing))

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
        return _issue(self._edit(f"/repos/{owner}/{repo}/issues/{number}", f"edit issue #{number}", title, body, state))

    def _edit(self, path: str, what: str, title: str | None, body: str | None, state: str | None) -> Any:
        """PATCH the fields given (None leaves a field as it is)."""
        payload = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v is not None}
        return self._call("PATCH", path, payload=payload, what=what)

    def forge(self, owner: str, repo: str) -> GiteaForge:
        """The pull-request and issue interface of one repository."""
        return GiteaForge(self, owner, repo)

    # -- plumbing

    def _exists(self, path: str) -> bool:
        return self._found(path) is not None

    def _found(self, path: str) -> Any:
        """What GET `path` answers, or None for a 404."""
        try:
            return self._call("GET", path)
        except PermanentRemoteError as exc:
            if exc.status == 404:
                return None
            raise

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        for page in range(1, _MAX_PAGES + 1):
            batch = self._call("GET", path, params={**params, "page": str(page), "limit": str(_PAGE)})
            if not isinstance(batch, list):
                raise PermanentRemoteError(f"GET {path}: expected a JSON list from {self.server}")
            yield from batch
            if len(batch) < _PAGE:
                return
        raise PermanentRemoteError(f"GET {path}: {self.server} still had more after {_MAX_PAGES} pages")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Any = None,
        what: str = "",
        existing: Callable[[], Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One API call and its JSON answer (see the module doc for what is retried).

        `existing` answers, for a create, what an earlier attempt (or someone else) already made, or None.
        """
        label = f"Gitea {self.server}: {what or method + ' ' + path}"
        repeatable = method != "POST" if idempotent is None else idempotent
        ends = time.monotonic() + self._retry.deadline
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and not repeatable and existing is not None:
                made = existing()
                if made is not None:
                    return made
            suggested: float | None = None
            try:
                response, content = self._once(method, path, params, payload, label, ends)
                suggested = _retry_after(response)
                raise_for_status(response, content, label, (self._token,))
                return _json(content, label)
            except TransientRemoteError as exc:
                last = exc
            except httpx.TransportError as exc:
                last = TransientRemoteError(f"{label}: connection failed ({type(exc).__name__})")
            except PermanentRemoteError as exc:
                # "already exists": made by an attempt whose answer was lost, or by someone else meanwhile
                made = existing() if existing is not None and exc.status in (409, 422) else None
                if made is None:
                    raise
                return made
            if not repeatable and existing is None:
                raise TransientRemoteError(f"{last} — not retried: the server may have acted on it") from None
            wait = self._retry.delay(attempt, suggested)
            if attempt >= self._retry.attempts or time.monotonic() + wait >= ends:
                raise TransientRemoteError(f"{last} — gave up after {attempt} attempts") from None
            self._sleep(wait)

    def _once(
        self, method: str, path: str, params: Mapping[str, str] | None, payload: Any, label: str, ends: float
    ) -> tuple[httpx.Response, bytes]:
        """Send one request and read its answer within the call's deadline and the size limit."""
        remaining = ends - time.monotonic()
        if remaining <= 0:
            raise TransientRemoteError(f"{label}: no time left of the {self._retry.deadline:g} s allowed")
        timeout = min(self._timeout, remaining)
        with self._http.stream(method, path, params=params, json=payload, timeout=timeout) as response:
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > _MAX_BODY:
                    raise PermanentRemoteError(f"{label}: the answer is larger than {_MAX_BODY} bytes")
                if time.monotonic() > ends:
                    raise TransientRemoteError(f"{label}: no complete answer within {self._retry.deadline:g} s")
        return response, bytes(content)


def _json(content: bytes, label: str) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise PermanentRemoteError(f"{label}: the answer is not JSON") from None


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

    def comments_of(self, number: int) -> list[Comment]:
        """The comments of an issue or PR, oldest first."""
        return self._client.list_comments(self.owner, self.repo, number)

    def edit_comment(self, comment_id: int, body: str) -> None:
        """Change a comment's text."""
        self._client.edit_comment(self.owner, self.repo, comment_id, body)

    def list_closed_pull_requests(self, head_prefix: str = "") -> list[PullRequest]:
        """Closed (merged or not) PRs whose head branch starts with `head_prefix`."""
        closed = self._client.list_pull_requests(self.owner, self.repo, state="closed")
        return [pr for pr in closed if pr.head.startswith(head_prefix)]

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
        merged=bool(raw.get("merged")),
    )


def _comment(raw: Mapping[str, Any]) -> Comment:
    user = raw.get("user") or {}
    return Comment(int(raw["id"]), str(raw.get("body") or ""), str(user.get("login") or ""))


def _issue(raw: Mapping[str, Any]) -> Issue:
    return Issue(
        number=int(raw["number"]),
        title=str(raw.get("title") or ""),
        body=str(raw.get("body") or ""),
        state=str(raw.get("state") or ""),
        url=str(raw.get("html_url") or ""),
    )
