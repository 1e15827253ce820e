"""Parsing repository files: the C loader on the hot path, line tracking only where an error must name a line."""

from __future__ import annotations

from typing import Any

import yaml

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import LocatedDocument, YamlSyntaxError, load_fast, load_located


def parse_located(path: str, data: bytes) -> list[LocatedDocument]:
    """Documents with key lines; InputError naming `path:line` when the YAML is broken."""
    try:
        return load_located(data)
    except YamlSyntaxError as exc:
        raise InputError(f"{path}:{exc.line}: {exc.problem} (fix: make it valid YAML)") from exc


def parse_fast(path: str, data: bytes) -> list[Any]:
    """Documents without line tracking; broken YAML is re-read with tracking so the error still names its line."""
    try:
        return load_fast(data)
    except yaml.YAMLError:
        parse_located(path, data)
        raise
