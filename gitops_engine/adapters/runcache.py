"""Finished outputs kept on disk under a key that names every input that produced them.

The key is built by the caller (app.bump for branch trees); this module only
stores and returns bytes. A missing or unreadable entry is a miss, and a cache that cannot be written only costs
time on the next run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gitops_engine.adapters.build_id import code_digest
from gitops_engine.adapters.fs import write_atomic

log = logging.getLogger(__name__)


def entry_file(cache_dir: Path, key: str) -> Path:
    """Where the output stored under `key` lives."""
    # the code that made an output is part of every key
    return cache_dir / f"output-{code_digest()[:16]}" / key[:2] / key


def load_output(cache_dir: Path, key: str) -> bytes | None:
    """The output stored under `key`, or None."""
    try:
        return entry_file(cache_dir, key).read_bytes()
    except OSError:
        return None


def store_output(cache_dir: Path, key: str, output: bytes) -> None:
    """Keep `output` under `key` (readable by the owner only: outputs name repositories and files)."""
    try:
        write_atomic(entry_file(cache_dir, key), output, mode=0o600)
    except OSError as exc:
        log.warning("could not write the output cache in %s: %s", cache_dir, exc)
