"""What a tree renders after edits that only rewrite scalars, derived from what its base renders.

The bot's version edits change one scalar of a written document each. When such a scalar is written plainly (no
`${…}` for postBuild to substitute) and comes out of the build as written (no kustomize patch or transformer
over it), the only rendered change is that one value in the objects built from that document, in every cluster
that applies it. Rendering the head of a bot branch this way costs nothing; any edit that does not meet those
conditions makes `with_scalar_edits` answer None, and the caller builds the head tree instead.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gitops_engine.validate.discovery import Discovery
from gitops_engine.validate.objects import RenderedObject


@dataclass(frozen=True)
class ScalarEdit:
    """The scalar at `keys` of the document that holds line `line` of `path` goes from `old` to `new` (as written)."""

    path: str
    line: int
    keys: tuple[str, ...]
    old: str
    new: str


def with_scalar_edits(discovery: Discovery, edits: Sequence[ScalarEdit]) -> Discovery | None:
    """`discovery` with every edit applied to the objects built from its document, or None when an edit is not a
    plain rewrite of one value every one of those objects carries as written."""
    if not edits or any("${" in edit.old for edit in edits):
        return None
    applied: set[ScalarEdit] = set()
    clusters = []
    for cluster in discovery.clusters:
        objects = []
        for obj in cluster.objects:
            mine = [edit for edit in edits if edit.path == obj.file and _holds(obj, edit)]
            if mine:
                edited = _edited(obj.body, mine)
                if edited is None:
                    return None
                obj = replace(obj, body=edited)
                applied.update(mine)
            objects.append(obj)
        clusters.append(replace(cluster, objects=tuple(objects)))
    return Discovery(tuple(clusters), discovery.findings) if applied == set(edits) else None


def _holds(obj: RenderedObject, edit: ScalarEdit) -> bool:
    """True when `edit`'s scalar is written in the document `obj` was built from."""
    source = obj.source
    return source is not None and source.lines.get(edit.keys) == edit.line


def _edited(body: Mapping[str, Any], edits: Sequence[ScalarEdit]) -> dict[str, Any] | None:
    result = copy.deepcopy(dict(body))
    for edit in edits:
        holder: Any = result
        for key in edit.keys[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        last = edit.keys[-1] if edit.keys else None
        if not isinstance(holder, dict) or last not in holder or not isinstance(holder[last], str):
            return None
        if holder[last] != edit.old:
            return None  # a patch or transformer set another value: only a build can tell
        holder[last] = edit.new
    return result
