"""The spec's `reconciler:` section: the scheduled `gitops-engine reconcile` (opt-in), checked like every key."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gitops_engine.model.platform import DEFAULT_RECONCILER_RESOURCES, GitTarget, Reconciler, ValueSource
from gitops_engine.spec.reader import SpecReader

_KEYS = ("schedule", "image", "repository", "runner", "resources", "gitea", "repositories", "shards")
# the five-field schedule Kubernetes CronJobs accept, and its @-shorthands
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {
    "month": ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "day of week": ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_ITEM = re.compile(r"^(?P<range>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")
# a Kubernetes resource quantity: 100m, 0.5, 256Mi, 1G, 1e3
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
_GIT_URL = re.compile(r"^(https?|ssh)://|^[\w.-]+@[\w.-]+:")
# an Indexed Job's completions are bounded by Kubernetes too; a fleet list this long is a configuration mistake
MAX_SHARDS = 1000
MAX_REPOSITORIES = 10_000


def read_reconciler(
    r: SpecReader, raw: Any, git: GitTarget, read_source: Callable[[tuple[str, ...], Any], ValueSource | None]
) -> Reconciler | None:
    """The `reconciler:` section, or None when the spec has none (the reconciler is opt-in).

    `read_source` reads an `{env: NAME}` / `{file: PATH}` value the way the rest of the spec does.
    """
    if raw is None:
        return None
    path = ("reconciler",)
    body = r.mapping(path, raw, _KEYS, ("schedule", "image"))
    schedule = r.string((*path, "schedule"), body.get("schedule"))
    if "schedule" in body and schedule:
        problem = schedule_problem(schedule)
        if problem:
            r.error((*path, "schedule"), problem)
    image = r.string((*path, "image"), body.get("image"))
    if "image" in body and (not image or any(c.isspace() for c in image)):
        r.error((*path, "image"), "must name an image, e.g. registry.example.com/platform/gitops-engine:0.1.0")
    repository = r.url((*path, "repository"), body.get("repository"), default=git.clone_url)
    if repository and not _GIT_URL.match(repository):
        where = (*path, "repository") if "repository" in body else ("git", "url")
        r.error(where, f"{repository!r}: the reconciler clones and pushes a git URL (https://, http://, ssh://)")
    runner = r.choice((*path, "runner"), body.get("runner"), ("cronjob", "workflow"), "cronjob")
    token_secret, token = _read_gitea(r, body.get("gitea"), read_source)
    # the CronJob pushes with the git credentials Secret; a workflow with its own token
    keys = set(git.credentials) if runner == "cronjob" else set()
    if keys and not token_secret and not ({"username", "password"} <= keys or "identity" in keys):
        r.error(path, "the reconciler pushes with git.credentials username + password or identity, or with a "
                "Gitea token (reconciler.gitea.tokenSecret)")  # fmt: skip
    if "identity" in keys and "known_hosts" not in keys:
        r.error(("git", "credentials"), "give known_hosts too: the reconciler checks the git server's host key")
    if runner == "workflow" and schedule.startswith("@"):
        r.error((*path, "schedule"), "a workflow schedule is five cron fields (Actions know no @-shorthands)")
    repositories = _read_repositories(r, body.get("repositories"))
    shards = _read_shards(r, body.get("shards"), len(repositories))
    return Reconciler(
        schedule=schedule,
        image=image,
        repository=repository,
        runner="workflow" if runner == "workflow" else "cronjob",
        resources=_read_resources(r, body.get("resources")),
        gitea_token_secret=token_secret,
        gitea_token=token,
        repositories=tuple(repositories),
        shards=shards,
    )


def schedule_problem(schedule: str) -> str:
    """Why `schedule` is not a schedule a Kubernetes CronJob accepts ("" when it is one)."""
    text = schedule.strip()
    if text.startswith("@"):
        return "" if text.lower() in _MACROS else f"{text!r}: unknown shorthand; use one of {', '.join(_MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return f"{schedule!r} has {len(fields)} fields; write five: minute hour day-of-month month day-of-week"
    for value, (name, low, high) in zip(fields, _FIELDS, strict=True):
        for item in value.split(","):
            match = _ITEM.match(item)
            if match is None:
                return f"{schedule!r}: {item!r} is not a {name} (a number, a range a-b, *, and /step)"
            for bound in match["range"].split("-"):
                if bound in ("*", "?"):
                    continue
                number = _number(bound, name)
                if number is None or not low <= number <= high:
                    return f"{schedule!r}: {bound!r} is out of range for the {name} ({low}-{high})"
    return ""


def _number(text: str, name: str) -> int | None:
    if text.isdigit():
        return int(text)
    names = _NAMES.get(name, ())
    lowered = text.lower()
    if lowered not in names:
        return None
    return names.index(lowered) + (1 if name == "month" else 0)


def _read_resources(r: SpecReader, raw: Any) -> dict[str, dict[str, str]]:
    path = ("reconciler", "resources")
    resources = {kind: dict(values) for kind, values in DEFAULT_RECONCILER_RESOURCES.items()}
    if raw is None:
        return resources
    body = r.mapping(path, raw, ("requests", "limits"))
    for kind, values in body.items():
        given = r.mapping((*path, kind), values, _RESOURCE_NAMES)
        for name, quantity in given.items():
            number = isinstance(quantity, int | float) and not isinstance(quantity, bool)
            text = r.string((*path, kind, name), str(quantity) if number else quantity)
            if text and not _QUANTITY.match(text):
                r.error((*path, kind, name), f"{text!r} is not a Kubernetes quantity (e.g. 100m, 0.5, 256Mi, 1Gi)")
            resources[kind][name] = text
    return resources


def _read_gitea(
    r: SpecReader, raw: Any, read_source: Callable[[tuple[str, ...], Any], ValueSource | None]
) -> tuple[str, ValueSource | None]:
    if raw is None:
        return "", None
    path = ("reconciler", "gitea")
    body = r.mapping(path, raw, ("tokenSecret", "token"), ("tokenSecret",))
    secret = r.string((*path, "tokenSecret"), body.get("tokenSecret"), dns=True)
    token = read_source((*path, "token"), body["token"]) if "token" in body else None
    return secret, token


def _read_repositories(r: SpecReader, raw: Any) -> list[str]:
    path = ("reconciler", "repositories")
    items = r.sequence(path, raw)
    if len(items) > MAX_REPOSITORIES:
        r.error(path, f"{len(items)} repositories; at most {MAX_REPOSITORIES} (split the fleet)")
        return []
    repositories: list[str] = []
    for index, item in enumerate(items):
        url = r.url((*path, index), item)
        if url and not _GIT_URL.match(url):
            r.error((*path, index), f"{url!r} is not a git URL the reconciler can clone (https://, http://, ssh://)")
        if url in repositories:
            r.error((*path, index), f"{url!r} is listed twice")
        repositories.append(url)
    return repositories


def _read_shards(r: SpecReader, raw: Any, repositories: int) -> int:
    path = ("reconciler", "shards")
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_SHARDS:
        r.error(path, f"must be a whole number from 1 to {MAX_SHARDS}")
        return 1
    if raw > 1 and repositories == 0:
        r.error(path, "shards split reconciler.repositories; list the fleet repositories there")
    elif raw > repositories > 0:
        r.error(path, f"{raw} shards for {repositories} repositories: some shards would have nothing to do")
    return raw
