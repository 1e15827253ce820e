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
_BLOCK_SAFE = re.compile(r"^[^\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029]*\Z")


@lru_cache(maxsize=65536)
def scalar_text(value: str) -> str:
    """How `value` is written as a single-line scalar (plain when unambiguous, else double-quoted)."""
    if (
        _PLAIN.match(value)
        and not value.endswith((" ", ":"))
        and ": " not in value
        and " #" not in value
        and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"  # type: ignore[no-untyped-call]
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


def _emit(value: Any, indent: int, out: list[str]) -> None:
    """Append the block form of a non-empty mapping or sequence at `indent` spaces."""
    pad = " " * indent
    if _is_map(value):
        for key, item in value.items():
            out.append(f"{pad}{_scalar(key)}:")
            _emit_value(item, indent, out, in_mapping=True)
        return
    for item in value:
        out.append(f"{pad}-")
        _emit_value(item, indent, out, in_mapping=False)


def _emit_value(item: Any, indent: int, out: list[str], *, in_mapping: bool) -> None:
    if type(item) is str and "\n" not in item:
        out.append(f" {scalar_text(item)}\n")
        return
    if _is_map(item) and item:
        if in_mapping:
            out.append("\n")
            _emit(item, indent + 2, out)
        else:
            # "- key: value" with the rest of the mapping aligned under the first key
            nested: list[str] = []
            _emit(item, indent + 2, nested)
            out.append(" " + "".join(nested)[indent + 2 :])
        return
    if _is_seq(item) and item:
        if in_mapping:
            out.append("\n")
            _emit(item, indent, out)  # PyYAML's indentless sequence under a key
        else:
            nested = []
            _emit(item, indent + 2, nested)
            out.append(" " + "".join(nested)[indent + 2 :])
        return
    if isinstance(item, str) and "\n" in item:
        block = _block(item, " " * (indent + 2))
        if block is not None:
            out.append(" " + block)
            return
    if _is_map(item):
        out.append(" {}\n")
    elif _is_seq(item):
        out.append(" []\n")
    else:
        out.append(f" {_scalar(item)}\n")


def emit(doc: Any) -> str:
    """One document in block style."""
    if (_is_map(doc) or _is_seq(doc)) and doc:
        out: list[str] = []
        _emit(doc, 0, out)
        return "".join(out)
    out = []
    _emit_value(doc, 0, out, in_mapping=False)
    return "".join(out)[1:]
