"""Regular expressions a repository hands us (sops `path_regex`, `encrypted_regex` and the like), checked before
they run.

sops matches them with Go's RE2, in time linear in the text. Python's engine backtracks instead: a pattern that
repeats a group which itself repeats or branches (`((.*)*)*x`, `(a|aa)+`) takes exponential time, and a file
name of a dozen characters is enough to hang a run. Such patterns are refused, and so are backreferences and
lookarounds, which RE2 lacks (sops could not use the pattern either). Repetitions side by side (`.*a.*b`) cost
only polynomial time on paths and keys and are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NESTED = (
    "repeats a group that itself repeats or branches, which can take exponential time "
    "(write it without the nested repetition, e.g. `(ab)*` or `.*`)"
)
_RE2_LACKS = "uses {what}, which sops's regular expressions (Go RE2) do not have (write it without)"
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")
_QUANTIFIER = re.compile(r"\*|\+|\?|\{(\d*)(,?)(\d*)\}")


@dataclass
class _Group:
    repeats: bool = False
    branches: bool = False


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` may not be used (a clause to follow the pattern in a message), or None when it may."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return _scan(pattern)


def _scan(pattern: str) -> str | None:
    """One pass over a pattern that compiles: each group's repetitions and branches, checked where it closes."""
    stack = [_Group()]
    last_group: _Group | None = None  # the group that just closed, which a quantifier would repeat
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if pattern[index + 1 : index + 2].isdigit() and pattern[index + 1] != "0":
                return _RE2_LACKS.format(what="a backreference")
            last_group, index = None, index + 2
            continue
        if char == "[":
            last_group, index = None, _class_end(pattern, index)
            continue
        if char == "(":
            if pattern.startswith(_LOOKAROUND, index):
                return _RE2_LACKS.format(what="a lookaround")
            if pattern.startswith(("(?P=", "(?(", "(?>"), index):
                return _RE2_LACKS.format(what="a backreference or an atomic group")
            stack.append(_Group())
            last_group, index = None, index + 1
            continue
        if char == ")":
            last_group = stack.pop()
            stack[-1].repeats |= last_group.repeats
            stack[-1].branches |= last_group.branches
            index += 1
            continue
        if char == "|":
            stack[-1].branches = True
        quantifier = _QUANTIFIER.match(pattern, index)
        if quantifier is None or quantifier.group() in ("{}", "{,}"):  # Python reads these braces as text
            last_group, index = None, index + 1
            continue
        least, most = _bounds(quantifier)
        if most > 1 and last_group is not None and (last_group.repeats or last_group.branches):
            return NESTED
        # a fixed count (`{3}`) or an optional atom (`?`) matches in one way only; the rest in many
        stack[-1].repeats |= most > 1 and most != least
        last_group, index = None, quantifier.end()
        if pattern[index : index + 1] in ("?", "+"):  # lazy or possessive: the same repetition
            index += 1
    return None


def _bounds(quantifier: re.Match[str]) -> tuple[int, float]:
    """How often a quantifier lets its atom match, at least and at most (`*` is (0, inf), `{2,5}` is (2, 5))."""
    text = quantifier.group()
    if text in ("*", "+", "?"):
        return (0 if text != "+" else 1), (1 if text == "?" else float("inf"))
    low, comma, high = quantifier.groups()
    least = int(low or 0)
    return least, (float(high) if high else float("inf")) if comma else least


def _class_end(pattern: str, start: int) -> int:
    """The index after the `]` closing the character class that opens at `start`."""
    index = start + 1
    if pattern[index : index + 1] == "^":
        index += 1
    if pattern[index : index + 1] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1
