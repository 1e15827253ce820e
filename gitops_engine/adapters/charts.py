"""Chart archives for rendering: from a Helm repository, an OCI registry or a folder of the repository itself.

A Helm repository chart is found through the existing lookups (helmrepo.fetch_indexes, with its on-disk index
cache and revalidation), downloaded from the index's URL with httpget's limits, and must hash to the index's
digest. An OCI chart is pulled with the distribution client (oci.fetch_oci_chart). A folder chart
(`chart: ./charts/app` from this repository's GitRepository) is packed in memory into a reproducible archive.

Archives are kept on disk by digest, and each (repository, chart, version) remembers the digest it resolved to,
so a second run with the same charts makes no request at all. Offline, only that cache is used, and each chart
it lacks comes back as a ChartUnavailable that says so. One chart's failure never stops the others. A failed
fetch is remembered too: a store made with `retry_failed_after` (the bot's, whose rendered impact is a courtesy
it shows every pass) does not ask again for that long, so a chart host that is down costs one pass its requests,
not every pass.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import posixpath
import tarfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from gitops_engine.adapters.fs import write_atomic
from gitops_engine.adapters.helmrepo import ChartSource, LookupFailure, LookupOptions, default_cache_dir, fetch_indexes
from gitops_engine.adapters.httpget import Clients, Deadline, RetryingTransport, redact
from gitops_engine.adapters.oci import fetch_oci_chart
from gitops_engine.core.errors import GitopsError, RemoteError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.shown import one_line
from gitops_engine.helm.render import ChartArchive
from gitops_engine.helm.sources import ChartLocation
from gitops_engine.model.charts import ChartIndex, ChartRelease
from gitops_engine.updates.versions import is_constraint, parse_constraint, parse_version

log = logging.getLogger(__name__)

# a folder chart bigger than this is not packed (Helm's own loader refuses archives over 100 MiB)
MAX_FOLDER_BYTES = 64 << 20


@dataclass(frozen=True)
class ChartUnavailable:
    """Why a chart could not be had; `offline` when only the cache was asked."""

    reason: str
    offline: bool = False


@dataclass(frozen=True)
class FetchStats:
    """Where the archives of a run came from."""

    cached: int = 0
    fetched: int = 0
    packed: int = 0


class ChartStore:
    """Gets chart archives, from the disk cache first; `offline` never touches the network.

    `indexes` are Helm repository indexes the caller already read in this run (by repository URL), used instead
    of reading them again; `retry_failed_after` (seconds) is how long a failed fetch is believed (0: never).
    """

    def __init__(
        self,
        options: LookupOptions | None = None,
        *,
        offline: bool = False,
        indexes: Mapping[str, ChartIndex] | None = None,
        retry_failed_after: float = 0.0,
    ) -> None:
        self.options = options or LookupOptions()
        self.offline = offline
        self.root = (self.options.cache_dir or default_cache_dir()) / "charts-v1"
        self._indexes = {url.rstrip("/"): index for url, index in (indexes or {}).items()}
        self._retry_failed_after = retry_failed_after
        self._counts = {"cached": 0, "fetched": 0, "packed": 0}
        self._lock = threading.Lock()

    @property
    def stats(self) -> FetchStats:
        """How many archives came from the cache, the network and folders so far."""
        with self._lock:
            return FetchStats(**self._counts)

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def get_all(self, locations: Iterable[ChartLocation]) -> dict[ChartLocation, ChartArchive | ChartUnavailable]:
        """Every distinct location's archive (or why not), fetching in parallel across locations."""
        distinct = list(dict.fromkeys(locations))
        results: dict[ChartLocation, ChartArchive | ChartUnavailable] = {}
        remote: list[ChartLocation] = []
        for location in distinct:
            if location.kind == "folder":
                results[location] = self._packed(location)
                continue
            cached = self._pinned(location)
            failed = self._failed(location) if cached is None and not self.offline else None
            if cached is not None:
                results[location] = cached
            elif self.offline:
                results[location] = ChartUnavailable(f"{location} is not in the chart cache (offline)", True)
            elif failed is not None:
                results[location] = failed
            else:
                remote.append(location)
        if remote:
            results.update(self._fetch(remote))
        return results

    def _fetch(self, locations: list[ChartLocation]) -> dict[ChartLocation, ChartArchive | ChartUnavailable]:
        sources = [_source(loc) for loc in locations if loc.kind == "helm" and loc.url.rstrip("/") not in self._indexes]
        indexes: dict[str, ChartIndex | LookupFailure] = {**self._indexes}
        indexes.update({url.rstrip("/"): index for url, index in fetch_indexes(sources, self.options).items()})
        clients = Clients()
        run_ends = time.monotonic() + self.options.run_deadline
        workers = max(1, min(self.options.workers, len(locations)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chart-fetch") as pool:
            futures = {
                loc: pool.submit(self._fetch_one, clients, loc, indexes.get(loc.url.rstrip("/")), run_ends)
                for loc in locations
            }
            return {loc: future.result() for loc, future in futures.items()}

    def _fetch_one(
        self,
        clients: Clients,
        location: ChartLocation,
        index: ChartIndex | LookupFailure | None,
        run_ends: float,
    ) -> ChartArchive | ChartUnavailable:
        source = _source(location)
        seconds = min(self.options.source_deadline, run_ends - time.monotonic())
        if seconds <= 0:
            return ChartUnavailable(f"{location}: not fetched, the time for all chart downloads was used up")
        try:
            with Deadline(seconds) as deadline:
                transport = RetryingTransport(clients, source.ca_bundle, self.options.limits(), deadline)
                auth = (source.auth.username, source.auth.password) if source.auth else None
                if location.kind == "oci":
                    data, digest = fetch_oci_chart(
                        transport, location.url, location.version, insecure=source.insecure, auth=auth
                    )
                else:
                    data, digest = self._from_index(transport, location, index, auth)
        except (RemoteError, OSError) as exc:
            log.info("chart fetch failed: %s", exc)
            reason = one_line(str(exc), None)
            self._remember_failure(location, reason)
            return ChartUnavailable(reason)
        self._count("fetched")
        return self._keep(location, data, digest)

    def _from_index(
        self,
        transport: RetryingTransport,
        location: ChartLocation,
        index: ChartIndex | LookupFailure | None,
        auth: tuple[str, str] | None,
    ) -> tuple[bytes, str]:
        if isinstance(index, LookupFailure) or index is None:
            raise RemoteError(index.message if index is not None else f"{location}: no index")
        release = _resolve(index.releases(location.chart), location.version)
        if release is None:
            raise RemoteError(f"{location}: the repository's index has no such version")
        if not release.urls:
            raise RemoteError(f"{location}: the index entry has no download URL")
        url = urljoin(location.url.rstrip("/") + "/", release.urls[0])
        # like Helm, credentials go to the chart URL only when it is on the repository's own host
        same_host = urlsplit(url).netloc == urlsplit(location.url).netloc
        answer = transport.get(url, auth=auth if same_host else None)
        if answer.status_code != HTTPStatus.OK:
            raise RemoteError(f"GET {redact(url)}: HTTP {answer.status_code}")
        digest = f"sha256:{sha256_hex(answer.content)}"
        wanted = (release.digest or "").removeprefix("sha256:")
        if wanted and digest != f"sha256:{wanted}":
            raise RemoteError(f"GET {redact(url)}: the archive hashes to {digest}, the index says sha256:{wanted}")
        return answer.content, digest

    def _pinned(self, location: ChartLocation) -> ChartArchive | None:
        """The archive this location resolved to before, when it and its bytes are still in the cache."""
        if location.kind == "helm" and is_constraint(location.version) and not self.offline:
            return None  # a range may resolve to a newer version now: ask the index (revalidated, cheap)
        try:
            digest = json.loads(self._pin_file(location).read_bytes())["digest"]
            archive = self._archive(digest)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if archive is not None:
            self._count("cached")
        return archive

    def _keep(self, location: ChartLocation, data: bytes, digest: str) -> ChartArchive:
        try:
            write_atomic(self._archive_file(digest), data, mode=0o600)
            write_atomic(self._pin_file(location), json.dumps({"digest": digest}).encode(), mode=0o600)
            self._failure_file(location).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not write the chart cache in %s: %s", self.root, exc)
        return ChartArchive(digest, data)

    def _failed(self, location: ChartLocation) -> ChartUnavailable | None:
        """A fetch of `location` that failed less than `retry_failed_after` seconds ago, worded as it failed (the
        bot's pull request bodies stay as they are until the chart is asked for again)."""
        if self._retry_failed_after <= 0:
            return None
        try:
            failure = json.loads(self._failure_file(location).read_bytes())
            at, reason = float(failure["at"]), str(failure["reason"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return ChartUnavailable(reason) if 0 <= time.time() - at < self._retry_failed_after else None

    def _remember_failure(self, location: ChartLocation, reason: str) -> None:
        try:
            write_atomic(
                self._failure_file(location), json.dumps({"at": time.time(), "reason": reason}).encode(), mode=0o600
            )
        except OSError as exc:
            log.warning("could not write the chart cache in %s: %s", self.root, exc)

    def _failure_file(self, location: ChartLocation) -> Path:
        return self.root / "failed" / self._pin_file(location).name

    def _archive(self, digest: str) -> ChartArchive | None:
        data = self._archive_file(digest).read_bytes()
        # a damaged cache entry is a miss, never a wrong chart
        return ChartArchive(digest, data) if f"sha256:{sha256_hex(data)}" == digest else None

    def _archive_file(self, digest: str) -> Path:
        hex_digest = digest.removeprefix("sha256:")
        return self.root / "archives" / hex_digest[:2] / f"{hex_digest}.tgz"

    def _pin_file(self, location: ChartLocation) -> Path:
        key = json.dumps([location.kind, location.url.rstrip("/"), location.chart, location.version])
        return self.root / "pins" / f"{sha256_hex(key.encode())[:40]}.json"

    def _packed(self, location: ChartLocation) -> ChartArchive | ChartUnavailable:
        try:
            archive = pack_folder(location.files or {}, location.chart or location.url)
        except GitopsError as exc:
            return ChartUnavailable(str(exc))
        self._count("packed")
        return archive


def _source(location: ChartLocation) -> ChartSource:
    return ChartSource(location.url, auth=location.auth, insecure=location.insecure)


def pack_folder(files: Mapping[str, bytes], name: str) -> ChartArchive:
    """A chart folder's files (paths relative to it) as a reproducible `.tgz` with one top-level folder `name`."""
    if "Chart.yaml" not in files:
        raise GitopsError(f"{name}: the folder has no Chart.yaml, so it is not a Helm chart")
    total = sum(len(data) for data in files.values())
    if total > MAX_FOLDER_BYTES:
        raise GitopsError(f"{name}: the chart folder holds {total} bytes, more than the limit of {MAX_FOLDER_BYTES}")
    buffer = io.BytesIO()
    top = posixpath.basename(name.rstrip("/")) or "chart"
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(files[path])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    data = buffer.getvalue()
    return ChartArchive(f"sha256:{sha256_hex(data)}", data)


def _resolve(releases: tuple[ChartRelease, ...], wanted: str) -> ChartRelease | None:
    """The release `wanted` names: that exact version, or the newest stable one a range (or `*`) allows."""
    exact = wanted.removeprefix("v")
    for release in releases:
        if release.version.removeprefix("v") == exact:
            return release
    if not is_constraint(wanted) and wanted not in ("", "*"):
        return None
    try:
        constraint = parse_constraint(wanted if wanted not in ("", "*") else ">=0.0.0")
    except ValueError:
        return None
    candidates = [
        (version, release)
        for release in releases
        if (version := parse_version(release.version)) is not None
        and not version.is_prerelease
        and constraint.matches(version)
    ]
    return max(candidates, key=lambda pair: pair[0])[1] if candidates else None
