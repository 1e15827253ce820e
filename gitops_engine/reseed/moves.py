"""Catalog version moves: `applications/<app>/<old>/` gives way to `applications/<app>/<new>/`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_APP_FILE = re.compile(r"^applications/(?P<app>[^/]+)/(?P<version>[^/]+)/(?P<rel>.+)$")
_NUMBER = re.compile(r"(\d+)")

# app → version → relative path → full path
_Folders = dict[str, dict[str, dict[str, str]]]


def _folders(paths: Iterable[str]) -> _Folders:
    out: _Folders = {}
    for path in paths:
        match = _APP_FILE.match(path)
        if match:
            out.setdefault(match["app"], {}).setdefault(match["version"], {})[match["rel"]] = path
    return out


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Numeric parts compare as numbers, so 1.10.0 sorts after 1.9.3."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _NUMBER.split(version) if part)


def version_moves(old_paths: Iterable[str], new_paths: Iterable[str]) -> Mapping[str, str]:
    """New path → old path for files of an app version folder that replaced one the engine no longer renders.

    A version counts as moved away only when nothing below its folder is rendered any more (another cluster
    may still run it). When several versions went away at once, the newest is the one the edits came from.
    """
    old, new = _folders(old_paths), _folders(new_paths)
    moves: dict[str, str] = {}
    for app, new_versions in new.items():
        gone = [v for v in old.get(app, {}) if v not in new_versions]
        if not gone:
            continue
        source = old[app][max(gone, key=_version_key)]
        for version, files in new_versions.items():
            if version in old[app]:
                continue
            for rel, path in files.items():
                if rel in source:
                    moves[path] = source[rel]
    return moves
