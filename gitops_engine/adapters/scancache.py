"""Scan results kept on disk by git tree id, so an unchanged repository is never read or parsed twice.

A tree id names every byte below it, so a stored scan of that tree is the scan. The file is compact JSON: each
chart source once in a table, each use one row. A missing, unreadable or old-format file is simply a miss.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gitops_engine import __version__
from gitops_engine.adapters.chartindex import write_atomically
from gitops_engine.currency.fastread import Scalar
from gitops_engine.currency.uses import CatalogFolder, ChartSource, ChartUse, ScanResult, Site

log = logging.getLogger(__name__)

# Bump when ChartUse or the scanner's meaning changes; the engine version is part of the key as well.
_FORMAT = "scan-v1"


def cache_file(cache_dir: Path, tree_id: str) -> Path:
    """Where the scan of `tree_id` is stored."""
    return cache_dir / f"{_FORMAT}-{__version__}" / tree_id[:2] / f"{tree_id}.json"


def load_scan(cache_dir: Path, tree_id: str) -> ScanResult | None:
    """The stored scan of `tree_id`, or None."""
    try:
        payload = json.loads(cache_file(cache_dir, tree_id).read_bytes())
        sources = [ChartSource(url, kind, tuple(charts), insecure) for url, kind, charts, insecure in payload["s"]]
        uses = tuple(_use(row, sources) for row in payload["u"])
        return ScanResult(uses, tuple(payload["p"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.info("scan cache for %s unreadable, scanning again: %s", tree_id, exc)
        return None


def store_scan(cache_dir: Path, tree_id: str, result: ScanResult) -> None:
    """Keep `result` as the scan of `tree_id`; a cache that cannot be written only costs time later."""
    table: dict[ChartSource, int] = {}
    rows = [_row(use, table) for use in result.uses]
    sources = [[s.url, s.kind, list(s.charts), s.insecure] for s in table]
    payload = {"s": sources, "u": rows, "p": list(result.problems)}
    try:
        write_atomically(cache_file(cache_dir, tree_id), json.dumps(payload, separators=(",", ":")).encode())
    except OSError as exc:
        log.warning("could not write the scan cache in %s: %s", cache_dir, exc)


def _row(use: ChartUse, table: dict[ChartSource, int]) -> list[Any]:
    source = None if use.source is None else table.setdefault(use.source, len(table))
    site = use.site
    catalog = use.catalog
    return [
        use.app,
        use.chart,
        use.holder,
        use.path,
        use.line,
        list(use.clusters),
        None if site is None else [site.doc, list(site.keys), list(site.scalar), site.version_text],
        source,
        use.source_ref,
        use.is_range,
        None if catalog is None else [catalog.root, catalog.app, catalog.version],
        use.skip,
    ]


def _use(row: list[Any], sources: list[ChartSource]) -> ChartUse:
    app, chart, holder, path, line, clusters, site, source, source_ref, is_range, catalog, skip = row
    return ChartUse(
        app=app,
        chart=chart,
        holder=holder,
        path=path,
        line=line,
        clusters=tuple(clusters),
        site=None if site is None else Site(path, site[0], tuple(site[1]), Scalar(*site[2]), site[3]),
        source=None if source is None else sources[source],
        source_ref=source_ref,
        is_range=is_range,
        catalog=None if catalog is None else CatalogFolder(*catalog),
        skip=skip,
    )
