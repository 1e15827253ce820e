"""The currency policy: which new versions the bot may propose, per app or group, and the currency windows.

The policy lives in the repository (`.gitops-engine/currency.yaml`); without one every stable update is
proposed (patch, minor and major, the major on its own branch), prereleases only to apps already on a
prerelease of the same version (2.0.0-beta.1 may move to 2.0.0-rc.1, never to 2.1.0-alpha.1: the same rule
as Helm's and npm's ranges, and Renovate's `ignoreUnstable`).

    defaults: {update_types: [patch, minor], minimum_release_age: 3d, range_strategy: widen}
    windows: {minor_days: 30, major_days: 60}   # seed 004's currency windows, for every app a rule does not set
    groups: [{name: monitoring, apps: [kube-prometheus-stack, grafana]}]
    rules:
      - apps: [cert-manager]
        update_types: [patch]
        allow: ">=1.14 <2"
        ignore: ["1.15.x"]
        prereleases: never            # auto (only when on one of the same version) | never | always
        schedule: ["sat,sun 00:00-06:00"]
        enabled: true
      - groups: [monitoring]          # a rule selects apps by name (`apps`), by group (`groups`), or both
        windows: {minor_days: 14}
      - apps: [kafka]
        minor_is_major: true          # an upstream whose minors break: a minor is a major (own branch, window)
      - apps: [kubernetes]            # the managed clusters' Kubernetes versions (updates.kubernetes)
        schedule: ["sat 02:00-06:00"]
    kubernetes:                       # where Kubernetes releases are looked up (one of):
      releases: https://dl.k8s.io/release     # the stable-1.N.txt files Kubernetes publishes (the default)
      # list: https://platform.example.com/kubernetes.txt   # a curated list: a version per line, [YYYY-MM-DD]
      # versions: ["1.31.4 2024-12-10", "1.30.8"]           # the curated list written here

A rule applies to the apps its `apps` patterns match and to the members of its `groups`; later rules win.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gitops_engine.updates.releases import list_index
from gitops_engine.updates.uses import INLINE_RELEASES, LISTED_RELEASES, STABLE_RELEASES
from gitops_engine.updates.versions import (
    Constraint,
    RangeStrategy,
    UpdateType,
    Version,
    parse_constraint,
    update_type,
)

if TYPE_CHECKING:
    from gitops_engine.core.yamlio import PathKey
    from gitops_engine.spec.reader import SpecReader

POLICY_PATH = ".gitops-engine/currency.yaml"
DEFAULT_KUBERNETES_RELEASES = "https://dl.k8s.io/release"
_MAX_LISTED_VERSIONS = 1000
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_AGE_RE = re.compile(r"^(\d+)\s*([dhm])$")
_GROUP_NAME = re.compile(r"[A-Za-z0-9]+([-._][A-Za-z0-9]+)*")
_WINDOW_RE = re.compile(r"^(?P<days>[a-z*,-]+)(?:\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2}))?$")


@dataclass(frozen=True)
class Window:
    """A schedule window: days of the week (0 = Monday) and a [start, end) time of day in UTC, minutes."""

    days: frozenset[int]
    start: int = 0
    end: int = 24 * 60

    def contains(self, when: datetime) -> bool:
        """Whether `when` (UTC) falls inside; a window past midnight belongs to the day it starts on."""
        minute = when.hour * 60 + when.minute
        if self.start <= self.end:
            return when.weekday() in self.days and self.start <= minute < self.end
        yesterday = (when.weekday() - 1) % 7
        return (when.weekday() in self.days and minute >= self.start) or (yesterday in self.days and minute < self.end)


@dataclass(frozen=True)
class Rule:
    """Settings for the apps a rule matches; None means "inherit"."""

    update_types: frozenset[UpdateType] | None = None
    allow: Constraint | None = None
    ignore: tuple[Constraint, ...] = ()
    prereleases: str | None = None
    minimum_release_age: timedelta | None = None
    range_strategy: RangeStrategy | None = None
    schedule: tuple[Window, ...] | None = None
    enabled: bool | None = None
    minor_is_major: bool | None = None
    minor_window_days: int | None = None
    major_window_days: int | None = None


@dataclass(frozen=True)
class Settings:
    """The effective settings for one app."""

    update_types: frozenset[UpdateType] = frozenset(UpdateType)
    allow: Constraint | None = None
    ignore: tuple[Constraint, ...] = ()
    prereleases: str = "auto"
    minimum_release_age: timedelta = timedelta(0)
    range_strategy: RangeStrategy = RangeStrategy.WIDEN
    schedule: tuple[Window, ...] = ()
    enabled: bool = True
    # seed 004 allows an upstream that does not follow semver to have its minors counted as majors
    minor_is_major: bool = False
    minor_window_days: int = 30
    major_window_days: int = 60
    group: str | None = None

    def in_schedule(self, when: datetime) -> bool:
        """True when there is no schedule or `when` is inside one of its windows."""
        return not self.schedule or any(window.contains(when) for window in self.schedule)


@dataclass(frozen=True)
class Selector:
    """Which apps a rule applies to: those its `apps` patterns match and the members of its `groups`."""

    apps: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def selects(self, app: str, group: str | None) -> bool:
        """Whether the rule applies to `app` (a member of `group`, if any)."""
        return (group is not None and group in self.groups) or any(fnmatch.fnmatchcase(app, p) for p in self.apps)


@dataclass(frozen=True)
class KubernetesReleases:
    """Where the bot learns which Kubernetes versions exist: `kind` is one of uses.RELEASE_KINDS; `url` the base
    of the stable files or the list's address (for a list in the policy, where it is written); `versions` the
    lines of a list written in the policy."""

    url: str = DEFAULT_KUBERNETES_RELEASES
    kind: str = STABLE_RELEASES
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """Defaults, rules (in file order, later rules win), groups, the default currency windows, and where
    Kubernetes releases are looked up."""

    defaults: Rule = field(default_factory=Rule)
    rules: tuple[tuple[Selector, Rule], ...] = ()
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    minor_window_days: int = 30
    major_window_days: int = 60
    kubernetes: KubernetesReleases = field(default_factory=KubernetesReleases)

    def for_app(self, app: str) -> Settings:
        """The default windows and the defaults, overlaid by every rule that selects `app`, plus its group."""
        group = next((name for name, apps in self.groups if any(fnmatch.fnmatchcase(app, a) for a in apps)), None)
        windows = Settings(minor_window_days=self.minor_window_days, major_window_days=self.major_window_days)
        settings = _overlay(windows, self.defaults)
        for selector, rule in self.rules:
            if selector.selects(app, group):
                settings = _overlay(settings, rule)
        return replace(settings, group=group)


def _overlay(settings: Settings, rule: Rule) -> Settings:
    changes = {k: v for k, v in rule.__dict__.items() if v is not None and v != ()}
    return replace(settings, **changes)


@dataclass(frozen=True)
class Verdict:
    """Whether a candidate version may be proposed, and if not, why."""

    allowed: bool
    reason: str = ""


def judge(current: Version, candidate: Version, created: datetime | None, settings: Settings, now: datetime) -> Verdict:
    """Apply every version rule of `settings` to moving from `current` to `candidate`."""
    if candidate <= current:
        return Verdict(False, "not newer")
    if candidate.is_prerelease and not _prerelease_allowed(settings.prereleases, current, candidate):
        return Verdict(False, "prerelease (allowed only to apps already on a prerelease of the same version)")
    step = update_type(current, candidate, settings.minor_is_major)
    if step not in settings.update_types:
        return Verdict(False, f"{step.value} updates are not allowed")
    if settings.allow is not None and not settings.allow.matches(candidate):
        return Verdict(False, f"outside allowed range {settings.allow.text}")
    for ignored in settings.ignore:
        if ignored.matches(candidate):
            return Verdict(False, f"ignored by {ignored.text}")
    if created is not None and created > now:
        # a clock ahead of ours, or a made-up date: the release counts once its own date has come
        return Verdict(False, f"dated {created.isoformat(timespec='minutes')}, later than now")
    if created is not None and now - created < settings.minimum_release_age:
        age_days = (now - created).total_seconds() / 86400
        return Verdict(False, f"released {age_days:.1f} days ago, policy waits {_days(settings.minimum_release_age)}")
    return Verdict(True)


def _prerelease_allowed(mode: str, current: Version, candidate: Version) -> bool:
    if mode != "auto":
        return mode == "always"
    return current.is_prerelease and _line(current) == _line(candidate)


def _line(version: Version) -> tuple[object, ...]:
    """The release a prerelease leads up to: its core, and its base-tech core for a compound version."""
    return (version.core, version.base.core if version.base is not None else None)


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:g} days"


def parse_policy(text: bytes, path: str) -> Policy:
    """Read a policy file; every mistake at once as `path:line: key.path: message`, with what to write instead."""
    # Most repositories have no policy file: the config reader (and the YAML parsers) load only when one is read.
    from gitops_engine.spec.reader import read_config

    reader = read_config(text, path)
    if reader is None:
        return Policy()
    top = reader.mapping((), reader.doc.data, ("defaults", "rules", "groups", "windows", "kubernetes"))
    # the default windows are the top-level `windows`: `defaults` takes every other rule key
    default_keys = tuple(k for k in _RULE_KEYS if k != "windows")
    defaults = _rule(reader, ("defaults",), reader.mapping(("defaults",), top.get("defaults") or {}, default_keys))
    groups: list[tuple[str, tuple[str, ...]]] = []
    for index, raw in reader.records(("groups",), top.get("groups")):
        keys: PathKey = ("groups", index)
        body = reader.mapping(keys, raw, ("name", "apps"), ("name", "apps"))
        groups.append(
            (_group_name(reader, (*keys, "name"), body.get("name")), _apps(reader, (*keys, "apps"), body.get("apps")))
        )
    group_names = [name for name, _ in groups]
    rules: list[tuple[Selector, Rule]] = []
    for index, raw in reader.records(("rules",), top.get("rules")):
        keys = ("rules", index)
        body = reader.mapping(keys, raw, ("apps", "groups", *_RULE_KEYS))
        rules.append((_selector(reader, keys, body, group_names), _rule(reader, keys, body)))
    minor_days, major_days = _windows(reader, ("windows",), top.get("windows") or {})
    kubernetes = _kubernetes(reader, path, top.get("kubernetes"))
    reader.raise_errors()
    return Policy(
        defaults,
        tuple(rules),
        tuple(groups),
        30 if minor_days is None else minor_days,
        60 if major_days is None else major_days,
        kubernetes,
    )


def _group_name(reader: SpecReader, keys: PathKey, value: object) -> str:
    """A group's name, which becomes part of its branch names (gitops-engine/<group>-<major>)."""
    name = reader.string(keys, value)
    if name and not _GROUP_NAME.fullmatch(name):
        reader.error(keys, f"{name!r} cannot name a branch (letters, digits, and '-', '.' or '_' between them)")
    return name


def _kubernetes(reader: SpecReader, path: str, raw: object) -> KubernetesReleases:
    """`kubernetes: {releases: URL | list: URL | versions: [...]}`, at most one of them (none: the default)."""
    if raw is None:
        return KubernetesReleases()
    keys: PathKey = ("kubernetes",)
    body = reader.mapping(keys, raw, ("releases", "list", "versions"))
    given = [key for key in ("releases", "list", "versions") if key in body]
    if len(given) > 1:
        reader.error(keys, "give exactly one of releases (stable files), list (a URL) or versions (a list here)")
    if len(given) != 1:
        return KubernetesReleases()
    key = given[0]
    if key == "versions":
        items = reader.sequence((*keys, key), body[key])
        if len(items) > _MAX_LISTED_VERSIONS:
            reader.error((*keys, key), f"{len(items)} versions; at most {_MAX_LISTED_VERSIONS} (keep the newest)")
            items = []
        versions = tuple(reader.string((*keys, key, i), item) for i, item in enumerate(items))
        for index, line in enumerate(versions):
            try:
                list_index("", line)
            except ValueError as exc:
                reader.error((*keys, key, index), f'{str(exc).partition(": ")[2]} (write e.g. "1.31.4 2024-12-10")')
        return KubernetesReleases(f"{path}#kubernetes.versions", INLINE_RELEASES, versions)
    url = reader.url((*keys, key), body[key]).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        reader.error((*keys, key), f"{url!r} is not an http(s) URL")
    return KubernetesReleases(url, STABLE_RELEASES if key == "releases" else LISTED_RELEASES)


def _selector(reader: SpecReader, keys: PathKey, body: Mapping[str, Any], group_names: list[str]) -> Selector:
    if "apps" not in body and "groups" not in body:
        reader.error(keys, "missing required key 'apps' (or 'groups'): the apps or groups the rule applies to")
        return Selector()
    apps = _apps(reader, (*keys, "apps"), body.get("apps"))
    groups = _apps(reader, (*keys, "groups"), body.get("groups"), "group names")
    for position, name in enumerate(groups):
        if name not in group_names:
            known = ", ".join(group_names) or "none is defined"
            reader.error((*keys, "groups", position), f"no group {name!r} in `groups` (groups: {known})")
    return Selector(apps, groups)


def _windows(reader: SpecReader, keys: PathKey, raw: object) -> tuple[int | None, int | None]:
    """`{minor_days, major_days}`: days a new minor or major may wait before it is overdue (None: not set)."""
    body = reader.mapping(keys, raw, ("minor_days", "major_days"))
    minor = _day_count(reader, (*keys, "minor_days"), body["minor_days"]) if "minor_days" in body else None
    major = _day_count(reader, (*keys, "major_days"), body["major_days"]) if "major_days" in body else None
    return minor, major


def _apps(
    reader: SpecReader, keys: PathKey, value: object, what: str = "app names or glob patterns"
) -> tuple[str, ...]:
    if value is None:
        return ()  # a missing key is reported by the mapping read
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        reader.error(keys, f"must be a non-empty list of {what}")
        return ()
    return tuple(value)


def _day_count(reader: SpecReader, keys: PathKey, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    reader.error(keys, f"must be a whole number of days, not {value!r}")
    return 0


_RULE_KEYS = (
    "update_types",
    "allow",
    "ignore",
    "prereleases",
    "minimum_release_age",
    "range_strategy",
    "schedule",
    "enabled",
    "minor_is_major",
    "windows",
)


def _rule(reader: SpecReader, keys: PathKey, raw: Mapping[str, Any]) -> Rule:
    """The rule settings in `raw` (already limited to known keys by the caller's mapping read)."""
    values: dict[str, Any] = {}
    if "update_types" in raw:
        where = (*keys, "update_types")
        kinds = [
            reader.choice((*where, i), kind, _UPDATE_TYPES, "patch")
            for i, kind in enumerate(reader.sequence(where, raw["update_types"]))
        ]
        values["update_types"] = frozenset(UpdateType(kind) for kind in kinds)
    if "allow" in raw:
        values["allow"] = _constraint(reader, (*keys, "allow"), raw["allow"])
    if "ignore" in raw:
        ignored = raw["ignore"] if isinstance(raw["ignore"], list) else [raw["ignore"]]
        parsed = [_constraint(reader, (*keys, "ignore"), item) for item in ignored]
        values["ignore"] = tuple(c for c in parsed if c is not None)
    if "prereleases" in raw:
        values["prereleases"] = reader.choice((*keys, "prereleases"), raw["prereleases"], _PRERELEASES, "auto")
    if "range_strategy" in raw:
        strategy = reader.choice((*keys, "range_strategy"), raw["range_strategy"], _STRATEGIES, _STRATEGIES[0])
        values["range_strategy"] = RangeStrategy(strategy)
    if "enabled" in raw:
        values["enabled"] = reader.boolean((*keys, "enabled"), raw["enabled"], default=True)
    if "minimum_release_age" in raw:
        values["minimum_release_age"] = _age(reader, (*keys, "minimum_release_age"), raw["minimum_release_age"])
    if "schedule" in raw:
        values["schedule"] = _schedule(reader, (*keys, "schedule"), raw["schedule"])
    if "minor_is_major" in raw:
        values["minor_is_major"] = reader.boolean((*keys, "minor_is_major"), raw["minor_is_major"])
    if "windows" in raw:
        values["minor_window_days"], values["major_window_days"] = _windows(reader, (*keys, "windows"), raw["windows"])
    return Rule(**values)


_UPDATE_TYPES = tuple(u.value for u in UpdateType)
_PRERELEASES = ("auto", "never", "always")
_STRATEGIES = tuple(r.value for r in RangeStrategy)


def _constraint(reader: SpecReader, keys: PathKey, value: object) -> Constraint | None:
    text = reader.string(keys, value)
    try:
        return parse_constraint(text)
    except ValueError as exc:
        reader.error(keys, f'{exc} (write a Helm range such as ">=1.2 <2" or "1.4.x")')
        return None


def _age(reader: SpecReader, keys: PathKey, value: object) -> timedelta | None:
    match = _AGE_RE.match(str(value).strip())
    if match is None:
        reader.error(keys, f"{value!r} must look like 3d, 12h or 30m")
        return None
    amount, unit = int(match.group(1)), match.group(2)
    try:
        return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    except OverflowError:
        reader.error(keys, f"{value!r} is longer than the longest wait that can be counted (999999999d)")
        return None


def _schedule(reader: SpecReader, keys: PathKey, value: object) -> tuple[Window, ...] | None:
    items = value if isinstance(value, list) else [value]
    windows: list[Window] = []
    for item in items:
        window = _window(str(item).strip().lower())
        if window is None:
            reader.error(keys, f'window {item!r} must look like "mon-fri 22:00-06:00" or "sat,sun" (UTC)')
            return None
        windows.append(window)
    return tuple(windows)


def _window(text: str) -> Window | None:
    match = _WINDOW_RE.match(text)
    if match is None:
        return None
    days: set[int] = set()
    for part in match.group("days").split(","):
        if part in ("*", "daily"):
            days.update(range(7))
            continue
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            return None
        start_day, end_day = _DAYS.index(first), _DAYS.index(last or first)
        day = start_day
        while True:
            days.add(day)
            if day == end_day:
                break
            day = (day + 1) % 7
    start, end = match.group("start"), match.group("end")
    if start is None or end is None:
        return Window(frozenset(days))
    begin, finish = _minutes(start), _minutes(end)
    if begin is None or finish is None:
        return None
    return Window(frozenset(days), begin, finish)


def _minutes(hhmm: str) -> int | None:
    hours, minutes = int(hhmm[:2]), int(hhmm[3:])
    return hours * 60 + minutes if hours <= 24 and minutes < 60 else None
