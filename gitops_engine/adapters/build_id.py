"""What identifies this build of the engine in cache keys and provenance: a digest of its own source files.

A version string stays the same while the code under it changes; every cache key and the seed's input digest
carry this digest instead, so a changed scanner, editor, renderer or parser never serves what the old one made.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import gitops_engine
from gitops_engine import __version__

_PACKAGE = Path(gitops_engine.__file__).parent


@cache
def code_digest() -> str:
    """sha256 over the relative path and bytes of every .py file of the package (read once per process)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def engine_build() -> str:
    """The version and the start of the code digest, e.g. `0.1.0+1a2b3c4d5e6f`: recorded in state.yaml."""
    return f"{__version__}+{code_digest()[:12]}"
