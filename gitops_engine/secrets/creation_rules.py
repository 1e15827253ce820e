"""`.sops.yaml`: creation rules (first `path_regex` match wins), store indents, and the file the seed writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from gitops_engine.core.bech32 import checksum_ok
from gitops_engine.core.errors import InputError
from gitops_engine.core.regexes import regex_problem
from gitops_engine.core.shown import shown
from gitops_engine.core.yamlio import PathKey, emit
from gitops_engine.secrets.selection import SECRET_REGEX, Selection, read_selection
from gitops_engine.spec.reader import SpecReader, read_config


@dataclass(frozen=True)
class CreationRule:
    """One creation rule: which files (path_regex, None = all) are encrypted for whom and how."""

    path_regex: str | None
    age: tuple[str, ...]
    selection: Selection
    line: int

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return None if self.path_regex is None else re.compile(self.path_regex)

    def matches(self, relative_path: str) -> bool:
        """True when this rule applies to a path relative to the config's directory."""
        # compiled once per rule: the commit guard asks every rule about every file of a large tree
        pattern = self._pattern
        return pattern is None or pattern.search(relative_path) is not None


@dataclass(frozen=True)
class SopsConfig:
    """A parsed `.sops.yaml`."""

    rules: tuple[CreationRule, ...]
    yaml_indent: int = 4
    source: str = ".sops.yaml"

    def rule_for(self, relative_path: str) -> CreationRule | None:
        """The first rule matching the path (sops semantics), or None."""
        return next((r for r in self.rules if r.matches(relative_path)), None)


def parse_config(text: str | bytes, source: str = ".sops.yaml") -> SopsConfig:
    """Parse `.sops.yaml`; every mistake at once as `source:line: key.path: message`."""
    reader = read_config(text, source)
    if reader is None:
        return SopsConfig((), source=source)
    top = reader.doc.data
    raw_rules = reader.sequence(("creation_rules",), top.get("creation_rules"))
    rules = [_rule(reader, ("creation_rules", index), raw) for index, raw in enumerate(raw_rules)]
    indent = _yaml_indent(reader, top.get("stores"))
    reader.raise_errors()
    return SopsConfig(tuple(rule for rule in rules if rule is not None), indent, source)


def _rule(reader: SpecReader, keys: PathKey, raw: object) -> CreationRule | None:
    if not isinstance(raw, dict):
        reader.error(keys, "each creation rule must be a mapping")
        return None
    age = _recipients(reader, (*keys, "age"), raw.get("age"))
    for index, group in enumerate(reader.sequence((*keys, "key_groups"), raw.get("key_groups"))):
        if isinstance(group, dict):
            found = _recipients(reader, (*keys, "key_groups", index, "age"), group.get("age"))
            age += tuple(r for r in found if r not in age)
    path_regex = raw.get("path_regex")
    problem = regex_problem(str(path_regex)) if path_regex is not None else None
    if problem is not None:
        reader.error((*keys, "path_regex"), f"{path_regex!r} {problem}")
    selection, problem = read_selection(raw)
    if problem is not None:
        reader.error(keys, problem)
    return CreationRule(None if path_regex is None else str(path_regex), age, selection, reader.doc.line_of(keys))


def _recipients(reader: SpecReader, keys: PathKey, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        found = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        found = tuple(dict.fromkeys(v.strip() for v in value))
    else:
        reader.error(keys, "must be a comma-separated string or a list of age1… recipients")
        return ()
    for recipient in found:
        if recipient.startswith("age1") and not checksum_ok(recipient):
            reader.error(keys, f"age recipient {shown(recipient, 80)}: the checksum does not match (a typo?)")
    return found


def _yaml_indent(reader: SpecReader, stores: object) -> int:
    yaml_store = stores.get("yaml") if isinstance(stores, dict) else None
    indent = yaml_store.get("indent", 4) if isinstance(yaml_store, dict) else 4
    if isinstance(indent, bool) or not isinstance(indent, int) or not 0 < indent <= 16:
        reader.error(("stores", "yaml", "indent"), f"must be a number of spaces from 1 to 16, not {indent!r}")
        return 4
    return indent


def render_config(
    recipients: Sequence[str], secret_paths: Sequence[str] = (r"\.sops\.ya?ml$", r"(^|/)secrets/")
) -> bytes:
    """The `.sops.yaml` the seed writes: Secrets under the given paths → age recipients, `^(data|stringData)$`."""
    if not recipients:
        raise InputError("no age recipients for .sops.yaml (generate one with `gitops-engine secrets keygen`)")
    rules = [
        {"path_regex": regex, "encrypted_regex": SECRET_REGEX, "age": ",".join(recipients)} for regex in secret_paths
    ]
    header = "# Written by gitops-engine: which files sops encrypts, and for whom. First matching rule wins.\n"
    return (header + emit({"stores": {"yaml": {"indent": 2}}, "creation_rules": rules})).encode()
