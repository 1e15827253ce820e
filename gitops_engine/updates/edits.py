"""Byte-exact edits: replace one scalar's bytes, nothing else, and prove it by parsing the result again.

Comments, quoting, indentation, flow style, document markers and line endings survive because only the
scalar's own byte range (known from the scan) is rewritten. A Kommander-style catalog bump also moves
`applications/<app>/<old>/` to `applications/<app>/<new>/` and rewrites the path everywhere it is referenced.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

from gitops_engine.core.errors import GitopsError
from gitops_engine.core.yamlio import replace_scalars
from gitops_engine.updates.manifests import locate
from gitops_engine.updates.uses import CatalogFolder, Edit, Site

__all__ = ["Edit", "EditError", "apply_edits", "apply_to_tree", "replace_scalar"]


class EditError(GitopsError):
    """An edit did not produce exactly the intended value; nothing is committed."""


def replace_scalar(data: bytes, site: Site, value: str) -> bytes:
    """`data` with the scalar at `site` set to `value`, keeping its quoting; checked by re-parsing."""
    return apply_edits(data, [(site, value)])


def apply_edits(data: bytes, edits: Sequence[tuple[Site, str]]) -> bytes:
    """Apply several scalar replacements to one file (last first so earlier offsets stay valid)."""
    try:
        result = replace_scalars(data, [(site.scalar, value) for site, value in edits])
    except ValueError as exc:
        raise EditError(f"{edits[0][0].path}: {exc}") from exc
    for site, value in edits:
        found = locate(result, site.doc, site.keys)
        if found is None or found.value != value:
            got = None if found is None else found.value
            raise EditError(f"{site.path}:{site.scalar.line}: editing produced {got!r} instead of {value!r}")
    return result


def apply_to_tree(files: Mapping[str, bytes], edits: Sequence[Edit]) -> dict[str, bytes]:
    """The tree after `edits`: scalar edits per file, then catalog folder moves with their references."""
    by_path: dict[str, list[tuple[Site, str]]] = defaultdict(list)
    for edit in edits:
        by_path[edit.site.path].append((edit.site, edit.value))
    result = dict(files)
    for path, changes in by_path.items():
        result[path] = apply_edits(result[path], changes)
    moves = {(e.folder, e.folder_version) for e in edits if e.folder is not None and e.folder_version is not None}
    for folder, version in sorted(moves, key=lambda m: (m[0].root, m[1])):
        if folder.version != version:
            result = move_folder(result, folder, version)
    return result


def move_folder(files: Mapping[str, bytes], folder: CatalogFolder, version: str) -> dict[str, bytes]:
    """Rename `applications/<app>/<old>/` to `<new>/` and rewrite every reference to the old path."""
    prefix = folder.root[: -len(folder.version)]
    new_root = prefix + version
    if any(path.startswith(new_root + "/") for path in files):
        raise EditError(f"{new_root}/ already exists; remove it or bump by hand")
    old_ref = f"applications/{folder.app}/{folder.version}".encode()
    new_ref = f"applications/{folder.app}/{version}".encode()
    pattern = re.compile(rb"(?<![\w.-])" + re.escape(old_ref) + rb"(?=[/\"'\s]|$)", re.MULTILINE)
    moved: dict[str, bytes] = {}
    for path, data in files.items():
        target = new_root + path[len(folder.root) :] if path.startswith(folder.root + "/") else path
        moved[target] = pattern.sub(new_ref, data) if old_ref in data else data
    return moved
