"""`.sops.yaml`: creation rules (first `path_regex` match wins), store indents, and the file the seed writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import YamlError, emit, load_located
from gitops_engine.secrets.selection import SECRET_REGEX, Selection, selection_from


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

    def require_rule(self, relative_path: str) -> CreationRule:
        """The matching rule; no match is an input error, as in sops."""
        rule = self.rule_for(relative_path)
        if rule is None:
            raise InputError(
                f"{self.source}:1: no creation rule matches {relative_path!r} (add a path_regex rule for it)"
            )
        return rule


def _recipients(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(v.strip() for v in value))
    raise InputError(f"{where}: `age` must be a comma-separated string or a list of age1… recipients")


def parse_config(text: str | bytes, source: str = ".sops.yaml") -> SopsConfig:
    """Parse `.sops.yaml`; errors name source:line and the fix."""
    try:
        docs = load_located(text)
    except YamlError as exc:
        raise InputError(f"{source}:{exc.line}: invalid YAML: {exc.problem}") from exc
    if not docs:
        return SopsConfig((), source=source)
    data = docs[0].data
    if not isinstance(data, dict):
        raise InputError(f"{source}:1: expected a mapping with `creation_rules`")
    raw_rules = data.get("creation_rules") or []
    if not isinstance(raw_rules, list):
        raise InputError(f"{source}:1: `creation_rules` must be a list")
    rules = []
    for index, raw in enumerate(raw_rules):
        line = docs[0].line_of(("creation_rules", index))
        where = f"{source}:{line}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: each creation rule must be a mapping")
        age = _recipients(raw.get("age"), where)
        for group in raw.get("key_groups") or []:
            if isinstance(group, dict):
                age += tuple(r for r in _recipients(group.get("age"), where) if r not in age)
        path_regex = raw.get("path_regex")
        if path_regex is not None:
            try:
                re.compile(str(path_regex))
            except re.error as exc:
                raise InputError(f"{where}: path_regex {path_regex!r} is invalid ({exc})") from exc
        rules.append(
            CreationRule(None if path_regex is None else str(path_regex), age, selection_from(raw, where), line)
        )
    indent = ((data.get("stores") or {}).get("yaml") or {}).get("indent", 4)
    return SopsConfig(tuple(rules), int(indent), source)


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
