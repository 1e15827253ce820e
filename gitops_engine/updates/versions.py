"""Chart versions and Helm (Masterminds) constraints.

Versions are SemVer 2 with an optional `v` prefix. A prerelease that is itself a full `x.y.z` version is read as a
compound version `<integration>-<base-tech>` (seed 004, e.g. `1.3.0-2.5.0`): both parts are release numbers and
are compared part by part, so `1.3.0-2.6.0` is newer than `1.3.0-2.5.0` and neither is a prerelease.
Constraints follow Masterminds/semver v3, which Helm and Flux's helm-controller use: `,` or space = AND,
`||` = OR, `~`, `^`, x-ranges, hyphen ranges and comparisons; a prerelease only satisfies a term that names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

_CORE = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
# Longer text is not a version: Helm's own parser keeps each part in 64 bits, and a part of thousands of digits
# (one hostile index entry) would otherwise cost a slow or failing int() on every comparison.
_MAX_LENGTH = 128
_VERSION_RE = re.compile(rf"^(v?)(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-({_IDENT}))?(?:\+({_IDENT}))?$")
_COMPOUND_RE = re.compile(rf"^{_CORE}(?:-({_IDENT}))?$")


class UpdateType(StrEnum):
    """How big a step from one version to another is."""

    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"


@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version; `text` is exactly what was written (prefix and all), `base` the compound's second part."""

    text: str
    major: int
    minor: int
    patch: int
    prerelease: tuple[str | int, ...] = ()
    base: Version | None = None

    @property
    def is_prerelease(self) -> bool:
        """True for `-beta.1`-style versions, including a compound whose base-tech part is a prerelease."""
        if self.base is not None:
            return self.base.is_prerelease
        return bool(self.prerelease)

    @property
    def core(self) -> tuple[int, int, int]:
        """major, minor, patch."""
        return (self.major, self.minor, self.patch)

    def __post_init__(self) -> None:
        # comparisons dominate proposal time: compute the sort key once
        object.__setattr__(self, "_sort_key", self._compute_key())

    def _key(self) -> tuple[object, ...]:
        key: tuple[object, ...] = self.__dict__["_sort_key"]
        return key

    def _compute_key(self) -> tuple[object, ...]:
        if self.base is not None:
            return (self.core, 2, self.base._key())
        if not self.prerelease:
            return (self.core, 1, ())
        # SemVer 2 §11: numeric identifiers sort below alphanumeric ones, and numerically among themselves
        idents = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.core, 0, idents)

    # All four orderings spelled out: total_ordering's derived ones cost two extra calls per comparison, and a
    # fleet's proposals make tens of thousands of them.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() >= other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """The version `text` spells (`1.2.3`, `v1.2.3`, `1.2.0-beta.1`, `1.3.0-2.5.0`), or None if it is not one."""
    match = _VERSION_RE.match(text.strip()) if len(text) <= _MAX_LENGTH else None
    if match is None:
        return None
    _, major, minor, patch, pre, _build = match.groups()
    base: Version | None = None
    prerelease: tuple[str | int, ...] = ()
    if pre:
        compound = _COMPOUND_RE.match(pre)
        if compound is not None:
            base = parse_version(pre)
        else:
            prerelease = tuple(_identifier(p) for p in pre.split("."))
    return Version(text.strip(), int(major), int(minor or 0), int(patch or 0), prerelease, base)


def _identifier(part: str) -> str | int:
    # leading zeros make an identifier alphanumeric in SemVer 2
    return int(part) if part.isdigit() and (part == "0" or not part.startswith("0")) else part


def update_type(current: Version, candidate: Version, minor_is_major: bool = False) -> UpdateType:
    """The step from `current` to `candidate`: the first part that differs.

    Between compound versions the base technology decides, as seed 004 rates currency by the upstream it
    packages: `1.3.0-2.5.0 → 1.4.0-3.8.0` is a major (the base went from 2 to 3), `1.3.0-2.5.0 → 1.3.1-2.6.0` a
    minor; the integration part decides only when the base is unchanged. With `minor_is_major` (an upstream whose
    minors break, as seed 004 allows a policy to say) a minor step counts as a major.
    """
    step = _step(current, candidate)
    return UpdateType.MAJOR if minor_is_major and step is UpdateType.MINOR else step


def _step(current: Version, candidate: Version) -> UpdateType:
    if current.base is not None and candidate.base is not None and current.base.core != candidate.base.core:
        return _step(current.base, candidate.base)
    if candidate.major != current.major:
        return UpdateType.MAJOR
    if candidate.minor != current.minor:
        return UpdateType.MINOR
    return UpdateType.PATCH


def release_line(version: Version, minor_is_major: bool = False) -> str:
    """The release line a version belongs to, which names its bot branch (one per target major): the major of
    the base technology for a compound version, else its own; `major.minor` when minors count as majors."""
    part = version.base if version.base is not None else version
    return f"{part.major}.{part.minor}" if minor_is_major else str(part.major)


# --- constraints -------------------------------------------------------------------------------------------------

_TERM_RE = re.compile(r"^(!=|>=|=>|<=|=<|~>|[=<>~^])?\s*(v?)([0-9xX*]+(?:\.[0-9xX*]+){0,2})(?:-([0-9A-Za-z.-]+))?$")
_HYPHEN_RE = re.compile(r"(\S+)\s+-\s+(\S+)")
_SPLIT_RE = re.compile(r"(?<=[0-9A-Za-z*])\s*,?\s+(?=[!=<>~^v0-9xX*])|\s*,\s*")


@dataclass(frozen=True)
class Term:
    """One comparison, e.g. `>=1.2.0`; `dirty` counts the wildcard (or missing) trailing parts."""

    op: str
    version: Version
    dirty: int
    text: str

    def matches(self, v: Version) -> bool:
        """Whether `v` satisfies this term alone."""
        if v.is_prerelease and not self.version.is_prerelease:
            return False
        check = _OPS[self.op]
        return check(v, self)


def _wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _parse_term(text: str) -> Term:
    match = _TERM_RE.match(text.strip()) if len(text) <= _MAX_LENGTH else None
    if match is None:
        raise ValueError(f"not a version constraint: {text[:_MAX_LENGTH]!r}")
    op, prefix, numbers, pre = match.groups()
    parts = numbers.split(".")
    padded: list[str | None] = [*parts, None, None][:3]
    dirty = 0
    for index in range(3):
        if _wild(padded[index]):
            dirty = 3 - index
            break
    nums = [0 if dirty and i >= 3 - dirty else int(str(padded[i])) for i in range(3)]
    suffix = f"-{pre}" if pre else ""
    version = parse_version(f"{prefix}{nums[0]}.{nums[1]}.{nums[2]}{suffix}")
    if version is None or (pre and dirty):
        raise ValueError(f"not a version constraint: {text[:_MAX_LENGTH]!r}")
    return Term(op or "=", version, dirty, text.strip())


def _cmp(v: Version, c: Version) -> int:
    return (v > c) - (v < c)


def _eq(v: Version, t: Term) -> bool:
    if t.dirty == 3:
        return True
    if t.dirty:
        return v.core[: 3 - t.dirty] == t.version.core[: 3 - t.dirty]
    return _cmp(v, t.version) == 0


def _gt(v: Version, t: Term) -> bool:
    if not t.dirty:
        return _cmp(v, t.version) > 0
    keep = 3 - t.dirty
    return keep > 0 and v.core[:keep] > t.version.core[:keep]


def _lt(v: Version, t: Term) -> bool:
    if not t.dirty:
        return _cmp(v, t.version) < 0
    keep = 3 - t.dirty
    return keep > 0 and v.core[:keep] < t.version.core[:keep]


def _tilde(v: Version, t: Term) -> bool:
    if _cmp(v, t.version) < 0:
        return False
    # ~1 allows 1.x; ~1.2 and ~1.2.3 allow 1.2.x
    if t.dirty >= 2:
        return v.major == t.version.major
    return v.major == t.version.major and v.minor == t.version.minor


def _caret(v: Version, t: Term) -> bool:
    if _cmp(v, t.version) < 0:
        return False
    if t.version.major > 0 or t.dirty >= 2:
        return v.major == t.version.major
    if t.version.minor > 0 or t.dirty >= 1:
        return v.major == 0 and v.minor == t.version.minor
    return v.core == t.version.core


_OPS = {
    "=": _eq,
    "!=": lambda v, t: not _eq(v, t),
    ">": _gt,
    "<": _lt,
    ">=": lambda v, t: not _lt(v, t),
    "=>": lambda v, t: not _lt(v, t),
    "<=": lambda v, t: not _gt(v, t),
    "=<": lambda v, t: not _gt(v, t),
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraint:
    """Alternatives (`||`) of term groups that must all hold (`,` or space)."""

    text: str
    groups: tuple[tuple[Term, ...], ...]

    def matches(self, v: Version) -> bool:
        """Whether `v` satisfies the constraint the way Helm decides it."""
        return any(all(term.matches(v) for term in group) for group in self.groups)


@lru_cache(maxsize=4096)
def parse_constraint(text: str) -> Constraint:
    """Parse a Helm/Masterminds constraint; ValueError names the part that is wrong."""
    groups: list[tuple[Term, ...]] = []
    for alternative in text.split("||"):
        alternative = _HYPHEN_RE.sub(r">=\1 <=\2", alternative.strip())
        pieces = [p for p in _SPLIT_RE.split(alternative) if p.strip()]
        if not pieces:
            raise ValueError(f"empty alternative in constraint {text!r}")
        groups.append(tuple(_parse_term(piece) for piece in pieces))
    return Constraint(text, tuple(groups))


@lru_cache(maxsize=4096)
def is_constraint(text: str) -> bool:
    """True when `text` is a range rather than one exact version (what Flux treats as a semver range); text that
    is neither (`../x`, `latest`) is not a range either."""
    if parse_version(text) is not None or not any(ch in text for ch in "<>=~^*xX|, "):
        return False
    try:
        parse_constraint(text)
    except ValueError:
        return False
    return True


class RangeStrategy(StrEnum):
    """How a range moves to admit a newer version: keep its lower bound (widen) or move it (replace)."""

    WIDEN = "widen"
    REPLACE = "replace"


_NUMBERS_RE = re.compile(r"(v?)([0-9xX*]+(?:\.[0-9xX*]+){0,2})(-[0-9A-Za-z.-]+)?$")


def _spelled_like(term: Term, target: Version, op: str | None = None) -> str:
    """`target` written with the term's operator, prefix and precision (`<60` → `<67`, `1.2.x` → `1.4.x`)."""
    match = _NUMBERS_RE.search(term.text)
    assert match is not None  # the term parsed, so its numbers are there
    prefix, numbers, _pre = match.groups()
    parts = numbers.split(".")
    wildcard = next((p for p in parts if _wild(p)), None)
    values = [str(n) for n in target.core[: len(parts)]]
    if wildcard is not None:
        values = [wildcard if _wild(p) else v for p, v in zip(parts, values, strict=True)]
    written_op = term.text[: match.start()].strip() if op is None else op
    return f"{written_op}{prefix}{'.'.join(values)}"


def _next_major(target: Version) -> Version:
    return Version(f"{target.major + 1}.0.0", target.major + 1, 0, 0)


def rewrite_range(constraint: Constraint, target: Version, strategy: RangeStrategy) -> str | None:
    """The range rewritten (same style) so `target` satisfies it, or None when its shape is not one we rewrite."""
    if constraint.matches(target) or len(constraint.groups) != 1:
        return None if constraint.matches(target) else _widen_alternatives(constraint, target, strategy)
    (group,) = constraint.groups
    new_text = constraint.text
    for term in group:
        if term.matches(target):
            if strategy is RangeStrategy.REPLACE and term.op in (">=", "=>", ">"):
                new_text = new_text.replace(term.text, _spelled_like(term, target), 1)
            continue
        if term.op in ("<", "=<", "<="):
            bound = _next_major(target) if term.op == "<" else target
            new_text = new_text.replace(term.text, _spelled_like(term, bound), 1)
        elif term.op in ("^", "~", "~>", "=") and len(group) == 1:
            return _widen_alternatives(constraint, target, strategy)
        else:
            return None
    rewritten = parse_constraint(new_text)
    return new_text if rewritten.matches(target) else None


def _widen_alternatives(constraint: Constraint, target: Version, strategy: RangeStrategy) -> str | None:
    """`^1.2.0` → `^1.2.0 || ^2.0.0` (widen) or `^2.0.0` (replace); other multi-term shapes are left alone."""
    terms = [group[0] for group in constraint.groups if len(group) == 1]
    if len(terms) != len(constraint.groups) or not terms or terms[-1].op not in ("^", "~", "~>", "="):
        return None
    last = terms[-1]
    spelled = _spelled_like(last, target)
    if strategy is RangeStrategy.REPLACE:
        return spelled
    return f"{constraint.text} || {spelled}"
