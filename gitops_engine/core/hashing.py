"""Content hashes used for provenance and caches."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()
