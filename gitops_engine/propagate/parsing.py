"""Parsing repository files: errors become InputErrors naming `path:line`; line tracking only where asked for."""

from __future__ import annotations

from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import LocatedDocument, YamlError, load, load_located


def parse_located(path: str, data: bytes) -> list[LocatedDocument]:
    """Documents with key lines."""
    try:
        return load_located(data)
    except YamlError as exc:
        raise _error(path, exc) from exc


def parse_fast(path: str, data: bytes) -> list[Any]:
    """Documents without line tracking."""
    try:
        return load(data)
    except YamlError as exc:
        raise _error(path, exc) from exc


def _error(path: str, exc: YamlError) -> InputError:
    return InputError(f"{path}:{exc.line}: invalid YAML: {exc.problem}")
