"""Network git through the system `git`, so the user's credential helpers, SSH config, proxies and CA bundles apply.

Objects are fetched into a local bare store (one per remote URL, under the cache directory) where pygit2 builds
commits; pushes then send those commits. Credentials the engine owns (a Gitea token) reach git through a
credential helper that reads environment variables of the child process: never argv, never a URL, never text
that ends up in an error. Every message that names a remote goes through `scrub`.

The store's refs are written by one engine process at a time (a flock beside the store, waited for): two runs
on one machine would otherwise fail each other's fetch on git's ref locks. Git's automatic gc runs inside the
fetch instead of detached, so while the flock is held no git process works in the store, and a git lock file
found then was left by one that was killed: it is removed, where it would fail every later fetch.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gitops_engine.adapters import lock
from gitops_engine.adapters.command import Command, Completed, run
from gitops_engine.core.errors import ConflictError, LockedError, ToolError
from gitops_engine.core.shown import shown
from gitops_engine.model.credentials import Credentials

_USER_ENV = "GITOPS_ENGINE_GIT_USERNAME"
_PASSWORD_ENV = "GITOPS_ENGINE_GIT_PASSWORD"
# The helper only ever answers `get`; `store`/`erase` are ignored so the token is never persisted by git.
_HELPER = (
    f'!f() {{ test "$1" = get || exit 0; printf "username=%s\\npassword=%s\\n" "${_USER_ENV}" "${_PASSWORD_ENV}"; }}; f'
)
_FETCHED = "refs/gitops-engine/remote/"
# the kept renders of seeds (see app.publish) come along with every fetch, under the same names in the store
RENDERS_REFSPEC = "+refs/gitops-engine/render/*:refs/gitops-engine/render/*"
_ALL_EXIT_CODES = tuple(range(256))
_GIT_TIMEOUT = 600.0
# another run's fetch into the store ends within its own timeout; waiting longer means something is wrong
_STORE_WAIT = 2 * _GIT_TIMEOUT
# porcelain reasons that mean "someone else moved the branch", as opposed to a hook or permission refusal
_MOVED = ("fetch first", "non-fast-forward", "stale info")


@dataclass(frozen=True)
class Remote:
    """A git remote URL and, when the engine owns them, the credentials to use for it."""

    url: str
    credentials: Credentials | None = None

    @property
    def display(self) -> str:
        """The URL safe to show: no user info."""
        return scrub_url(self.url)


def scrub_url(url: str) -> str:
    """`url` without any user:password part (scp-like addresses keep only the user)."""
    parts = urlsplit(url)
    if parts.scheme and parts.hostname:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with every secret and every URL's user info replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


def store_for(url: str, cache_root: Path | None = None) -> Path:
    """The local bare object store for `url`: $XDG_CACHE_HOME/gitops-engine/remotes/<hash>.git."""
    if cache_root is None:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache_root = base / "gitops-engine" / "remotes"
    key = hashlib.sha256(scrub_url(url).encode()).hexdigest()[:24]
    return cache_root / f"{key}.git"


def fetched_ref(branch: str) -> str:
    """The ref in the store that holds the last fetched head of `branch`."""
    return f"{_FETCHED}{branch}"


def keep_commit(store: Path, branch: str, commit: str) -> str:
    """Point refs/gitops-engine/unpublished/<branch> at `commit` so a failed publish loses nothing; returns the ref."""
    ref = f"refs/gitops-engine/unpublished/{branch}"
    with _writing(store):
        run(Command(("git", "--git-dir", str(store), "update-ref", ref, commit), timeout=60))
    return ref


def remote_head(remote: Remote, branch: str, store: Path) -> str | None:
    """The commit `branch` points at on the remote (None when the branch does not exist)."""
    done = _git(remote, store, ["ls-remote", "--heads", "--", remote.url, f"refs/heads/{branch}"], "list")
    for line in done.stdout.decode().splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def remote_heads(remote: Remote, prefix: str, store: Path) -> dict[str, str]:
    """Branch → commit for every branch of the remote whose name starts with `prefix` (no objects fetched)."""
    pattern = f"refs/heads/{prefix}*" if prefix.endswith("/") or not prefix else f"refs/heads/{prefix}"
    done = _git(remote, store, ["ls-remote", "--heads", "--", remote.url, pattern], "list")
    heads: dict[str, str] = {}
    for line in done.stdout.decode().splitlines():
        sha, _, ref = line.partition("\t")
        name = ref.removeprefix("refs/heads/")
        if ref.startswith("refs/heads/") and name.startswith(prefix):
            heads[name] = sha
    return heads


def fetch_branch(remote: Remote, branch: str, store: Path, also: Sequence[str] = ()) -> str | None:
    """Fetch `branch` of the remote (and the `also` refspecs) into `store` and return the branch's commit (None
    when it does not exist)."""
    if remote_head(remote, branch, store) is None:
        return None
    local = fetched_ref(branch)
    with _writing(store):
        _git(
            remote,
            store,
            ["-c", "gc.autoDetach=false", "fetch", "--no-tags", "--no-write-fetch-head", "--", remote.url,
             f"+refs/heads/{branch}:{local}", *also],
            "fetch",
        )  # fmt: skip
        # the fetched ref, not the earlier listing, is what we build on: the branch may have moved in between
        rev_parse = ("git", "--git-dir", str(store), "rev-parse", "--verify", f"{local}^{{commit}}")
        done = run(Command(rev_parse, timeout=60))
    return done.stdout.decode().strip()


@contextmanager
def _writing(store: Path) -> Iterator[None]:
    """Hold the store's flock (see module doc) with every git lock file a killed git process left removed."""
    try:
        with lock.exclusive(store.with_name(f"{store.stem}.store-lock"), f"object store {store}", _STORE_WAIT):
            for leftover in (*store.glob("*.lock"), *store.joinpath("refs").rglob("*.lock")):
                leftover.unlink(missing_ok=True)
            yield
    except LockedError as exc:
        raise ToolError(f"{exc}: a git command of another run has held it for over {_STORE_WAIT:.0f} s") from None


def push_branch(
    remote: Remote,
    store: Path,
    commit: str,
    branch: str,
    expected: str | None,
    *,
    lease: bool,
    also: Mapping[str, str] | None = None,
) -> None:
    """Push `commit` to `branch`: a plain fast-forward, or with `lease` a force-with-lease on `expected`; `also`
    (ref → commit, refs only the engine writes) goes in the same atomic push, forced.

    Raises ConflictError when the remote rejects it because the branch moved; the commit stays in `store`. A
    rejected push whose branch holds `commit` anyway succeeded: an identical run pushed the same commit first.
    Whether it moved is judged by its head, not only by the reason: a server that lost the race itself answers
    only "failed to update ref" (or "atomic transaction failed").
    """
    argv = ["push", "--porcelain"]
    if also:
        argv.append("--atomic")
    if lease:
        argv.append(f"--force-with-lease=refs/heads/{branch}:{expected or ''}")
    argv += ["--", remote.url, f"{commit}:refs/heads/{branch}"]
    argv += [f"+{target}:{ref}" for ref, target in sorted((also or {}).items())]
    done = _git(remote, store, argv, "push", ok_if_rejected=True)
    rejected = [shown(reason) for reason in _rejections(done.stdout.decode(errors="replace"))]
    if not rejected:
        return
    now = remote_head(remote, branch, store)
    if now == commit:
        return  # an identical run pushed this very commit first
    reason = _cause(rejected)
    if _moved(rejected, now, expected):
        raise ConflictError(
            f"push of {commit[:12]} to {branch!r} on {remote.display} was rejected ({reason}): "
            "the branch moved since it was fetched; the commit is kept in the local store"
        )
    raise ToolError(f"{remote.display} refused the push of {commit[:12]} to {branch!r}: {reason}")


def delete_branch(remote: Remote, store: Path, branch: str, expected: str) -> None:
    """Delete `branch` on the remote if it still points at `expected` (ConflictError when it moved)."""
    argv = ["push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{expected}"]
    argv += ["--", remote.url, f":refs/heads/{branch}"]
    done = _git(remote, store, argv, "delete", ok_if_rejected=True)
    rejected = [shown(reason) for reason in _rejections(done.stdout.decode(errors="replace"))]
    if not rejected:
        return
    now = remote_head(remote, branch, store)
    if now is None:
        return  # another run deleted it first
    if _moved(rejected, now, expected):
        raise ConflictError(f"{branch!r} on {remote.display} moved since it was listed; it was not deleted")
    raise ToolError(f"{remote.display} refused to delete {branch!r}: {_cause(rejected)}")


def _moved(rejected: Sequence[str], now: str | None, expected: str | None) -> bool:
    """True when a rejected push lost a race: the client saw the branch move, or the server did — it then says
    only "failed to update ref" (or, for an atomic push, "atomic transaction failed"), so the branch's head
    decides: it is no longer where the push expected it."""
    return now != expected or any(marker in reason for reason in rejected for marker in _MOVED)


def _cause(rejected: Sequence[str]) -> str:
    """The reason that matters: in an atomic push the other refs only say that the transaction failed."""
    return next((reason for reason in rejected if "atomic" not in reason), rejected[0])


def push_for_review(
    remote: Remote, store: Path, commit: str, base: str, topic: str, title: str, description: str
) -> None:
    """Push `commit` to refs/for/<base> with AGit push options; the server opens or updates the pull request."""
    options: list[str] = []
    for key, value in (("topic", topic), ("title", title), ("description", description)):
        # a push option is one line on the wire; descriptions are folded so they survive
        options += ["-o", f"{key}={value.replace(chr(10), ' ').strip()}"]
    argv = ["push", "--porcelain", *options, "--", remote.url, f"{commit}:refs/for/{base}"]
    done = _git(remote, store, argv, "push for review", ok_if_rejected=True)
    rejected = [shown(reason) for reason in _rejections(done.stdout.decode(errors="replace"))]
    if rejected:
        raise ToolError(f"{remote.display} refused the review push of {commit[:12]} for {base!r}: {rejected[0]}")


def _rejections(porcelain: str) -> list[str]:
    reasons: list[str] = []
    for line in porcelain.splitlines():
        flag, _, rest = line.partition("\t")
        if flag == "!":
            reasons.append(rest.split("\t")[-1] if "\t" in rest else rest)
    return reasons


def _git(remote: Remote, store: Path, args: list[str], what: str, *, ok_if_rejected: bool = False) -> Completed:
    env = {
        # an unattended run must fail rather than wait for a password prompt
        "GIT_TERMINAL_PROMPT": "0",
        "GCM_INTERACTIVE": "never",
    }
    secrets: list[str] = []
    if remote.credentials is not None:
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        # an empty helper resets the list, so the user's stored credential for this host cannot win over ours
        env.update(
            {
                "GIT_CONFIG_COUNT": str(count + 2),
                f"GIT_CONFIG_KEY_{count}": "credential.helper",
                f"GIT_CONFIG_VALUE_{count}": "",
                f"GIT_CONFIG_KEY_{count + 1}": "credential.helper",
                f"GIT_CONFIG_VALUE_{count + 1}": _HELPER,
                _USER_ENV: remote.credentials.username,
                _PASSWORD_ENV: remote.credentials.password,
            }
        )
        secrets.append(remote.credentials.password)
    if not (store / "HEAD").exists():
        run(Command(("git", "init", "--quiet", "--bare", str(store)), timeout=60))
    argv = ("git", "--git-dir", str(store), *args)
    try:
        done = run(Command(argv, env=env, timeout=_GIT_TIMEOUT, ok_codes=_ALL_EXIT_CODES))
    except ToolError as exc:
        raise ToolError(scrub(str(exc), secrets)) from None
    if done.returncode == 0 or (ok_if_rejected and done.returncode == 1 and _rejections(done.stdout.decode())):
        return done
    # the server's own words (hooks, "remote:" lines) are shown escaped, one line each
    tail = [shown(line) for line in scrub(done.stderr.decode(errors="replace"), secrets).strip().splitlines()[-12:]]
    raise ToolError(
        f"git {what} with {remote.display} failed (exit {done.returncode}):\n" + ("\n".join(tail) or "(no output)")
    )
