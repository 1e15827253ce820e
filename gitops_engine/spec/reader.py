"""The one reader of config files (platform spec, currency policy, propagate config, `.sops.yaml`): typed reads
from a located YAML document that collect every error as `file:line: key.path: message`, reported all at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.shown import shown
from gitops_engine.core.urls import CREDENTIALS_FIX, has_credentials, redacted
from gitops_engine.core.yamlio import LocatedDocument, PathKey, YamlError, load_located
from gitops_engine.model.selector import OPERATORS, LabelSelector, Requirement

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def render_path(path: PathKey) -> str:
    """`clusters[1].role` style key path; keys are escaped (`\x1b`), as a file may hold any text in them."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{shown(part)}" if out else shown(part))
    return out or "(document)"


def read_config(text: str | bytes, filename: str) -> SpecReader | None:
    """A reader over the one document of a config file, or None when the file holds none; YAML that does not parse
    (or is over a limit), a second document, or a document that is not a mapping (every config file is one, and
    nothing below it could be read) is an InputError at its line."""
    try:
        docs = load_located(text)
    except YamlError as exc:
        raise InputError(f"{filename}:{exc.line}: invalid YAML: {exc.problem}") from exc
    if len(docs) > 1:
        raise InputError(
            f"{filename}:{docs[1].start_line}: (document): expected one YAML document, found {len(docs)} "
            "(one document per file: remove the one that starts here)"
        )
    if not docs:
        return None
    if not isinstance(docs[0].data, dict):
        raise InputError(f"{filename}:{docs[0].start_line}: (document): must be a mapping, not {_kind(docs[0].data)}")
    return SpecReader(docs[0], filename)


class SpecReader:
    """Reads values out of one document; never raises for a user mistake, records it instead."""

    def __init__(self, doc: LocatedDocument, filename: str) -> None:
        self.doc = doc
        self.filename = filename
        self.errors: list[tuple[int, str]] = []
        for path, line in doc.duplicate_keys:
            self.errors.append((line, f"{render_path(path)}: duplicate key (each key may appear once)"))

    def error(self, path: PathKey, message: str) -> None:
        """Record `message` at the line of `path`."""
        self.errors.append((self.doc.line_of(path), f"{render_path(path)}: {message}"))

    def lines(self) -> list[str]:
        """Every recorded error as `file:line: path: message`, in file order."""
        return [f"{self.filename}:{line}: {msg}" for line, msg in sorted(self.errors, key=lambda e: e[0])]

    def raise_errors(self) -> None:
        """Raise every recorded error as one InputError (nothing happens when there is none)."""
        if self.errors:
            raise InputError(self.lines())

    def mapping(
        self, path: PathKey, value: Any, allowed: Collection[str], required: Collection[str] = ()
    ) -> dict[str, Any]:
        """A mapping with only `allowed` keys (unknown keys get a did-you-mean) and all `required` ones."""
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                guess = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"; did you mean {guess[0]!r}?" if guess else f"; allowed keys: {', '.join(sorted(allowed))}"
                self.error((*path, str(key)), f"unknown key{hint}")
        for key in required:
            if key not in value:
                self.error(path, f"missing required key {key!r}")
            elif value[key] is None or value[key] == "":
                self.error((*path, key), "is required: give it a value")
        return {k: v for k, v in value.items() if isinstance(k, str) and k in allowed}

    def string(self, path: PathKey, value: Any, *, dns: bool = False, default: str = "") -> str:
        """A string (ints and floats are refused: quote versions), optionally a DNS-1123 label."""
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(path, f"must be a string, not {_kind(value)} (quote it)")
            return default
        if dns and not DNS_LABEL.match(value):
            self.error(path, f"{value!r} is not a valid name (lowercase letters, digits and '-', at most 63)")
        return value

    def url(self, path: PathKey, value: Any, default: str = "") -> str:
        """A string naming a URL or path that will be committed or printed: it must not carry credentials
        (the message never repeats the URL)."""
        text = self.string(path, value, default=default)
        if has_credentials(text):
            self.error(path, CREDENTIALS_FIX)
            return redacted(text)
        return text

    def boolean(self, path: PathKey, value: Any, default: bool = False) -> bool:
        """A YAML boolean."""
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, not {_kind(value)}")
            return default
        return value

    def choice(self, path: PathKey, value: Any, choices: tuple[str, ...], default: str) -> str:
        """One of `choices`."""
        text = self.string(path, value, default=default)
        if text not in choices:
            self.error(path, f"{text!r} is not one of {', '.join(choices)}")
            return default
        return text

    def sequence(self, path: PathKey, value: Any) -> list[Any]:
        """A list (None is the empty list)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"must be a list, not {_kind(value)}")
            return []
        return value

    def string_map(self, path: PathKey, value: Any, *, label_keys: bool = False) -> dict[str, str]:
        """A map of string to string (labels, variables); scalars are refused so `"true"` stays a string."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping of strings, not {_kind(value)}")
            return {}
        out: dict[str, str] = {}
        for key, item in value.items():
            key_path = (*path, str(key))
            if not isinstance(key, str):
                self.error(key_path, "keys must be strings")
                continue
            if label_keys and not _LABEL_KEY.match(key):
                self.error(key_path, f"{key!r} is not a valid label key")
            if isinstance(item, dict | list):
                self.error(key_path, f"must be a string, not {_kind(item)}")
                continue
            if not isinstance(item, str):
                self.error(key_path, f'must be a string, not {_kind(item)} (quote it, e.g. "{item}")')
                continue
            out[key] = item
        return out

    def selector(self, path: PathKey, value: Any) -> LabelSelector:
        """A Kubernetes label selector (`matchLabels`, `matchExpressions`)."""
        if value is None:
            return LabelSelector()
        body = self.mapping(path, value, ("matchLabels", "matchExpressions"))
        labels = self.string_map((*path, "matchLabels"), body.get("matchLabels"), label_keys=True)
        requirements: list[Requirement] = []
        for index, raw in self.records((*path, "matchExpressions"), body.get("matchExpressions")):
            item_path = (*path, "matchExpressions", index)
            item = self.mapping(item_path, raw, ("key", "operator", "values"), ("key", "operator"))
            operator = self.choice((*item_path, "operator"), item.get("operator"), OPERATORS, "Exists")
            values = tuple(
                self.string((*item_path, "values", i), v)
                for i, v in enumerate(self.sequence(item_path, item.get("values")))
            )
            if operator in ("In", "NotIn") and not values:
                self.error(item_path, f"operator {operator} needs a non-empty 'values' list")
            if operator not in ("In", "NotIn") and values:
                self.error((*item_path, "values"), f"operator {operator} takes no values (remove them)")
            requirements.append(Requirement(self.string((*item_path, "key"), item.get("key")), operator, values))
        return LabelSelector(labels, tuple(requirements))

    def records(self, path: PathKey, value: Any) -> list[tuple[int, dict[str, Any]]]:
        """The items of a list of records, each with its index. An item that is not a mapping is reported and
        left out, so it adds no errors to its neighbours (an empty name that is "already used", a duplicate)."""
        found: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(self.sequence(path, value)):
            if isinstance(item, dict):
                found.append((index, item))
            else:
                self.error((*path, index), f"must be a mapping, not {_kind(item)}")
        return found

    def unique(self, path: PathKey, items: list[tuple[int, dict[str, Any]]], key: str, what: str) -> None:
        """Report records (from `records`) whose `key` repeats an earlier one."""
        seen: dict[str, int] = {}
        for index, item in items:
            name = item.get(key)
            if not isinstance(name, str):
                continue
            if name in seen:
                self.error(
                    (*path, index, key), f"duplicate {what} {name!r} (first at {render_path((*path, seen[name]))})"
                )
            else:
                seen[name] = index


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        bytes: "binary data",
        set: "a set",
        date: "a date",
        datetime: "a date",
    }.get(type(value), type(value).__name__)
