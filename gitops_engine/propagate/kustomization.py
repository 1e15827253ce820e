"""Keeping a catalogs/ folder's kustomization.yaml (and its parent's entry for it) in step with the copies."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import emit_documents
from gitops_engine.flux.tree import KUSTOMIZATION_FILES, FolderTree, is_kustomization_file
from gitops_engine.model.tree import Tree
from gitops_engine.propagate import names
from gitops_engine.propagate.parsing import parse_fast, parse_located

_CATALOG_ENTRIES = frozenset({names.CATALOGS_DIR, f"{names.CATALOGS_DIR}/", f"./{names.CATALOGS_DIR}", "./catalogs/"})


def _read(tree: Tree, path: str) -> dict[str, Any]:
    docs = parse_fast(path, tree[path])
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise InputError(f"{path}:1: expected one Kustomization mapping (fix: restore the file)")
    resources = docs[0].get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        line = parse_located(path, tree[path])[0].line_of(("resources",))
        raise InputError(f"{path}:{line}: resources must be a list of paths (fix: - file.yaml)")
    return dict(docs[0])


def _kustomization_path(tree: Tree, folder: str) -> str:
    """The folder's kustomization file under whichever name kustomize reads, or the name a new one gets."""
    return FolderTree(tree).kustomization_in(folder) or f"{folder}/{KUSTOMIZATION_FILES[0]}"


def _render(doc: dict[str, Any]) -> bytes:
    return emit_documents([doc])


def sync_catalogs_kustomization(
    tree: Tree,
    catalogs_dir: str,
    removed: Collection[str],
    wanted: Collection[str],
    is_target: bool,
    present: Collection[str],
) -> dict[str, bytes | None]:
    """Edits (path → new bytes, None = delete) so the folder lists `wanted` copies and none of `removed`.

    `present` names the files now in the folder (relative to it), so no call scans the whole tree.

    Entries someone else added are kept in place; ours are appended sorted. A folder whose target is gone and
    that would list nothing loses its kustomization, so the workspace's leftovers disappear with it.
    """
    path = _kustomization_path(tree, catalogs_dir)
    if path in tree:
        doc = _read(tree, path)
        resources: list[str] = [r for r in doc.get("resources", []) if r not in removed]
    elif is_target and wanted:
        doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
        resources = []
    else:
        return {}
    resources += sorted(set(wanted) - set(resources))
    others = [name for name in present if not is_kustomization_file(name) and name not in removed]
    if not is_target and not resources and not others:
        return {path: None}
    if path in tree and doc.get("resources", []) == resources:
        return {}
    doc["resources"] = resources
    return {path: _render(doc)}


def ensure_parent_lists_catalogs(tree: Tree, directory: str) -> dict[str, bytes]:
    """Edit the target's own kustomization.yaml to include catalogs/ when it does not yet (the seed may omit it)."""
    path = FolderTree(tree).kustomization_in(directory)
    if path is None:
        return {}
    doc = _read(tree, path)
    resources: list[str] = list(doc.get("resources", []))
    if _CATALOG_ENTRIES & set(resources):
        return {}
    doc["resources"] = [*resources, f"{names.CATALOGS_DIR}/"]
    return {path: _render(doc)}
