"""A small, fast YAML emitter for the engine's own output (dicts, lists, str, int, float, bool, None).

PyYAML's representer is pure Python and dominated seeding large fleets; rendered objects only use plain
data, so this writes them directly in PyYAML's block style (indentless sequences, keys in insertion order).
Strings are written plain when YAML would read them back as the same string, as literal blocks when they
span lines, and double-quoted (JSON escapes, which YAML accepts) otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml

_RESOLVER = yaml.resolver.Resolver()
_PLAIN = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\t\n\r\x85\u2028\u2029]*\Z")
# Characters YAML may not carry raw (PyYAML's reader refuses them) or would read as line breaks.
_NEEDS_ESCAPE = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PATH_LIKE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./-]*\Z")
_BLOCK_SAFE = re.compile(r"^[^\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029]*\Z")


@lru_cache(maxsize=65536)
def scalar_text(value: str) -> str:
    """How `value` is written as a single-line scalar (plain when unambiguous, else double-quoted)."""
    if "/" in value and _PATH_LIKE.match(value):
        return value  # most strings in a fleet are paths and URLs; see the resolver note below
    if (
        _PLAIN.match(value)
        and not value.endswith((" ", ":"))
        and ": " not in value
        and " #" not in value
        # no YAML 1.1 implicit type (bool, null, int, float, timestamp, merge, value) contains a "/", so paths
        # and URLs skip the resolver, the slowest part of this function
        and ("/" in value or _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str")  # type: ignore[no-untyped-call]
    ):
        return value
    return _NEEDS_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _block(value: str, indent: str) -> str | None:
    """A literal block for a multi-line string, or None when one would not read back identically."""
    if _NEEDS_ESCAPE.search(value) or not _BLOCK_SAFE.match(value) or value[:1] in (" ", "\n"):
        return None
    lines = value.split("\n")
    if any(line != line.rstrip(" ") for line in lines):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    if chomp == "+":
        return None
    return f"|{chomp}\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in body.split("\n"))


def _scalar(value: Any) -> str:
    if type(value) is str:
        return scalar_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        mantissa, e, exponent = repr(value).partition("e")
        # YAML 1.1 reads a float only with a dot in the mantissa (1e-09 would be a string)
        return (mantissa if "." in mantissa else mantissa + ".0") + (f"e{exponent}" if e else "")
    if isinstance(value, str):
        return scalar_text(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _is_map(value: Any) -> bool:
    # exact type first: abstract isinstance checks dominated the emitter's profile
    return type(value) is dict or (type(value) not in _PLAIN_TYPES and isinstance(value, Mapping))


def _is_seq(value: Any) -> bool:
    return type(value) is list or type(value) is tuple


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, tuple})


def _inline(value: Any, indent: int) -> str | None:
    """The text after `key:` or `-` for a value that fits on the line (with a leading space), else None."""
    kind = type(value)
    if kind is str:
        if "\n" not in value:
            return " " + scalar_text(value)
        block = _block(value, " " * (indent + 2))
        return " " + (block if block is not None else scalar_text(value))
    if _is_map(value) or _is_seq(value):
        return None if value else (" {}" if _is_map(value) else " []")
    return " " + _scalar(value)


def _emit_map(value: Mapping[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, item in value.items():
        head = f"{pad}{scalar_text(key) if type(key) is str else _scalar(key)}:"
        text = _inline(item, indent)
        if text is not None:
            out.append(head + text + ("" if text.endswith("\n") else "\n"))
        elif _is_map(item):
            out.append(head + "\n")
            _emit_map(item, indent + 2, out)
        else:
            out.append(head + "\n")
            _emit_seq(item, indent, out)  # PyYAML's indentless sequence under a key


def _emit_seq(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in value:
        text = _inline(item, indent)
        if text is not None:
            out.append(f"{pad}-{text}" + ("" if text.endswith("\n") else "\n"))
            continue
        # "- first: line" with the rest of the nested block aligned two columns in
        nested: list[str] = []
        if _is_map(item):
            _emit_map(item, indent + 2, nested)
        else:
            _emit_seq(item, indent + 2, nested)
        nested[0] = f"{pad}- {nested[0][indent + 2 :]}"
        out.extend(nested)


def emit(doc: Any) -> str:
    """One document in block style."""
    out: list[str] = []
    if _is_map(doc) and doc:
        _emit_map(doc, 0, out)
    elif _is_seq(doc) and doc:
        _emit_seq(doc, 0, out)
    else:
        text = _inline(doc, 0) or ""
        out.append(text[1:] + ("" if text.endswith("\n") else "\n"))
    return "".join(out)
