"""Read what the last seed recorded in `.gitops-engine/state.yaml`, and record files humans deleted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import YamlError, emit, load, load_located, scalar_text
from gitops_engine.reseed.decide import Recorded

DELETED_KEY = "deletedByUser"
_BLOB_ID = re.compile(r"^[0-9a-f]{40}$")
_INPUT_DIGEST = re.compile(rb"^inputDigest: ([0-9a-f]{64})$", re.M)


def recorded_input_digest(state: bytes) -> str | None:
    """The input digest the last seed recorded (read without parsing the whole, large, file)."""
    match = _INPUT_DIGEST.search(state, 0, 4096)
    return match.group(1).decode() if match else None


def read_recorded(state: bytes | None, where: str) -> Recorded:
    """The managed files and user deletions the provenance file lists (nothing for a never-seeded branch)."""
    if state is None:
        return Recorded()
    fix = f"restore it from history (git log -- {where})"
    try:
        docs = load(state)
    except YamlError as exc:
        raise InputError(f"{where}:{exc.line}: the provenance file is not valid YAML; {fix}") from exc
    doc = docs[0] if len(docs) == 1 else None
    sections = [_blob_map(doc, key) for key in ("files", DELETED_KEY)]
    for key, section in zip(("files", DELETED_KEY), sections, strict=True):
        if section is None:
            line = load_located(state)[0].line_of((key,)) if doc is not None else 1
            raise InputError(f"{where}:{line}: {key} must map each path to a git blob id; {fix}")
    files, deleted = sections
    assert files is not None and deleted is not None
    return Recorded(files, deleted)


def _blob_map(doc: Any, key: str) -> dict[str, str] | None:
    """`doc[key]` when it is a path → blob id mapping (absent counts as empty), else None."""
    if not isinstance(doc, dict):
        return None
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        return None
    if not all(isinstance(p, str) and isinstance(b, str) and _BLOB_ID.match(b) for p, b in value.items()):
        return None
    return value


def restate(rendered_state: bytes, deleted: Mapping[str, str]) -> bytes:
    """The rendered provenance file with `deleted` paths moved from `files` to `deletedByUser`.

    Edited as text, not re-serialised: a load/dump round trip would turn a digest that happens to be all digits
    into a number, and fields this module does not know about stay exactly as render wrote them.
    """
    if not deleted:
        return rendered_state
    head, found, rest = rendered_state.decode().partition("\nfiles:\n")
    if not found:
        raise ValueError("the rendered provenance file has no files: block")
    lines = rest.splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if not line.startswith("  ")), len(lines))
    drop = {scalar_text(path) for path in deleted}
    block = [line for line in lines[:end] if line[2:].rpartition(": ")[0] not in drop]
    tail = "".join(lines[end:])
    return f"{head}{found}{''.join(block)}{tail}{emit({DELETED_KEY: dict(sorted(deleted.items()))})}".encode()
