"""Kubernetes releases as an index the bot can read: from a curated list (a version per line, optionally its
release date) or from the `stable-1.N.txt` files Kubernetes publishes (the newest patch of each minor)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from types import MappingProxyType

from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.versions import parse_version

# the app and chart name a cluster's Kubernetes version goes by among the bot's dependencies
KUBERNETES = "kubernetes"
_LIST_LINE = re.compile(r"^(?P<version>\S+)(?:\s+(?P<date>\d{4}-\d{2}-\d{2}))?$")
_MAX_LIST_LINES = 10_000


def list_index(url: str, text: str) -> ChartIndex:
    """A curated list: one version per line, optionally followed by its release date (YYYY-MM-DD, UTC); blank
    lines and `#` comments are skipped. ValueError names the first line that is neither."""
    releases: list[ChartRelease] = []
    for number, raw in enumerate(text.splitlines()[:_MAX_LIST_LINES], start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LIST_LINE.match(line)
        version = parse_version(match["version"]) if match else None
        if match is None or version is None:
            raise ValueError(f"line {number}: {line[:80]!r} is not a version (optionally followed by YYYY-MM-DD)")
        created = None
        if match["date"]:
            try:
                created = datetime.strptime(match["date"], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(f"line {number}: {match['date']!r} is not a date") from None
        releases.append(ChartRelease(KUBERNETES, version.text, created))
    return ChartIndex(url, MappingProxyType({KUBERNETES: tuple(releases)}))


def stable_index(url: str, published: Iterable[str]) -> ChartIndex:
    """The index of the `stable-1.N.txt` files read: the newest patch of each minor (no release dates)."""
    releases = tuple(ChartRelease(KUBERNETES, text) for text in published)
    return ChartIndex(url, MappingProxyType({KUBERNETES: releases}))
