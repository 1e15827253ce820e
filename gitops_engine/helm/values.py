"""The values helm-controller hands to Helm: `valuesFrom` entries in order, then `spec.values`.

The composition mirrors fluxcd/pkg `chartutil.ChartValuesFromReferences` including its Go aliasing: `merge_maps`
copies only the outer map and adopts the other map's subtrees by reference, and a `targetPath` write lands in
whatever container sits at the path. A write into a container adopted from `spec.values` therefore survives the
final merge with `spec.values` and beats later entries, while one into a re-merged copy does not; upstream's
"target path precedence" tests rely on exactly this. The chart's defaults are coalesced by Helm itself when it
renders (a `null` there deletes a default).

`targetPath` values use Helm's `--set` syntax (strvals): `true`/`false`/`null` (any case), `0` and integers
without a leading zero are typed, everything else is a string; `{a,b}` is a list; a backslash escapes the next
character; an unescaped comma ends the assignment; a value wholly quoted in `'` or `"` is a string.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitops_engine.core.yamlio import YamlError, load
from gitops_engine.helm.release import ValuesRef

# Helm's strvals limits: list indexes and nesting a path may ask for
MAX_INDEX = 65536
MAX_NESTING = 30

# The data of one valuesFrom entry, or None when its object or key does not exist.
ValuesFetch = Callable[[ValuesRef], str | None]


class ValuesError(ValueError):
    """helm-controller would fail the release with this (its `ValuesError`); `position` is the entry's index."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


def merge_maps(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """fluxcd/pkg `MergeMaps`: maps merge deeply, anything else in `top` replaces; `top`'s subtrees are shared."""
    out = dict(base)
    for key, value in top.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge_maps(current, value)
        else:
            out[key] = value
    return out


def compose_values(refs: Sequence[ValuesRef], inline: Mapping[str, Any], fetch: ValuesFetch) -> dict[str, Any]:
    """The final user values of a release; raises ValuesError where helm-controller would fail."""
    # one fresh copy stands for the map Go decodes on each reconcile; the caller's body is never written to
    values = copy.deepcopy(dict(inline))
    result: dict[str, Any] = {}
    for position, ref in enumerate(refs):
        data = fetch(ref)
        if data is None:
            if ref.optional:
                continue
            raise ValuesError(f"{ref.kind} {ref.name} or its key {ref.values_key!r} does not exist", position)
        if ref.target_path:
            result = merge_maps(result, values)
            try:
                set_path(result, ref.target_path, data)
            except ValueError as exc:
                raise ValuesError(f"targetPath {ref.target_path!r}: {exc}", position) from None
        else:
            result = merge_maps(result, _yaml_map(data, ref, position))
    return merge_maps(result, values)


def _yaml_map(data: str, ref: ValuesRef, position: int) -> Mapping[str, Any]:
    where = f"{ref.kind} {ref.name} key {ref.values_key!r}"
    try:
        docs = load(data)
    except YamlError as exc:
        raise ValuesError(f"{where} is not valid YAML: line {exc.line}: {exc.problem}", position) from None
    doc = docs[0] if docs else None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ValuesError(f"{where} is not a YAML map of values", position)
    return copy.deepcopy(dict(doc))


def set_path(values: dict[str, Any], path: str, data: str) -> None:
    """Helm strvals `ParseInto(path=data)`: write `data` at `path` in place; ValueError for what strvals refuses."""
    segments = _segments(path)
    value = _typed_value(data, segments[-1])
    container: Any = values
    for depth, (segment, following) in enumerate(zip(segments, [*segments[1:], None], strict=True)):
        last = following is None
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(segment, str):
            if depth > 0 and not isinstance(container, dict):
                raise ValueError(f"{_shown(segments[:depth])} is not a map")
            if last:
                container[segment] = value
                return
            child = container.get(segment)
            child = _descend(child, fresh, segments[: depth + 1])
            container[segment] = child
        else:
            if last:
                container = _grown(container, segment)
                container[segment] = value
                _put_back(values, segments[:depth], container)
                return
            container = _grown(container, segment)
            _put_back(values, segments[:depth], container)
            child = _descend(container[segment], fresh, segments[: depth + 1])
            container[segment] = child
        container = child


def _descend(child: Any, fresh: Any, where: Sequence[str | int]) -> Any:
    if child is None:
        return fresh
    if type(child) is not type(fresh) and not (isinstance(child, dict) and isinstance(fresh, dict)):
        raise ValueError(f"{_shown(where)} holds a {type(child).__name__}, not a {type(fresh).__name__}")
    return child


def _grown(items: list[Any], index: int) -> list[Any]:
    # like Go's setIndex: a list that must grow is a new list (filled with null), one that need not is written
    if index < len(items):
        return items
    return [*items, *([None] * (index + 1 - len(items)))]


def _put_back(values: dict[str, Any], where: Sequence[str | int], items: list[Any]) -> None:
    holder: Any = values
    for segment in where[:-1]:
        holder = holder[segment]
    holder[where[-1]] = items


_PATH_TOKEN = re.compile(r"\\(.)|\[([^\]]*)\]|(\.)|([,=\[\]])|([^\\.\[\],=]+)|(\\)", re.DOTALL)


def _segments(path: str) -> list[str | int]:
    """`a.b\\.c[2].d` → ['a', 'b.c', 2, 'd']."""
    segments: list[str | int] = []
    key = ""
    after_index = False
    for match in _PATH_TOKEN.finditer(path):
        escaped, index, dot, bad, text, _ = match.groups()
        if escaped is not None or text is not None:
            key += escaped if escaped is not None else text
            after_index = False
        elif index is not None:
            if key:
                segments.append(key)
                key = ""
            segments.append(_index(index, path, bool(segments)))
            after_index = True
        elif dot is not None:
            if not key and not after_index:
                raise ValueError(f"empty key in {path!r}")
            if key:
                segments.append(key)
            key, after_index = "", False
        else:
            found = bad or "a trailing backslash"
            raise ValueError(f"{found!r} in the path {path!r} (escape it with a backslash)")
    if key:
        segments.append(key)
    elif not after_index:
        raise ValueError(f"the path {path!r} ends without a key")
    if len(segments) > MAX_NESTING:
        raise ValueError(f"the path nests more than {MAX_NESTING} levels")
    return segments


def _index(digits: str, path: str, has_key: bool) -> int:
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"bad list index [{digits}] in {path!r}")
    if not has_key:
        raise ValueError(f"{path!r} starts with a list index; a key must come first")
    index = int(digits)
    if index > MAX_INDEX:
        raise ValueError(f"list index {index} is over the limit of {MAX_INDEX}")
    return index


def _typed_value(data: str, last: str | int) -> Any:
    if len(data) >= 2 and data[0] == data[-1] and data[0] in "'\"":
        return data[1:-1]
    if data.startswith("{"):
        items, rest = _until(data[1:], ",}", stop_at="}")
        if rest != "}":
            raise ValueError(f"the list value of {last!r} does not end with '}}'")
        return [_typed(item) for item in items]
    parts, _ = _until(data, ",", stop_at=None)
    if len(parts) > 1:
        following = parts[1].split("=", 1)[0]
        raise ValueError(f"key {following!r} has no value (an unescaped ',' ends the value; write '\\,')")
    return _typed(parts[0])


def _until(text: str, separators: str, stop_at: str | None) -> tuple[list[str], str]:
    """Split `text` at unescaped separators; the text after `stop_at` (included) is returned separately."""
    items: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 2
            continue
        if stop_at is not None and char == stop_at:
            items.append("".join(current))
            return items, text[i:]
        if char in separators:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    items.append("".join(current))
    return items, ""


def _typed(text: str) -> Any:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0":
        digits = text[1:] if text[0] in "+-" else text
        if digits.isdigit() and digits.isascii() and -(2**63) <= int(text) < 2**63:
            return int(text)
    return text


def _shown(where: Sequence[str | int]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in where).lstrip(".")
