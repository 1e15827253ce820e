"""A fast reading of Flux manifests: yaml_rs for the values, a line search for the few scalars a bump edits.

Composing a 20-line HelmRelease with PyYAML's C composer costs a few hundred microseconds (a Python node and
two marks per scalar); yaml_rs parses it several times faster but keeps no positions. So yaml_rs decides what
every document says, and only the scalars a bump may rewrite are then found in the bytes: the one line whose
key, ancestors (by indentation) and written value match what the parser read. Whenever that is not certain —
flow style, anchors or tags on the line, escapes, a value spanning lines, two candidates, CR line endings,
duplicate keys, directives, values that are not strings — the reader returns None and the caller composes
the file with the full parser. Positions are byte offsets, so no character-to-byte conversion is needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml_rs

_MARKER = re.compile(rb"^(?:---|\.\.\.)(?=[ \n]|$)", re.MULTILINE)
_CONTENT = re.compile(rb"^ *[^ #\n]", re.MULTILINE)
_KEY_LINE = re.compile(rb"^( *)([A-Za-z0-9_][A-Za-z0-9_./-]*): *(?:#.*)?$")

# A wanted-key tree: each key maps to (read as a scalar leaf, read every scalar child, wanted children, its dotted
# path); the path is spelled once here rather than joined again for every key of every document read
Wanted = Mapping[str, tuple[bool, bool, Any, str]]


class Scalar(NamedTuple):
    """A scalar as written: its value, byte range (quotes included), 1-based line and quote style.

    A named tuple rather than a dataclass: a fleet scan makes one per editable field, built in C.
    """

    value: str
    start: int
    end: int
    line: int
    style: str


@dataclass(frozen=True)
class Document:
    """One document: the line of its first key, the wanted values read, and the located editable scalars."""

    line: int
    values: dict[str, str]
    scalars: dict[str, Scalar]


def wanted_tree(paths: tuple[str, ...], map_leaves: tuple[str, ...] = ()) -> Wanted:
    """The tree to read: dotted `paths` are scalar leaves, `map_leaves` take every scalar child."""
    root: dict[str, Any] = {}
    for dotted, every in [(p, False) for p in paths] + [(p, True) for p in map_leaves]:
        node = root
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}).setdefault("", {})
        node.setdefault(last, {})["every" if every else "leaf"] = True
    return _freeze(root, "")


def _freeze(node: dict[str, Any], prefix: str) -> Wanted:
    return {
        name: (
            bool(spec.get("leaf")),
            bool(spec.get("every")),
            _freeze(spec.get("", {}), f"{prefix}{name}."),
            f"{prefix}{name}",
        )
        for name, spec in node.items()
    }


def read_documents(data: bytes, wanted: Wanted, editable: Mapping[str, frozenset[str]]) -> list[Document] | None:
    """Every document's wanted values and its kind's `editable` scalars located; None when the parser must decide."""
    if b"\r" in data or b"\t" in data or data.startswith((b"\xef\xbb\xbf", b"%")) or b"\n%" in data:
        return None
    regions = _regions(data)
    if regions is None:
        return None
    try:
        loaded = yaml_rs.loads(data.decode("utf-8"), parse_datetime=False)
    except (yaml_rs.YAMLDecodeError, UnicodeDecodeError, ValueError):
        return None
    # yaml_rs answers one document as itself and several as a list; the regions say which it was
    parsed: Any = [] if not regions else [loaded] if len(regions) == 1 else loaded
    if not isinstance(parsed, list) or len(parsed) != len(regions):
        return None
    documents: list[Document] = []
    for (start, end), doc in zip(regions, parsed, strict=True):
        values: dict[str, str] = {}
        if isinstance(doc, dict) and not _collect(doc, wanted, values):
            return None
        scalars: dict[str, Scalar] = {}
        for key in editable.get(values.get("kind", ""), frozenset()).intersection(values):
            found = _locate(data, start, end, key, values[key])
            if found is None:
                return None
            scalars[key] = found
        documents.append(Document(_first_key_line(data, start, end), values, scalars))
    return documents


def _regions(data: bytes) -> list[tuple[int, int]] | None:
    """Byte range of each document, split at `---` lines as the composer splits them; None on `...` or inline."""
    if b"---" not in data and b"..." not in data:
        return [(0, len(data))] if _CONTENT.search(data) else []
    starts: list[int] = []
    for marker in _MARKER.finditer(data):
        line_end = data.find(b"\n", marker.end())
        rest = data[marker.end() : len(data) if line_end == -1 else line_end].strip()
        if marker.group() == b"..." or (rest and not rest.startswith(b"#")):
            return None
        starts.append(marker.start())
    first = _CONTENT.search(data, 0, starts[0] if starts else len(data))
    if first is not None:
        starts.insert(0, 0)
    return [(start, starts[i + 1] if i + 1 < len(starts) else len(data)) for i, start in enumerate(starts)]


def _first_key_line(data: bytes, start: int, end: int) -> int:
    """The line of a document's first node, where a composer's start mark puts it."""
    if data.startswith(b"---", start):
        newline = data.find(b"\n", start, end)
        start = end if newline == -1 else newline + 1
    content = _CONTENT.search(data, start, end)
    at = content.end() - 1 if content is not None else start
    return data.count(b"\n", 0, at) + 1


def _collect(node: Mapping[str, Any], wanted: Wanted, out: dict[str, str]) -> bool:
    """Copy the wanted string values; False when a wanted scalar is not a string (the composer keeps its text)."""
    for name, value in node.items():
        entry = wanted.get(name)
        if entry is None:
            continue
        leaf, every, children, dotted = entry
        if isinstance(value, str):
            if leaf:
                out[dotted] = value
        elif isinstance(value, dict):
            if every:
                for key, item in value.items():
                    if isinstance(item, str):
                        out[f"{dotted}.{key}"] = item
                    elif not isinstance(item, dict | list):
                        return False
            elif children and not _collect(value, children, out):
                return False
        elif leaf and not isinstance(value, list):
            # null, number or boolean: only the composer keeps the text as written
            return False
    return True


def _locate(data: bytes, start: int, end: int, dotted: str, value: str) -> Scalar | None:
    """The one line in [start, end) that writes `dotted` as `value` in plain block style, or None."""
    *parents, leaf = dotted.split(".")
    token = _token(leaf)
    found: Scalar | None = None
    # bytes.find, then a check of the line, is several times cheaper than a multiline regex over the document
    at = data.find(token, start, end)
    while at != -1:
        line_start = max(data.rfind(b"\n", start, at) + 1, start)
        value_at = at + len(token)
        if (
            data[value_at : value_at + 1] == b" "
            and not data[line_start:at].strip(b" ")
            and _ancestors(data, start, line_start, at - line_start) == parents
        ):
            first = value_at
            while first < end and data[first] == 0x20:
                first += 1
            scalar = _written(data, first, value)
            if scalar is None or found is not None:
                return None
            found = scalar
        at = data.find(token, value_at, end)
    return found


_TOKENS: dict[str, bytes] = {}


def _token(key: str) -> bytes:
    token = _TOKENS.get(key)
    if token is None:
        token = _TOKENS[key] = key.encode() + b":"
    return token


def _ancestors(data: bytes, start: int, at: int, indent: int) -> list[str] | None:
    """Keys of the block mappings enclosing the line starting at `at`, outermost first (None if one is not plain)."""
    keys: list[str] = []
    while indent > 0:
        if at <= start:
            return None
        line_start = max(data.rfind(b"\n", start, at - 1) + 1, start)
        line = data[line_start : at - 1]
        at = line_start
        stripped = line.lstrip(b" ")
        if not stripped or stripped[0] == 0x23 or len(line) - len(stripped) >= indent:
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            return None
        keys.append(match.group(2).decode())
        indent = len(match.group(1))
    keys.reverse()
    return keys


def _written(data: bytes, at: int, value: str) -> Scalar | None:
    """The scalar written from `at` to the end of its line, if it reads as exactly `value`."""
    line_end = data.find(b"\n", at)
    rest = data[at : len(data) if line_end == -1 else line_end]
    line = data.count(b"\n", 0, at) + 1
    first = rest[:1]
    if first in (b'"', b"'"):
        close = rest.find(first, 1)
        while first == b"'" and close != -1 and rest[close + 1 : close + 2] == b"'":
            close = rest.find(first, close + 2)
        if close == -1:
            return None
        tail = rest[close + 1 :]
        if tail.strip() and not (tail.startswith(b" ") and tail.lstrip(b" ").startswith(b"#")):
            return None
        body = rest[1:close]
        if first == b'"' and b"\\" in body:
            return None
        text = body.decode("utf-8")
        text = text.replace("''", "'") if first == b"'" else text
        return Scalar(text, at, at + close + 1, line, first.decode()) if text == value else None
    cut = rest.find(b" #")
    plain = (rest if cut == -1 else rest[:cut]).rstrip(b" ")
    # equal to the parsed value also rules out a plain scalar continued on the next lines
    return Scalar(value, at, at + len(plain), line, "") if plain.decode("utf-8") == value else None
