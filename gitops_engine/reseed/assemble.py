"""Turn settled decisions into the next tree and the provenance it must record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gitops_engine.reseed.decide import Decision, Status

_WRITE_RENDER = frozenset({Status.ADDED, Status.REPLACED, Status.RESTORED})
_WRITE_MERGE = frozenset({Status.MERGED, Status.CONFLICT})
_KEEP_OURS = frozenset({Status.UNCHANGED, Status.KEPT, Status.KEPT_UNMANAGED})
_MANAGED_IN_TREE = _WRITE_RENDER | _WRITE_MERGE | {Status.UNCHANGED, Status.KEPT}


@dataclass(frozen=True)
class Assembly:
    """The next tree as bytes to write plus blob ids kept as they are, and what provenance records."""

    files: Mapping[str, bytes] = field(repr=False)
    existing: Mapping[str, str]
    recorded: Mapping[str, str]
    deleted: Mapping[str, str]
    bases_outside_tree: bool


def assemble(decisions: Iterable[Decision], ours: Mapping[str, str], rendered: Mapping[str, bytes]) -> Assembly:
    """Files to write, blobs to keep (every unmanaged human file included), and the engine blobs to record."""
    files: dict[str, bytes] = {}
    existing = dict(ours)
    recorded: dict[str, str] = {}
    deleted: dict[str, str] = {}
    outside = False
    for d in decisions:
        existing.pop(d.path, None)
        if d.status in _WRITE_RENDER:
            files[d.path] = rendered[d.path]
        elif d.status in _WRITE_MERGE:
            assert d.content is not None
            files[d.path] = d.content
        elif d.status in _KEEP_OURS:
            assert d.ours_blob is not None
            existing[d.path] = d.ours_blob
        if d.engine_blob is None:
            continue
        if d.status in _MANAGED_IN_TREE:
            recorded[d.path] = d.engine_blob
        elif d.status is Status.DELETED_BY_USER:
            deleted[d.path] = d.engine_blob
        # A base the tree does not hold must stay reachable some other way, or the next merge has no ancestor.
        if d.status not in _WRITE_RENDER and d.engine_blob not in (d.ours_blob, d.base_blob):
            outside = True
    return Assembly(files, existing, recorded, deleted, outside)
