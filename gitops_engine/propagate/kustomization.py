"""Keeping a catalogs/ folder's kustomization.yaml (and its parent's entry for it) in step with the copies."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import YamlSyntaxError, dump_documents, load_located
from gitops_engine.model.tree import Tree
from gitops_engine.propagate import names

_CATALOG_ENTRIES = frozenset({names.CATALOGS_DIR, f"{names.CATALOGS_DIR}/", f"./{names.CATALOGS_DIR}", "./catalogs/"})


def _read(tree: Tree, path: str) -> dict[str, Any]:
    try:
        docs = load_located(tree[path])
    except YamlSyntaxError as exc:
        raise InputError(f"{path}:{exc.line}: {exc.problem} (fix: make it valid YAML)") from exc
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise InputError(f"{path}:1: expected one Kustomization mapping (fix: restore the file)")
    doc = docs[0]
    resources = doc.data.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise InputError(f"{path}:{doc.line_of(('resources',))}: resources must be a list of paths (fix: - file.yaml)")
    return dict(doc.data)


def _render(doc: dict[str, Any]) -> bytes:
    return dump_documents([doc])


def sync_catalogs_kustomization(
    tree: Tree, catalogs_dir: str, removed: Collection[str], wanted: Collection[str], is_target: bool
) -> dict[str, bytes | None]:
    """Edits (path → new bytes, None = delete) so the folder lists `wanted` copies and none of `removed`.

    Entries someone else added are kept in place; ours are appended sorted. A folder whose target is gone and
    that would list nothing loses its kustomization, so the workspace's leftovers disappear with it.
    """
    path = f"{catalogs_dir}/{names.KUSTOMIZATION}"
    if path in tree:
        doc = _read(tree, path)
        resources: list[str] = [r for r in doc.get("resources", []) if r not in removed]
    elif is_target and wanted:
        doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
        resources = []
    else:
        return {}
    resources += sorted(set(wanted) - set(resources))
    others = [p for p in tree.under(catalogs_dir) if p != path and p[len(catalogs_dir) + 1 :] not in removed]
    if not is_target and not resources and not others:
        return {path: None}
    if path in tree and doc.get("resources", []) == resources:
        return {}
    doc["resources"] = resources
    return {path: _render(doc)}


def ensure_parent_lists_catalogs(tree: Tree, directory: str) -> dict[str, bytes]:
    """Edit the target's own kustomization.yaml to include catalogs/ when it does not yet (the seed may omit it)."""
    path = f"{directory}/{names.KUSTOMIZATION}"
    if path not in tree:
        return {}
    doc = _read(tree, path)
    resources: list[str] = list(doc.get("resources", []))
    if _CATALOG_ENTRIES & set(resources):
        return {}
    doc["resources"] = [*resources, f"{names.CATALOGS_DIR}/"]
    return {path: _render(doc)}
