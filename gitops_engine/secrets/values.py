"""The SOPS value model and its exact plaintext encodings (sops `ToBytes`, go-yaml scalar typing).

A document is a `Branch`: ordered items, each a `(key, value)` pair or a `Comment`. Lists are tuples whose
elements may be comments too. Scalars are str, int, float, bool, None and `Timestamp`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TypeAlias, Union


@dataclass(frozen=True, slots=True)
class Comment:
    """A YAML/dotenv/INI comment kept as a tree item; `text` is what follows `#` (leading space included)."""

    text: str


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A YAML timestamp kept as Go's RFC 3339 text with nanoseconds (sops `time` type, 3.10+)."""

    text: str


Scalar: TypeAlias = str | int | float | bool | Timestamp | bytes | None
Node: TypeAlias = Union["Branch", tuple["Node | Comment", ...], Scalar]
Item: TypeAlias = tuple[str, Node] | Comment


@dataclass(frozen=True, slots=True)
class Branch:
    """An ordered mapping with comments in place."""

    items: tuple[Item, ...] = ()

    def pairs(self) -> Iterator[tuple[str, Node]]:
        """The (key, value) items, comments skipped."""
        for item in self.items:
            if not isinstance(item, Comment):
                yield item

    def get(self, key: str) -> Node:
        """The value of `key`, or None."""
        for item_key, value in self.pairs():
            if item_key == key:
                return value
        return None

    def without(self, key: str) -> Branch:
        """This branch minus `key`."""
        return Branch(tuple(i for i in self.items if isinstance(i, Comment) or i[0] != key))


def to_plain(node: Node | Comment) -> object:
    """Plain Python data (dicts, lists) for comparisons and JSON; comments dropped."""
    if isinstance(node, Branch):
        return {k: to_plain(v) for k, v in node.pairs()}
    if isinstance(node, tuple):
        return [to_plain(v) for v in node if not isinstance(v, Comment)]
    if isinstance(node, Timestamp):
        return node.text
    return node


def from_plain(data: object) -> Node:
    """The tree for plain Python data (dict order kept)."""
    if isinstance(data, dict):
        return Branch(tuple((str(k), from_plain(v)) for k, v in data.items()))
    if isinstance(data, list | tuple):
        return tuple(from_plain(v) for v in data)
    if isinstance(data, datetime):
        return Timestamp(format_time(data))
    if data is None or isinstance(data, str | int | float | bool | bytes):
        return data
    raise TypeError(f"cannot represent {type(data).__name__} in a sops tree")


def type_name(value: Scalar | Comment) -> str:
    """The `type:` tag sops writes for `value`."""
    if isinstance(value, Comment):
        return "comment"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Timestamp):
        return "time"
    if isinstance(value, bytes):
        return "bytes"
    return "str"


def to_bytes(value: Scalar | Comment) -> bytes:
    """sops `ToBytes`: the bytes that are encrypted and fed to the MAC."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_float_f(value).encode()
    if isinstance(value, Comment):
        return value.text.encode()
    if isinstance(value, Timestamp):
        return value.text.encode()
    if isinstance(value, bytes):
        return value
    return b""


def from_bytes(kind: str, raw: bytes) -> Scalar | Comment:
    """Parse decrypted bytes back to a value of sops type `kind`."""
    text = raw.decode()
    if kind == "str":
        return text
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return _parse_go_bool(text)
    if kind == "comment":
        return Comment(text)
    if kind == "time":
        return Timestamp(text)
    if kind == "bytes":
        return raw
    raise ValueError(f"unknown sops value type {kind!r}")


def _parse_go_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"not a bool: {text!r}")


def _digits(value: float) -> tuple[str, int, bool]:
    """Shortest round-trip digits, decimal exponent of the first digit, sign (value finite)."""
    dec = Decimal(repr(value)).normalize()
    sign, digit_tuple, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    return digits, len(digits) + exponent - 1, bool(sign)


def _special_float(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def format_float_f(value: float) -> str:
    """Go `FormatFloat(v, 'f', -1, 64)`: shortest digits, never an exponent."""
    special = _special_float(value)
    if special:
        return special
    return format(Decimal(repr(value)).normalize(), "f")


def format_float_g(value: float) -> str:
    """Go `FormatFloat(v, 'g', -1, 64)` as go-yaml writes floats (`.inf`, `.nan` for the specials)."""
    special = _special_float(value)
    if special:
        return {"NaN": ".nan", "+Inf": ".inf", "-Inf": "-.inf"}[special]
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, exp, negative = _digits(value)
    sign = "-" if negative else ""
    # Go uses precision 6 for the exponent decision when printing the shortest form
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + format_float_f(abs(value))


# go-yaml v3 resolve.go, restated: what a plain scalar means.
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)$")
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?"
    r"(?:[ \t]*(Z|[-+]\d{1,2}(?::?\d{2})?))?)?$"
)
_OLD_BOOLS = frozenset(
    ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]
)
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


def _go_int(text: str) -> int | None:
    if not _GO_INT.match(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    lowered = body.lower()
    if lowered.startswith("0x"):
        number = int(body[2:], 16)
    elif lowered.startswith("0b"):
        number = int(body[2:], 2)
    elif lowered.startswith("0o"):
        number = int(body[2:], 8)
    elif len(body) > 1 and body.startswith("0"):
        number = int(body[1:], 8)
    else:
        number = int(body)
    number *= sign
    return number if -(2**63) <= number < 2**64 else None


def resolve_plain(text: str) -> Scalar:
    """A plain (unquoted) YAML scalar typed the go-yaml v3 way, which is how sops types it."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if not text or text[0] not in "+-.0123456789":
        return text
    stamp = parse_timestamp(text)
    if stamp is not None:
        return stamp
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _YAML_FLOAT.match(plain):
        return float(plain)
    return text


def _timestamp_fields(text: str) -> tuple[datetime, str | None, str | None] | None:
    """(naive moment, fraction digits, zone) of a valid YAML timestamp, else None."""
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return moment, fraction, zone


def parse_timestamp(text: str) -> Timestamp | None:
    """A YAML timestamp in one of go-yaml's accepted layouts, as RFC 3339 with nanoseconds."""
    fields = _timestamp_fields(text)
    if fields is None:
        return None
    moment, fraction, zone = fields
    offset = UTC
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:-2] or digits), int(digits[-2:]) if len(digits) > 2 else 0
        delta = timedelta(hours=hours, minutes=minutes)
        if delta >= timedelta(hours=24):
            return None  # not a time zone offset: go-yaml keeps such a value a string, and so do we
        offset = timezone(-delta if zone[0] == "-" else delta)
    nanos = (fraction or "").ljust(9, "0")
    return Timestamp(_rfc3339(moment.replace(tzinfo=offset), int(nanos)))


def format_time(moment: datetime) -> str:
    """Go `time.MarshalText` for a Python datetime (naive means UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return _rfc3339(aware.replace(microsecond=0), moment.microsecond * 1000)


def _rfc3339(moment: datetime, nanos: int) -> str:
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        base += "." + f"{nanos:09d}".rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return base + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{base}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# Only these can type a plain scalar that starts with a character outside _NUMERIC_START: the null, bool and
# YAML 1.1 bool words (numbers, timestamps, special floats, base 60 and `<<` all start inside it).
_NUMERIC_START = "+-.0123456789<"
_TYPED_WORDS = _NULLS | _BOOLS.keys() | _OLD_BOOLS


def needs_quotes(text: str) -> bool:
    """True when a string written plain would read back as another type (go-yaml double-quotes it)."""
    if text and text[0] not in _NUMERIC_START:
        return text in _TYPED_WORDS
    fields = _timestamp_fields(text)
    if fields is not None and fields[2] in (None, "Z"):
        return True  # typed as time (like `lastmodified`); resolve_plain would also format it, the slow part
    return not isinstance(resolve_plain(text), str) or text == "<<" or bool(_BASE60.match(text))
