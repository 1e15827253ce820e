"""Scan results kept on disk by git tree id, so an unchanged repository is never read or parsed twice.

A tree id names every byte below it, so a stored scan of that tree is the scan. The file is compact JSON: each
chart source once in a table, each use one row. A missing, unreadable or old-format file is simply a miss.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gitops_engine.adapters.build_id import code_digest
from gitops_engine.adapters.fs import write_atomic
from gitops_engine.updates.uses import CatalogFolder, ChartSource, ChartUse, Scalar, ScanResult, SecretRef, Site

log = logging.getLogger(__name__)


def cache_file(cache_dir: Path, tree_id: str) -> Path:
    """Where the scan of `tree_id` is stored."""
    return cache_dir / f"scan-{code_digest()[:16]}" / tree_id[:2] / f"{tree_id}.json"


def load_scan(cache_dir: Path, tree_id: str) -> ScanResult | None:
    """The stored scan of `tree_id`, or None."""
    try:
        payload = json.loads(cache_file(cache_dir, tree_id).read_bytes())
        sources = [
            ChartSource(url, kind, tuple(charts), insecure, None if secret is None else SecretRef(*secret))
            for url, kind, charts, insecure, secret in payload["s"]
        ]
        shared = _Shared(sources, payload["t"])
        uses = tuple(map(shared.use, payload["u"]))
        kubernetes = tuple((cluster, version) for cluster, version in payload["k"])
        return ScanResult(uses, tuple(payload["p"]), kubernetes, payload["m"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.info("scan cache for %s unreadable, scanning again: %s", tree_id, exc)
        return None


def store_scan(cache_dir: Path, tree_id: str, result: ScanResult) -> None:
    """Keep `result` as the scan of `tree_id`; a cache that cannot be written only costs time later."""
    sources: dict[ChartSource, int] = {}
    shared: dict[object, int] = {}
    rows = [_row(use, sources, shared) for use in result.uses]
    table = [list(value) if isinstance(value, tuple) else value for value in shared]
    payload = {
        "s": [[s.url, s.kind, list(s.charts), s.insecure, _secret(s.secret)] for s in sources],
        "t": table,
        "u": rows,
        "p": list(result.problems),
        "k": [list(pair) for pair in result.kubernetes],
        "m": result.management,
    }
    try:
        write_atomic(cache_file(cache_dir, tree_id), json.dumps(payload, separators=(",", ":")).encode(), mode=0o600)
    except OSError as exc:
        log.warning("could not write the scan cache in %s: %s", cache_dir, exc)


def _secret(secret: SecretRef | None) -> list[object] | None:
    # where the Secret is, never what it holds: a scan carries no credentials
    return None if secret is None else [secret.name, secret.path, secret.doc]


def _row(use: ChartUse, sources: dict[ChartSource, int], shared: dict[object, int]) -> list[Any]:
    """One use as a flat row; values that thousands of uses repeat (key paths, cluster lists, references,
    catalog folders) are stored once in the shared table and named by their index."""

    def ref(value: object) -> int:
        return shared.setdefault(value, len(shared))

    site = use.site
    catalog = use.catalog
    return [
        use.app,
        use.chart,
        use.holder,
        use.path,
        use.line,
        ref(use.clusters),
        None if site is None else [site.doc, ref(site.keys), *site.scalar, site.version_text],
        None if use.source is None else sources.setdefault(use.source, len(sources)),
        ref(use.source_ref),
        use.is_range,
        None if catalog is None else ref((catalog.root, catalog.app, catalog.version)),
        use.skip,
    ]


class _Shared:
    """Rebuilds uses from rows, sharing one object per distinct repeated value (fewer objects, less to decode)."""

    def __init__(self, sources: list[ChartSource], table: list[Any]) -> None:
        self.sources = sources
        self.table = table
        self.tuples: dict[int, tuple[str, ...]] = {}
        self.folders: dict[int, CatalogFolder] = {}

    def _tuple(self, index: int) -> tuple[str, ...]:
        found = self.tuples.get(index)
        if found is None:
            found = self.tuples[index] = tuple(self.table[index])
        return found

    def _folder(self, index: int) -> CatalogFolder:
        found = self.folders.get(index)
        if found is None:
            found = self.folders[index] = CatalogFolder(*self.table[index])
        return found

    def use(self, row: list[Any]) -> ChartUse:
        app, chart, holder, path, line, clusters, site, source, source_ref, is_range, catalog, skip = row
        if site is not None:
            doc, keys, value, start, end, site_line, style, version_text = site
            scalar = Scalar(value, start, end, site_line, style)
            site = Site(path, doc, self._tuple(keys), scalar, version_text)
        return ChartUse(
            app,
            chart,
            holder,
            path,
            line,
            self._tuple(clusters),
            site,
            None if source is None else self.sources[source],
            self.table[source_ref],
            is_range,
            None if catalog is None else self._folder(catalog),
            skip,
        )
