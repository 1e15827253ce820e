"""Content hashes used for provenance and caches."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob with these bytes (sha1 of the object header and content)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def git_blob_ids(files: Mapping[str, bytes]) -> dict[str, str]:
    """Path → blob id, hashing each distinct bytes object once.

    A rendered fleet shares one bytes object between every cluster that gets the same file, so most paths
    cost a dictionary lookup. Keys are object ids, valid because `files` keeps every object alive meanwhile.
    """
    seen: dict[int, str] = {}
    ids: dict[str, str] = {}
    for path, data in files.items():
        blob_id = seen.get(id(data))
        if blob_id is None:
            blob_id = seen[id(data)] = git_blob_id(data)
        ids[path] = blob_id
    return ids
