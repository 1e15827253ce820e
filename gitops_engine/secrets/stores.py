"""The non-YAML sops stores: JSON, dotenv, binary (a JSON envelope) and INI (read only).

Each store turns file text into documents plus the raw `sops` mapping, and back. JSON follows sops 3.10:
numbers are read as float64 (so `7` is encrypted as `type:float`), output is tab-indented with Go's escaping
and no final newline.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from enum import StrEnum

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import MAX_BYTES, MAX_DEPTH
from gitops_engine.secrets.metadata import unflatten
from gitops_engine.secrets.values import Branch, Comment, Item, Node, Timestamp, format_float_f, to_plain

RawMeta = dict[str, object]


class Format(StrEnum):
    """A sops store, chosen from the file name as sops does."""

    YAML = "yaml"
    JSON = "json"
    DOTENV = "dotenv"
    BINARY = "binary"
    INI = "ini"

    @classmethod
    def for_path(cls, path: str) -> Format:
        """The store sops uses for `path` (by extension; anything unknown is binary)."""
        name = path.rsplit("/", 1)[-1].lower()
        if name.endswith((".yaml", ".yml")):
            return cls.YAML
        if name.endswith(".json"):
            return cls.JSON
        if name.endswith(".env"):
            return cls.DOTENV
        if name.endswith(".ini"):
            return cls.INI
        return cls.BINARY


def _branch_hook(pairs: list[tuple[str, object]]) -> Branch:
    return Branch(tuple((key, value) for key, value in pairs))  # type: ignore[misc]


def _tuples(value: object) -> Node:
    if isinstance(value, Branch):
        return Branch(tuple((k, _tuples(v)) for k, v in value.pairs()))
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value  # type: ignore[return-value]


def read_json(text: str, where: str) -> tuple[Branch, RawMeta | None]:
    """A JSON document (numbers as floats, as sops ≤3.13.1 reads them) and its raw metadata; bounded in size and
    depth as YAML is (core.yamlio), before anything walks it."""
    if len(text) > MAX_BYTES:
        raise InputError(
            f"{where}:1: invalid JSON: the text is {len(text):,} characters; at most {MAX_BYTES:,} are read (split it)"
        )
    deep = _too_deep_at(text)
    if deep is not None:
        raise InputError(f"{where}:{deep}: invalid JSON: nested more than {MAX_DEPTH} levels deep (flatten it)")
    try:
        data = json.loads(text, object_pairs_hook=_branch_hook, parse_int=float)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, Branch):
        raise InputError(f"{where}:1: the top level of a sops JSON file must be an object")
    tree = _tuples(data)
    assert isinstance(tree, Branch)
    meta = tree.get("sops")
    raw = to_plain(meta) if isinstance(meta, Branch) else None
    return tree.without("sops"), raw if isinstance(raw, dict) else None


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str) -> int | None:
    """The line where `text` opens its (MAX_DEPTH + 1)th nested array or object, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, token.start()) + 1
        elif bracket in ("]", "}"):
            depth -= 1
    return None


def emit_json(doc: Branch, indent: str = "\t") -> str:
    """Go `json.Indent` output of a tree (no trailing newline, as sops writes it)."""
    return _json(doc, indent, 0)


def _json(node: Node, indent: str, level: int) -> str:
    pad, inner = indent * level, indent * (level + 1)
    if isinstance(node, Branch):
        pairs = list(node.pairs())
        if not pairs:
            return "{}"
        body = ",\n".join(f"{inner}{_json_string(k)}: {_json(v, indent, level + 1)}" for k, v in pairs)
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(node, tuple):
        elements = [e for e in node if not isinstance(e, Comment)]
        if not elements:
            return "[]"
        return "[\n" + ",\n".join(inner + _json(e, indent, level + 1) for e in elements) + "\n" + pad + "]"
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(node)
    if isinstance(node, float):
        if math.isinf(node) or math.isnan(node):
            raise InputError("JSON cannot hold an infinite or NaN number")
        return format_float_f(node) if 1e-6 <= abs(node) < 1e21 or node == 0 else repr(node)
    if isinstance(node, Timestamp):
        return _json_string(node.text)
    if isinstance(node, bytes):
        return _json_string(node.decode())
    return _json_string(node)


def _json_string(text: str) -> str:
    # Go's encoder escapes HTML-significant characters and the JavaScript line separators
    encoded = json.dumps(text, ensure_ascii=False)
    return (
        encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x7f", "\\u007f")
    )  # fmt: skip


def read_binary(raw: bytes, where: str) -> Branch:
    """A binary file as sops's envelope tree `{data: <text>}`."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: binary store needs UTF-8 content (sops stores it as a string)") from exc
    return Branch((("data", text),))


def read_dotenv(text: str, where: str) -> tuple[Branch, RawMeta | None]:
    """`KEY=VALUE` lines (`\\n` escapes in values), `#` comments, `sops_*` metadata keys."""
    items: list[Item] = []
    meta: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            items.append(Comment(line[1:]))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(f"{where}:{number}: not a KEY=VALUE line (dotenv files hold one assignment per line)")
        value = value.replace("\\n", "\n")
        if key.startswith("sops_"):
            meta[key[len("sops_") :]] = value
        else:
            items.append((key, value))
    return Branch(tuple(items)), (unflatten(meta) if meta else None)


def emit_dotenv(doc: Branch, flat_meta: Sequence[tuple[str, str]] = ()) -> str:
    """A tree (plus flattened metadata) as dotenv lines."""
    lines: list[str] = []
    for item in doc.items:
        if isinstance(item, Comment):
            lines.append("#" + item.text)
            continue
        key, value = item
        if isinstance(value, Branch | tuple):
            raise InputError(f"dotenv values must be scalars; {key!r} is nested")
        text = value if isinstance(value, str) else _json(value, "", 0).strip('"')
        lines.append(f"{key}={_escape_newlines(text)}")
    lines.extend(f"sops_{key}={_escape_newlines(value)}" for key, value in flat_meta)
    return "".join(line + "\n" for line in lines)


def _escape_newlines(text: str) -> str:
    return text.replace("\n", "\\n")


def read_ini(text: str, where: str) -> tuple[Branch, RawMeta | None]:
    """An INI file: sections become maps, a comment belongs to the section that follows it."""
    sections: list[tuple[str, list[Item]]] = []
    pending: list[Item] = []
    meta: dict[str, str] = {}
    current: list[Item] | None = None
    in_sops = False
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if line[0] in ";#":
            pending.append(Comment(line[1:]))
        elif line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
            in_sops = name == "sops"
            current = []
            current.extend(pending)
            pending = []
            if not in_sops:
                sections.append((name, current))
        else:
            key, sep, value = line.partition("=")
            if not sep or current is None:
                raise InputError(f"{where}:{number}: expected `key = value` inside a [section]")
            value = value.strip().replace("\\n", "\n")
            if in_sops:
                meta[key.strip()] = value
            else:
                current.append((key.strip(), value))
    if all(name != "DEFAULT" for name, _ in sections):
        sections.insert(0, ("DEFAULT", []))  # go-ini, which sops uses, always has the default section
    tree = Branch(tuple((name, Branch(tuple(items))) for name, items in sections))
    return tree, (unflatten(meta) if meta else None)
