"""The rendered difference between two discoveries: objects added, removed and changed per Kustomization."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gitops_engine.core.yamlio import emit
from gitops_engine.validate.discovery import Discovery
from gitops_engine.validate.objects import ObjectId

MASK = "**masked**"
MASK_CHANGED = "**masked, changed**"


class Change(StrEnum):
    """What happened to one object."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, order=True)
class ObjectChange:
    """One object's change, where it is applied from, and its unified YAML diff (Secret values masked)."""

    cluster: str
    kustomization: str
    object: ObjectId
    change: Change
    diff: str


Rendered = dict[tuple[str, str], dict[ObjectId, Mapping[str, Any]]]


def rendered_objects(discovery: Discovery) -> Rendered:
    """(cluster, Flux Kustomization) → object id → body."""
    result: Rendered = {}
    for cluster in discovery.clusters:
        for obj in cluster.objects:
            producer = str(obj.producer) if obj.producer else "-"
            result.setdefault((cluster.name, producer), {})[obj.id] = obj.body
    return result


def diff_rendered(base: Discovery, head: Discovery) -> tuple[ObjectChange, ...]:
    """Every object change going from `base` to `head`, sorted by cluster, Kustomization and object."""
    before, after = rendered_objects(base), rendered_objects(head)
    changes: list[ObjectChange] = []
    for scope in sorted(before.keys() | after.keys()):
        old, new = before.get(scope, {}), after.get(scope, {})
        for oid in sorted(old.keys() | new.keys()):
            old_body, new_body = masked_pair(old.get(oid), new.get(oid))
            if old_body == new_body:
                continue
            kind = Change.ADDED if oid not in old else Change.REMOVED if oid not in new else Change.CHANGED
            changes.append(ObjectChange(scope[0], scope[1], oid, kind, unified(oid, old_body, new_body)))
    return tuple(changes)


@dataclass(frozen=True)
class ScopeCount:
    """How many objects one Flux Kustomization of one cluster adds, changes and removes."""

    cluster: str
    kustomization: str
    added: int
    changed: int
    removed: int


def count_changes(changes: tuple[ObjectChange, ...]) -> tuple[ScopeCount, ...]:
    """Counts per (cluster, Kustomization), in the order the changes come in (diff_rendered sorts them)."""
    counts: dict[tuple[str, str], dict[Change, int]] = {}
    for change in changes:
        scope = counts.setdefault((change.cluster, change.kustomization), dict.fromkeys(Change, 0))
        scope[change.change] += 1
    return tuple(
        ScopeCount(cluster, ks, by[Change.ADDED], by[Change.CHANGED], by[Change.REMOVED])
        for (cluster, ks), by in counts.items()
    )


def masked_pair(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """Secret values replaced by a marker; a changed value is marked as such so the diff still shows it."""
    if (old or new or {}).get("kind") != "Secret":
        return old, new
    old_values = _secret_values(old)
    new_values = _secret_values(new)

    def mask(body: Mapping[str, Any] | None, compare: bool) -> Mapping[str, Any] | None:
        if body is None:
            return None
        masked = dict(body)
        for field in ("data", "stringData"):
            if isinstance(body.get(field), Mapping):
                masked[field] = {
                    key: MASK_CHANGED
                    if compare and (field, key) in old_values and old_values[(field, key)] != new_values[(field, key)]
                    else MASK
                    for key in body[field]
                }
        return masked

    return mask(old, False), mask(new, True)


def _secret_values(body: Mapping[str, Any] | None) -> dict[Any, Any]:
    values: dict[Any, Any] = {}
    for field in ("data", "stringData"):
        section = (body or {}).get(field)
        if isinstance(section, Mapping):
            values.update({(field, key): value for key, value in section.items()})
    return values


def unified(oid: ObjectId, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str:
    old_text = emit(dict(old)).splitlines(keepends=True) if old is not None else []
    new_text = emit(dict(new)).splitlines(keepends=True) if new is not None else []
    return "".join(difflib.unified_diff(old_text, new_text, f"a/{oid}", f"b/{oid}"))
