"""A line reader for the plain block-YAML subset sops and kubectl write, so common files skip the composer.

The subset: one document, no comments, tabs, blank-only lines, anchors, tags or flow collections other than
`[]`/`{}`; keys are simple names; values are one-line plain scalars without spaces, quoted strings without
escapes, or literal `|` blocks. Anything outside it returns None and the caller uses the full reader, which
is also the one that words the errors: this reader never rejects a file, it only declines it.
"""

from __future__ import annotations

import re
from typing import Any

from gitops_engine.secrets.values import Branch, Node, resolve_plain

_KEY = r"(?:[A-Za-z0-9_]|\.[A-Za-z0-9_])[A-Za-z0-9_./-]*"
# The first character may not be a YAML indicator; `-`, `?` and `:` are left to the composer. No spaces
# anywhere, so `: ` and ` #` cannot occur; a final `:` would make the line a mapping key.
_PLAIN = r"[A-Za-z0-9_./=+^$(~][A-Za-z0-9_./=+^$()~:,@%|\[\]{}-]*(?<!:)"
_DOUBLE = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SINGLE = r"'[\x20-\x26\x28-\x7e]*'"
_VALUE = rf"{_PLAIN}|{_DOUBLE}|{_SINGLE}|\[\]|\{{\}}"
_LINE = re.compile(rf"( *)(- )?(?:({_KEY}):(?: ({_VALUE}|\|))?|({_VALUE}))")
_ASCII_LINE = re.compile(r"[\x20-\x7e]*")


class _Frame:
    """An open map or list: its column, its entries so far and, for a map, a key still waiting for its value."""

    __slots__ = ("entries", "indent", "is_map", "keys", "pending")

    def __init__(self, indent: int, is_map: bool) -> None:
        self.indent = indent
        self.is_map = is_map
        self.entries: list[Any] = []
        self.keys: set[str] = set()
        self.pending: str | None = None

    def node(self) -> Node:
        return Branch(tuple(self.entries)) if self.is_map else tuple(self.entries)

    def add(self, value: Node) -> None:
        if not self.is_map:
            self.entries.append(value)
        elif self.pending is None:
            raise _DeclinedError
        else:
            self.entries.append((self.pending, value))
            self.pending = None


class _DeclinedError(Exception):
    """The text leaves the subset."""


def read_simple(text: str) -> Branch | None:
    """The document in `text` when it is inside the subset, else None."""
    if not text.endswith("\n") or not text.isascii() or "#" in text or "\t" in text or "\r" in text:
        return None
    if text.startswith(("---", "%")):
        return None
    try:
        return _parse(text.split("\n")[:-1])
    except _DeclinedError:
        return None


def _parse(lines: list[str]) -> Branch:
    # one pass with a stack of open frames; this loop is the hot path of sops reads, so it keeps to locals
    root = _Frame(0, True)
    stack = [root]
    index, count = 0, len(lines)
    while index < count:
        line = lines[index]
        index += 1
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise _DeclinedError
        spaces, dash, key, value, element = match.groups()
        is_item, indent = dash is not None, len(spaces)
        top = stack[-1]
        if top.pending is not None or top.indent != indent or top.is_map == is_item:
            top = _frame_for(stack, indent, is_item)  # the line opens or closes frames (or is out of place)
        if key is None:
            if not is_item:
                raise _DeclinedError  # a lone scalar line in a map: a continuation or an error, both for the composer
            top.entries.append(_scalar(element))
            continue
        if is_item:
            top = _Frame(top.indent + 2, True)
            stack.append(top)
        if key in top.keys:
            raise _DeclinedError  # the composer path names the duplicate
        top.keys.add(key)
        if value is None:
            top.pending = key
        elif value == "|":
            text, index = _literal(lines, index, top.indent)
            top.entries.append((key, text))
        else:
            top.entries.append((key, _scalar(value)))
    top = stack[-1]
    if top.pending is not None:
        top.add(None)
    while len(stack) > 1:
        done = stack.pop()
        stack[-1].add(done.node())
    return Branch(tuple(root.entries))


def _frame_for(stack: list[_Frame], indent: int, is_item: bool) -> _Frame:
    """The frame a line at `indent` belongs to, after opening or closing frames as the indentation says."""
    top = stack[-1]
    if top.pending is not None:
        # the pending key's block value starts here (a list may sit at the key's own column), or it is null
        if indent > top.indent or (is_item and indent == top.indent):
            top = _Frame(indent, not is_item)
            stack.append(top)
        else:
            top.add(None)
    # close the frames this line is outside of; a list at its key's column ends at the next key
    while top.indent > indent or (top.indent == indent and not top.is_map and not is_item):
        stack.pop()
        stack[-1].add(top.node())
        top = stack[-1]
    if top.indent != indent or top.is_map == is_item:
        raise _DeclinedError
    return top


def _literal(lines: list[str], index: int, parent: int) -> tuple[str, int]:
    """A clipped `|` block starting at `index` whose lines are all at least as deep as its first, which is
    deeper than `parent`; returns the text and the index of the line after it."""
    body: list[str] = []
    column = -1
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip(" ")
        if not stripped or not _ASCII_LINE.fullmatch(line):
            raise _DeclinedError
        width = len(line) - len(stripped)
        if column < 0:
            column = width
        if width < column:
            break
        body.append(line[column:])
        index += 1
    if column <= parent or not body:
        raise _DeclinedError
    return "\n".join(body) + "\n", index


def _scalar(text: str) -> Node:
    if text[0] in "\"'":
        return text[1:-1]
    if text in ("[]", "{}"):
        return () if text == "[]" else Branch()
    return resolve_plain(text)
