"""Flux postBuild variable substitution, done the way kustomize-controller does it.

Only `${...}` expressions are substituted; a bare `$var` is left alone so shell snippets survive, and
`$$` is the escape for a literal `$` (`$${var}` renders as `${var}`). Inside braces the bash-style
functions of drone/envsubst (which Flux forks) apply: defaults `:=`, `:-`, `=`; case `^ ^^ , ,,`;
trims `# ## % %%` (plain strings, not globs); replacements `/ // /# /%`; substrings `:pos[:len]`; and
`${#var}`. In strict mode (the default since Flux 2.9) a variable that is unset and has no default is an
error.

`validate` and the bot's scan both substitute with this module, so an expression means the same to both.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.kinds import SUBSTITUTE_MARK

VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_NAME_AT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
# Longest operators first so `:=` is not read as `:`.
_OPERATORS = (":=", ":-", "^^", ",,", "##", "%%", "//", "/#", "/%", "=", "^", ",", "#", "%", "/", ":")
_DEFAULTING = frozenset({":=", ":-", "="})


class SubstitutionSyntaxError(ValueError):
    """A `${...}` expression that cannot be parsed; `offset` is where it starts."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Substituted:
    """The text after substitution and the variables that were unset without a default."""

    text: str
    unset: tuple[str, ...]


def substitute(text: str, variables: Mapping[str, str], strict: bool = True) -> Substituted:
    """Replace every `${...}` in `text`; in strict mode collect unset variables that have no default."""
    unset: list[str] = []
    result = _Evaluator(variables, unset).run(text, 0)
    if not strict:
        return Substituted(result, ())
    return Substituted(result, tuple(dict.fromkeys(unset)))


def sole_default(text: str) -> str | None:
    """The default of a text that is a single defaulting expression and nothing else (`${name:=default}`,
    `${name:-default}` or `${name=default}`, the default holding no `$`): the part a bot may rewrite in place.
    None for any other text."""
    match = _NAME_AT.match(text, 2) if text.startswith("${") and text.endswith("}") else None
    if match is None:
        return None
    rest = text[match.end() : -1]
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator not in _DEFAULTING:
        return None
    default = rest[len(operator) :]
    return None if "$" in default or "}" in default else default


def invalid_names(variables: Mapping[str, str]) -> list[str]:
    """Variable names Flux rejects (they must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$)."""
    return sorted(name for name in variables if not VAR_NAME.match(name))


def is_opted_out(body: Mapping[str, Any]) -> bool:
    """True when the object's label or annotation turns substitution off for it."""
    meta = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    for marks in (meta.get("labels"), meta.get("annotations")):
        if isinstance(marks, Mapping) and marks.get(SUBSTITUTE_MARK) == "disabled":
            return True
    return False


def flat_value(value: Any) -> str:
    """A variable's value as Flux substitutes it: booleans lowercased, newlines dropped."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("\n", "")


def variables_of(body: Mapping[str, Any]) -> dict[str, str]:
    """The variables a ConfigMap or Secret named in substituteFrom provides (Secret `data` base64-decoded; a value
    that does not decode, such as a SOPS ciphertext, stays as written)."""
    values: dict[str, str] = {}
    data = body.get("data")
    for key, value in data.items() if isinstance(data, Mapping) else ():
        text = "" if value is None else str(value)
        if body.get("kind") == "Secret":
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                text = base64.b64decode(text, validate=True).decode()
        values[str(key)] = text.replace("\n", "")
    string_data = body.get("stringData")
    for key, value in string_data.items() if isinstance(string_data, Mapping) else ():
        values[str(key)] = flat_value(value)
    return values


class _Evaluator:
    def __init__(self, variables: Mapping[str, str], unset: list[str]) -> None:
        self.variables = variables
        self.unset = unset

    def run(self, text: str, base: int) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            dollar = text.find("$", i)
            if dollar < 0 or dollar + 1 >= len(text):
                out.append(text[i:])
                break
            out.append(text[i:dollar])
            following = text[dollar + 1]
            if following == "$":
                out.append("$")
                i = dollar + 2
            elif following == "{":
                end = _closing_brace(text, dollar + 2, base + dollar)
                out.append(self._expression(text[dollar + 2 : end], base + dollar))
                i = end + 1
            else:
                out.append("$")
                i = dollar + 1
        return "".join(out)

    def _expression(self, body: str, offset: int) -> str:
        if body.startswith("#") and VAR_NAME.match(body[1:]):
            return str(len(self._lookup(body[1:], None)))
        match = _NAME_AT.match(body)
        if match is None:
            raise SubstitutionSyntaxError(offset, f"bad substitution ${{{body}}}: expected a variable name")
        name, rest = match.group(), body[match.end() :]
        if not rest:
            return self._lookup(name, None)
        operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
        if operator is None:
            raise SubstitutionSyntaxError(offset, f"bad substitution ${{{body}}}: unknown operator {rest[0]!r}")
        argument = self.run(rest[len(operator) :], offset)
        value = self._lookup(name, operator)
        return _FUNCTIONS[operator](value, argument)

    def _lookup(self, name: str, operator: str | None) -> str:
        if name in self.variables:
            return self.variables[name]
        if operator not in _DEFAULTING:
            self.unset.append(name)
        return ""


def _closing_brace(text: str, start: int, offset: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SubstitutionSyntaxError(offset, "unterminated ${ expression: add the closing '}'")


def _default(value: str, argument: str) -> str:
    return value or argument


def _substring(value: str, argument: str) -> str:
    position, _, length = argument.partition(":")
    try:
        start = int(position.strip() or "0")
        count = int(length) if length else None
    except ValueError:
        return value
    start = max(len(value) + start, 0) if start < 0 else min(start, len(value))
    return value[start:] if count is None else value[start : start + max(count, 0)]


def _replace(how: str) -> Callable[[str, str], str]:
    def apply(value: str, argument: str) -> str:
        pattern, _, replacement = argument.partition("/")
        if not pattern:
            return value
        if how == "first":
            return value.replace(pattern, replacement, 1)
        if how == "all":
            return value.replace(pattern, replacement)
        if how == "prefix":
            return replacement + value[len(pattern) :] if value.startswith(pattern) else value
        return value[: -len(pattern)] + replacement if value.endswith(pattern) else value

    return apply


def _trim_prefix(value: str, argument: str) -> str:
    return value[len(argument) :] if argument and value.startswith(argument) else value


def _trim_suffix(value: str, argument: str) -> str:
    return value[: -len(argument)] if argument and value.endswith(argument) else value


_FUNCTIONS: Mapping[str, Callable[[str, str], str]] = {
    ":=": _default,
    ":-": _default,
    "=": _default,
    "^": lambda v, _: v[:1].upper() + v[1:],
    "^^": lambda v, _: v.upper(),
    ",": lambda v, _: v[:1].lower() + v[1:],
    ",,": lambda v, _: v.lower(),
    "#": _trim_prefix,
    "##": _trim_prefix,
    "%": _trim_suffix,
    "%%": _trim_suffix,
    "/": _replace("first"),
    "//": _replace("all"),
    "/#": _replace("prefix"),
    "/%": _replace("suffix"),
    ":": _substring,
}
