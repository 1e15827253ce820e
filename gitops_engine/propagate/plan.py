"""Desired copies against actual ones: the tree after propagation and a status for every copy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from gitops_engine.core.yamlio import load
from gitops_engine.model.tree import Tree, TreeChange, compare_trees
from gitops_engine.propagate import names
from gitops_engine.propagate.config import parse_config
from gitops_engine.propagate.copies import DesiredCopy, field_changes, render_copy, selects
from gitops_engine.propagate.kustomization import ensure_parent_lists_catalogs, sync_catalogs_kustomization
from gitops_engine.propagate.scan import (
    CatalogSource,
    ExistingCopy,
    Target,
    WorkspaceObjects,
    find_sources,
    find_targets,
    find_workspace_objects,
)


class CopyStatus(StrEnum):
    """What propagation does (or cannot do) with one copy."""

    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"
    UNCHANGED = "unchanged"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class CopyItem:
    """One copy's outcome; `changes` lists the fields an update rewrites, `reason` why a copy goes or is blocked."""

    path: str
    source: str
    target: str
    status: CopyStatus
    changes: tuple[str, ...] = ()
    reason: str = ""

    def __str__(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        lines = [f"{self.status.value:<9} {self.path} (from {self.source}){why}"]
        lines.extend(f"          {change}" for change in self.changes)
        return "\n".join(lines)


@dataclass(frozen=True)
class PropagationPlan:
    """The tree before and after propagation, every copy's status, and what the files do."""

    before: Tree
    after: Tree
    items: tuple[CopyItem, ...]
    warnings: tuple[str, ...]

    @property
    def change(self) -> TreeChange:
        """Files added, changed and removed."""
        return compare_trees(self.before, self.after)

    def count(self, status: CopyStatus) -> int:
        """How many copies ended with `status`."""
        return sum(1 for item in self.items if item.status is status)


def plan_propagation(tree: Tree) -> PropagationPlan:
    """Compute the propagated tree from `tree` alone (sources, targets, config and existing copies all live in it)."""
    config = parse_config(tree.get(names.CONFIG_PATH), names.CONFIG_PATH)
    sources = find_sources(tree)
    targets = find_targets(tree)
    rendered = [render_copy(s, t, config) for t in targets for s in sources if selects(s, t, config)]
    objects = find_workspace_objects(tree, targets, {c.path: (c.source, c.data) for c in rendered})
    desired, blocked = _desired(tree, rendered, objects)
    items = [*blocked, *_compare(desired, objects.copies)]
    items += _removals(desired, objects.copies, sources, targets)
    edits: dict[str, bytes | None] = {path: copy.data for path, copy in desired.items()}
    edits.update({item.path: None for item in items if item.status is CopyStatus.REMOVED})
    edits.update(_index_edits(tree, desired, items, targets))
    files = dict(tree)
    for path, data in edits.items():
        if data is None:
            files.pop(path, None)
        else:
            files[path] = data
    known = {s.key for s in sources}
    warnings = [*objects.warnings]
    warnings += [
        f"{names.CONFIG_PATH}: sources.{key} names no catalog source; it selects nothing"
        for key in sorted(config.workspace_selectors)
        if key not in known
    ]
    items.sort(key=lambda item: (item.path, item.source))
    return PropagationPlan(tree, Tree(files), tuple(items), tuple(warnings))


def _desired(
    tree: Tree, rendered: list[DesiredCopy], objects: WorkspaceObjects
) -> tuple[dict[str, DesiredCopy], list[CopyItem]]:
    hand_made = {(h.namespace, h.name): h.path for h in objects.hand_made}
    desired: dict[str, DesiredCopy] = {}
    blocked: list[CopyItem] = []
    for copy in rendered:
        in_the_way = hand_made.get((copy.target, copy.name))
        if in_the_way is None and copy.path in tree and copy.path not in objects.copies:
            in_the_way = copy.path
        if in_the_way is not None:
            reason = f"{in_the_way} (not propagated) already defines it; rename or remove that to propagate"
            blocked.append(CopyItem(copy.path, copy.source, copy.target, CopyStatus.BLOCKED, reason=reason))
        else:
            desired[copy.path] = copy
    return desired, blocked


def _compare(desired: Mapping[str, DesiredCopy], existing: Mapping[str, ExistingCopy]) -> list[CopyItem]:
    items = []
    for path, copy in desired.items():
        actual = existing.get(path)
        if actual is None:
            items.append(CopyItem(path, copy.source, copy.target, CopyStatus.ADDED))
        elif actual.data == copy.data:
            items.append(CopyItem(path, copy.source, copy.target, CopyStatus.UNCHANGED))
        else:
            changes = field_changes(load(actual.data)[0], load(copy.data)[0]) or ("comments or layout only",)
            items.append(CopyItem(path, copy.source, copy.target, CopyStatus.UPDATED, changes))
    return items


def _removals(
    desired: Mapping[str, DesiredCopy],
    existing: Mapping[str, ExistingCopy],
    sources: tuple[CatalogSource, ...],
    targets: tuple[Target, ...],
) -> list[CopyItem]:
    source_keys = {s.key for s in sources}
    target_of_dir = {t.catalogs_dir: t.namespace for t in targets}
    items = []
    for path, actual in existing.items():
        if path in desired:
            continue
        folder = path.rsplit("/", 1)[0]
        target = target_of_dir.get(folder)
        if actual.source not in source_keys:
            reason = f"source {actual.source} is gone"
        elif target is None:
            reason = "its workspace or project is gone"
        else:
            reason = f"{actual.source} no longer selects {target}"
        items.append(CopyItem(path, actual.source, target or "", CopyStatus.REMOVED, reason=reason))
    return items


def _index_edits(
    tree: Tree, desired: Mapping[str, DesiredCopy], items: list[CopyItem], targets: tuple[Target, ...]
) -> dict[str, bytes | None]:
    target_dirs = {t.catalogs_dir: t for t in targets}
    wanted: dict[str, list[str]] = defaultdict(list)
    removed: dict[str, list[str]] = defaultdict(list)
    for path in desired:
        folder, name = path.rsplit("/", 1)
        wanted[folder].append(name)
    for item in items:
        if item.status is CopyStatus.REMOVED:
            folder, name = item.path.rsplit("/", 1)
            removed[folder].append(name)
    folders = set(target_dirs) | set(removed)
    present: dict[str, list[str]] = defaultdict(list)
    for path in tree:
        folder, _, name = path.rpartition("/")
        if folder in folders:
            present[folder].append(name)
    edits: dict[str, bytes | None] = {}
    for folder in sorted(folders):
        is_target = folder in target_dirs
        edits.update(
            sync_catalogs_kustomization(tree, folder, removed[folder], wanted[folder], is_target, present[folder])
        )
        if wanted[folder] and is_target:
            edits.update(ensure_parent_lists_catalogs(tree, target_dirs[folder].directory))
    return edits
