"""Writing sops trees as YAML exactly the way go-yaml v3 (the library sops uses) lays them out.

Maps nest at the next multiple of the indent; a list under a key is indented a full step; a map inside a list
item starts after `- ` with its other keys at dash column + 2; block-scalar content goes to the next multiple
of the indent above the owning map's column. Strings are plain when libyaml allows it, double-quoted when plain
text would read back as another type, single-quoted otherwise; strings with newlines are literal blocks.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence

from gitops_engine.secrets.values import Branch, Comment, Node, Timestamp, format_float_g, needs_quotes

_FAST_PLAIN = re.compile(r"[A-Za-z0-9_./=+^$(~][\x20-\x7e]*")
# printable ASCII that double quotes hold as is (no `"` and no backslash)
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# the complement of `_printable` as one character class, so whole strings are checked in C
_UNPRINTABLE = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
_ESCAPES = {
    0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r", 0x1B: "e",
    0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P",
}  # fmt: skip


def emit_documents(docs: Sequence[Branch], indent: int = 4) -> str:
    """Documents as YAML text separated by `---`."""
    parts = []
    for doc in docs:
        out: list[str] = []
        if any(not isinstance(i, Comment) for i in doc.items):
            _Writer(indent, out).mapping(doc, 0, "")
        else:
            out.extend(f"#{c.text}" for c in doc.items if isinstance(c, Comment))
            out.append("{}")
        parts.append("\n".join(out) + "\n")
    return "---\n".join(parts)


class _Writer:
    def __init__(self, indent: int, out: list[str]) -> None:
        self.indent = indent
        self.out = out

    def child(self, column: int) -> int:
        return self.indent * ((column + self.indent) // self.indent)

    def mapping(self, branch: Branch, column: int, first_prefix: str | None) -> None:
        pad = " " * column
        prefix = first_prefix
        for item in branch.items:
            if isinstance(item, Comment):
                self.out.append(f"{pad}#{item.text}")
                continue
            key, value = item
            head = (pad if prefix is None else prefix) + _key_text(key) + ":"
            prefix = None
            self.value(head, value, column)

    def value(self, head: str, value: Node, column: int) -> None:
        if isinstance(value, str):
            if "\n" in value and _block_allowed(value):
                self.literal(head, value, self.child(column))
            else:
                self.out.append(f"{head} {_string(value)}")
        elif isinstance(value, Branch) and value.items:
            self.out.append(head)
            self.mapping(value, self.child(column), None)
        elif isinstance(value, tuple) and value:
            self.out.append(head)
            self.sequence(value, self.child(column), None)
        else:
            self.out.append(f"{head} {scalar_text(value)}")

    def sequence(self, items: tuple[Node | Comment, ...], column: int, first_prefix: str | None) -> None:
        pad = " " * column
        prefix = first_prefix
        for element in items:
            if isinstance(element, Comment):
                self.out.append(f"{pad}#{element.text}")
                continue
            dash = (pad if prefix is None else prefix) + "- "
            prefix = None
            if isinstance(element, Branch) and element.items:
                self.mapping(element, column + 2, dash)
            elif isinstance(element, tuple) and element:
                self.sequence(element, column + 2, dash)
            elif isinstance(element, str) and "\n" in element and _block_allowed(element):
                self.literal(dash.rstrip(), element, self.child(column))
            else:
                self.out.append(dash + scalar_text(element))

    def literal(self, head: str, text: str, column: int) -> None:
        hint = str(self.indent) if text[0] in " \n" else ""
        if not text.endswith("\n"):
            chomp, body = "-", text
        elif len(text) == 1 or text[-2] == "\n":
            chomp, body = "+", text[:-1]
        else:
            chomp, body = "", text[:-1]
        self.out.append(f"{head} |{hint}{chomp}")
        pad = " " * column
        self.out.extend(pad + line if line else "" for line in body.split("\n"))


def scalar_text(value: Node) -> str:
    """One scalar as go-yaml writes it on one line (keys are simple keys: never block scalars)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        return "!!binary " + base64.b64encode(value).decode()
    if isinstance(value, Branch):
        return "{}"
    assert isinstance(value, tuple)
    return "[]"


@functools.lru_cache(maxsize=1024)
def _key_text(key: str) -> str:
    # map keys repeat across files and are never secret (sops leaves keys in plaintext), so they are memoised
    return _string(key)


def _string(text: str) -> str:
    if needs_quotes(text) or "\n" in text:
        return _double_quoted(text)
    # fast path for the common case (ENC[…] values, names, base64, regexes): printable ASCII with no indicators
    if _FAST_PLAIN.fullmatch(text) and ": " not in text and " #" not in text and text[-1] not in " :":
        return text
    plain_ok, single_ok = _analyze(text)
    if plain_ok:
        return text
    if single_ok:
        return "'" + text.replace("'", "''") + "'"
    return _double_quoted(text)


def _printable(code: int) -> bool:
    # go-yaml's is_printable works on UTF-8 lead bytes: no C1 controls, no BOM/FFFE/FFFF, nothing above U+FFFF
    return (
        code == 0x0A or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


def _analyze(text: str) -> tuple[bool, bool]:
    """(block plain allowed, single quotes allowed) per libyaml's scalar analysis, for one-line strings."""
    if _UNPRINTABLE.search(text):
        return False, False
    indicators = text.startswith(("---", "..."))
    for index, char in enumerate(text):
        after = text[index + 1] if index + 1 < len(text) else " "
        before = text[index - 1] if index else " "
        if index == 0:
            if char in "#,[]{}&*!|>'\"%@`":
                indicators = True
            if char in "?:-" and after in " \t":
                indicators = True
        elif (char == ":" and after in " \t") or (char == "#" and before in " \t"):
            indicators = True
    edge_space = text[:1] in (" ", "\t") or text[-1:] in (" ", "\t")
    return not (indicators or edge_space), True


def _block_allowed(text: str) -> bool:
    # a tab is outside the printable class, so one search also refuses tabs
    return text[-1:] != " " and " \n" not in text and _UNPRINTABLE.search(text) is None


def _double_quoted(text: str) -> str:
    if _QUOTABLE.fullmatch(text):
        return f'"{text}"'
    out = ['"']
    for char in text:
        code = ord(char)
        if code in _ESCAPES:
            out.append("\\" + _ESCAPES[code])
        elif _printable(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    out.append('"')
    return "".join(out)
