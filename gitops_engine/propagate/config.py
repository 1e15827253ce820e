"""`.gitops-engine/propagate.yaml`: URL host mapping for attached clusters and per-source workspace selectors.

Schema (every key optional; an absent file means no rewriting and no extra selection):

    urlHosts:                     # host[:port] seen in the management repo → host[:port] attached clusters reach
      gitea-http.kommander.svc.cluster.local:3000: git.fleet.example.com
    sources:
      kommander/team-catalog:     # <namespace>/<name> of a catalog source
        workspaceSelector:        # only workspaces (and their projects) whose namespace labels match
          matchLabels: {tier: prod}
          matchExpressions: [{key: region, operator: In, values: [eu]}]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import LocatedDocument, PathKey, YamlError, load_located
from gitops_engine.model.selector import OPERATORS, LabelSelector, Requirement

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_SOURCE_KEY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class PropagateConfig:
    """Validated propagation settings."""

    url_hosts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    workspace_selectors: Mapping[str, LabelSelector] = field(default_factory=lambda: MappingProxyType({}))


class _Errors:
    """Collects every problem so the user fixes the file in one pass."""

    def __init__(self, path: str, doc: LocatedDocument) -> None:
        self.path = path
        self.doc = doc
        self.lines: list[str] = []

    def add(self, where: PathKey, message: str, fix: str) -> None:
        self.lines.append(f"{self.path}:{self.doc.line_of(where)}: {message} (fix: {fix})")


def parse_config(text: bytes | None, path: str) -> PropagateConfig:
    """Validate the config file's text (None: the file is absent) into a PropagateConfig, or raise InputError."""
    if text is None:
        return PropagateConfig()
    try:
        docs = load_located(text)
    except YamlError as exc:
        raise InputError(f"{path}:{exc.line}: {exc.problem} (fix: make it valid YAML)") from exc
    if not docs:
        return PropagateConfig()
    if len(docs) > 1:
        raise InputError(f"{path}:{docs[1].start_line}: more than one document (fix: keep a single mapping)")
    doc = docs[0]
    errors = _Errors(path, doc)
    if not isinstance(doc.data, dict):
        raise InputError(f"{path}:{doc.start_line}: expected a mapping (fix: see the schema in the docs)")
    for key_path, line in doc.duplicate_keys:
        errors.lines.append(f"{path}:{line}: duplicate key {'.'.join(map(str, key_path))} (fix: keep one)")
    for key in doc.data:
        if key not in ("urlHosts", "sources"):
            errors.add((key,), f"unknown key {key!r}", "use urlHosts or sources")
    hosts = _url_hosts(doc.data.get("urlHosts"), errors)
    selectors = _sources(doc.data.get("sources"), errors)
    if errors.lines:
        raise InputError(errors.lines)
    return PropagateConfig(MappingProxyType(hosts), MappingProxyType(selectors))


def _url_hosts(raw: Any, errors: _Errors) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.add(("urlHosts",), "urlHosts must be a mapping", "write `from-host[:port]: to-host[:port]` pairs")
        return {}
    hosts: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _HOST.match(key) or not isinstance(value, str) or not _HOST.match(value):
            errors.add(("urlHosts", str(key)), f"{key!r}: {value!r} is not a host[:port] pair", "e.g. a.svc:3000: b.io")
            continue
        hosts[key.lower()] = value
    return hosts


def _sources(raw: Any, errors: _Errors) -> dict[str, LabelSelector]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.add(("sources",), "sources must be a mapping", "key each entry by <namespace>/<name>")
        return {}
    selectors: dict[str, LabelSelector] = {}
    for key, entry in raw.items():
        where: PathKey = ("sources", str(key))
        if not isinstance(key, str) or not _SOURCE_KEY.match(key):
            errors.add(where, f"source key {key!r} is not <namespace>/<name>", "e.g. kommander/team-catalog")
            continue
        if not isinstance(entry, dict) or set(entry) - {"workspaceSelector"}:
            errors.add(where, f"{key}: only workspaceSelector may be set", "remove the other keys")
            continue
        selector = _selector(entry.get("workspaceSelector"), (*where, "workspaceSelector"), errors)
        if selector is not None:
            selectors[key] = selector
    return selectors


def _selector(raw: Any, where: PathKey, errors: _Errors) -> LabelSelector | None:
    if not isinstance(raw, dict) or set(raw) - {"matchLabels", "matchExpressions"}:
        errors.add(where, "workspaceSelector takes matchLabels and/or matchExpressions", "see the schema")
        return None
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        errors.add((*where, "matchLabels"), "matchLabels must map label keys to string values", 'quote "true"')
        return None
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        errors.add((*where, "matchExpressions"), "matchExpressions must be a list", "use - {key, operator, values}")
        return None
    requirements = [_requirement(item, (*where, "matchExpressions", i), errors) for i, item in enumerate(expressions)]
    if any(r is None for r in requirements):
        return None
    return LabelSelector(dict(sorted(labels.items())), tuple(r for r in requirements if r is not None))


def _requirement(raw: Any, where: PathKey, errors: _Errors) -> Requirement | None:
    operator = raw.get("operator") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or operator not in OPERATORS:
        errors.add(
            where, "an expression needs a string key and an operator", f"operator is one of {', '.join(OPERATORS)}"
        )
        return None
    values = raw.get("values")
    wants_values = operator in ("In", "NotIn")
    if wants_values and not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
        errors.add(where, f"{operator} needs a non-empty list of string values", "add values: [...]")
        return None
    if not wants_values and values:
        errors.add(where, f"{operator} takes no values", "remove values")
        return None
    return Requirement(raw["key"], operator, tuple(sorted(values or ())))
