"""Helm repository `index.yaml` bytes → ChartIndex, with the parsed result cached on disk by content hash.

An index is read with YAML 1.2 typing (core.yamlio), which lets yaml_rs parse it: PyYAML's C loader takes
seconds on a large index (scripts/bench_index_parse.py), and the fields read here are taken as text anyway;
`created` is parsed here. A cached parse is a compact JSON file holding only the fields ChartRelease keeps, one
string per chart decoded on first use, so an unchanged (revalidated) index never goes through YAML again and
costs a file read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gitops_engine.adapters.build_id import code_digest
from gitops_engine.adapters.fs import write_atomic
from gitops_engine.core.errors import PermanentRemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.shown import shown
from gitops_engine.model.charts import ChartIndex, ChartRelease


def parse_index(data: bytes, source_url: str) -> ChartIndex:
    """Parse index.yaml bytes; raise PermanentRemoteError when they are not a Helm repository index."""
    # imported here: a rerun served from the parsed cache reads no YAML and need not load the parsers
    from gitops_engine.core.yamlio import YamlError, load

    try:
        docs = load(data.decode("utf-8"), yaml12_types=True)
    except UnicodeDecodeError as exc:
        raise PermanentRemoteError(f"{source_url}: index.yaml is not UTF-8 text ({exc.reason})") from exc
    except YamlError as exc:
        raise PermanentRemoteError(
            f"{source_url}: index.yaml is not valid YAML: line {exc.line}: {shown(exc.problem)}"
        ) from exc
    doc = docs[0] if len(docs) == 1 else None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise PermanentRemoteError(
            f"{source_url}: the response is not a Helm repository index (no `entries` mapping); check the URL"
        )
    charts: dict[str, tuple[ChartRelease, ...]] = {}
    for key, items in entries.items():
        name = _text(key)
        if name is not None and isinstance(items, list):
            releases = (_release(name, item) for item in items if isinstance(item, dict))
            charts[name] = tuple(release for release in releases if release is not None)
    return ChartIndex(source_url=source_url, charts=MappingProxyType(charts))


def _release(chart: str, entry: Mapping[str, Any]) -> ChartRelease | None:
    # Like Helm, an entry without a version is skipped rather than failing the whole repository.
    version = _text(entry.get("version"))
    if version is None:
        return None
    return ChartRelease(
        name=chart,
        version=version,
        created=_timestamp(entry.get("created")),
        digest=_text(entry.get("digest")),
        urls=_texts(entry.get("urls")),
        app_version=_text(entry.get("appVersion")),
        home=_text(entry.get("home")),
        sources=_texts(entry.get("sources")),
        kube_version=_text(entry.get("kubeVersion")),
    )


def _text(value: Any) -> str | None:
    # An unquoted `1.10` arrives as a float; str() is the best that can be recovered from such an index.
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, int) and value.bit_length() > 64:
        # Helm reads numbers in 64 bits, and Python refuses to spell one of thousands of digits: not a value
        return None
    return value if isinstance(value, str) else str(value)


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(text for text in map(_text, value) if text is not None)


def _timestamp(value: Any) -> datetime | None:
    """A release's `created` as a zone-aware time (release ages are taken against an aware clock). Helm writes
    RFC 3339 in UTC, so a time without a zone is read as UTC and a bare date as its midnight. An index PyYAML
    read (one with an anchor or a tag) holds datetime and date values already."""
    if isinstance(value, str):
        try:
            # Helm writes nanoseconds; Python keeps microseconds, which is plenty for release age
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def cached_index(cache_dir: Path, content_sha256: str, source_url: str) -> ChartIndex | None:
    """The parsed index stored for these content bytes, or None when missing or unreadable."""
    try:
        payload = json.loads(_cache_file(cache_dir, content_sha256).read_bytes())
        encoded = payload["charts"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(encoded, dict) or not all(isinstance(rows, str) for rows in encoded.values()):
        return None
    return ChartIndex(source_url=source_url, charts=_LazyCharts(encoded))


def store_index(cache_dir: Path, content_sha256: str, index: ChartIndex) -> None:
    """Write the parsed index under its content hash (atomically, so readers never see half a file)."""
    encoded = {
        name: json.dumps([_to_row(release) for release in releases], separators=(",", ":"), ensure_ascii=False)
        for name, releases in index.charts.items()
    }
    payload = json.dumps({"charts": encoded}, separators=(",", ":"), ensure_ascii=False).encode()
    write_atomic(_cache_file(cache_dir, content_sha256), payload, mode=0o600)


class _LazyCharts(Mapping[str, tuple[ChartRelease, ...]]):
    """Charts of a cached index, each decoded on first access.

    Each chart's rows are stored as one JSON string, so loading the file only scans strings and a run pays for the
    few charts it actually looks at.
    """

    def __init__(self, encoded: dict[str, str]) -> None:
        self._encoded = encoded
        self._decoded: dict[str, tuple[ChartRelease, ...]] = {}

    def __getitem__(self, name: str) -> tuple[ChartRelease, ...]:
        releases = self._decoded.get(name)
        if releases is None:
            # Two threads may decode the same chart at once; both produce equal values, so that is harmless.
            releases = tuple(_from_row(name, row) for row in json.loads(self._encoded[name]))
            self._decoded[name] = releases
        return releases

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)


def index_from_bytes(data: bytes, source_url: str, cache_dir: Path | None) -> tuple[ChartIndex, bool]:
    """The index for `data`, from the parsed cache when present; the flag says whether YAML was parsed."""
    if cache_dir is None:
        return parse_index(data, source_url), True
    digest = sha256_hex(data)
    hit = cached_index(cache_dir, digest, source_url)
    if hit is not None:
        return hit, False
    index = parse_index(data, source_url)
    store_index(cache_dir, digest, index)
    return index, True


def _cache_file(cache_dir: Path, content_sha256: str) -> Path:
    # parsed by this build's code: another build's rows are never read
    return cache_dir / f"parsed-{code_digest()[:16]}" / content_sha256[:2] / f"{content_sha256}.json"


def _to_row(release: ChartRelease) -> list[Any]:
    created = release.created.isoformat() if release.created is not None else None
    return [
        release.version,
        created,
        release.digest,
        list(release.urls),
        release.app_version,
        release.home,
        list(release.sources),
        release.kube_version,
    ]


def _from_row(name: str, row: list[Any]) -> ChartRelease:
    version, created, digest, urls, app_version, home, sources, kube_version = row
    return ChartRelease(
        name=name,
        version=version,
        created=datetime.fromisoformat(created) if created is not None else None,
        digest=digest,
        urls=tuple(urls),
        app_version=app_version,
        home=home,
        sources=tuple(sources),
        kube_version=kube_version,
    )
