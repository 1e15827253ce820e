"""Use case part: render every HelmRelease of a discovery with the Helm backend (validate, diff and bump use it).

Charts come from adapters.charts (disk cache by digest; offline uses only the cache). Renders are kept on disk
by (chart digest, values digest, release name and namespace, backend version), so a warm run neither loads the
Helm backend nor any chart. Misses render on worker threads: the backend releases the GIL in its native calls.
SOPS-encrypted values Secrets are opened with the age identities this machine has (SOPS_AGE_KEY and friends).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_engine.adapters import runcache
from gitops_engine.adapters.agekeys import all_identities
from gitops_engine.adapters.charts import ChartStore, ChartUnavailable, FetchStats
from gitops_engine.adapters.helmrepo import LookupOptions, default_cache_dir
from gitops_engine.adapters.helmsdk import INSTALL_HINT, installed
from gitops_engine.core.errors import GitopsError, InputError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.core.yamlio import emit, load
from gitops_engine.helm.render import (
    ChartArchive,
    ChartRenderer,
    RenderedChart,
    RenderError,
    RenderRequest,
    release_manifests,
)
from gitops_engine.helm.sources import ChartLocation
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import to_plain
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.helmreleases import Decrypt, ReleaseJob, release_jobs
from gitops_engine.validate.helmrendered import RenderedRelease, template_objects
from gitops_engine.validate.objects import RenderedObject

_SDK = "helm-python-sdk"


@dataclass(frozen=True)
class HelmOptions:
    """How releases are rendered: chart lookups (and their cache), offline, where renders are kept, threads."""

    lookups: LookupOptions = field(default_factory=LookupOptions)
    offline: bool = True
    render_cache: Path | None = None  # None: <lookup cache>/renders
    workers: int | None = None  # None: the number of CPUs
    age_key: Path | None = None  # an age identity file tried before the identities this machine has


@dataclass(frozen=True)
class RenderStats:
    """Where a run's charts and renders came from."""

    charts: FetchStats
    rendered: int
    cached: int


@functools.cache
def backend_version() -> str | None:
    """The installed Helm backend's version, or None when the `[helm]` extra is not installed. Read once: it is
    part of every render's cache key, and reading package metadata scans the import path (kept, a warm render of
    scripts/bench_render.py's 1,000 releases takes 0.4 s instead of 0.7–0.8 s)."""
    try:
        return importlib.metadata.version(_SDK)
    except importlib.metadata.PackageNotFoundError:
        return None


def require_backend() -> None:
    """An input error (exit 2) naming the install command when the Helm backend is missing."""
    if not installed() or backend_version() is None:
        raise InputError(INSTALL_HINT)


def sops_decrypter(files: Mapping[str, bytes], identities: Sequence[str]) -> Decrypt:
    """Opens SOPS-encrypted Secrets with `identities`.

    A Secret is decrypted from the file it is written in (`files`), as written: a build may reorder its keys
    (kustomize sorts them), and the file's MAC holds only for the order sops wrote. The built body is the last
    try, for a Secret whose file a build does not name.
    """
    keys = list(identities)
    opened: dict[str, list[object]] = {}

    def documents(path: str) -> list[object]:
        if path not in opened:
            data = files.get(path)
            try:
                found = sopsfile.open_encrypted(data, Format.YAML, keys, path).documents if data else ()
            except GitopsError:
                found = ()
            opened[path] = [to_plain(document) for document in found]
        return opened[path]

    def decrypt(secret: RenderedObject) -> Mapping[str, Any] | None:
        if not keys:
            return None
        written = [
            doc
            for doc in documents(secret.file)
            if isinstance(doc, Mapping) and doc.get("kind") == "Secret" and isinstance(doc.get("metadata"), Mapping)
        ]
        named = [doc for doc in written if doc["metadata"].get("name") == secret.id.name]
        if named or len(written) == 1:
            return (named or written)[0]
        try:
            plain = sopsfile.decrypt(emit(dict(secret.body)).encode(), Format.YAML, keys)
        except GitopsError:
            return None
        docs = load(plain)
        return docs[0] if docs and isinstance(docs[0], Mapping) else None

    return decrypt


class HelmRendering:
    """Renders releases for one run; the chart store, the backend and their caches are shared by its calls."""

    def __init__(
        self,
        options: HelmOptions | None = None,
        renderer: ChartRenderer | None = None,
        store: ChartStore | None = None,
    ) -> None:
        self.options = options or HelmOptions()
        self.store = store or ChartStore(self.options.lookups, offline=self.options.offline)
        self._renderer = renderer
        self._cache_dir = self.options.render_cache or (self.options.lookups.cache_dir or default_cache_dir())
        self._rendered = 0
        self._cached = 0
        self._identities: list[str] | None = None

    @property
    def stats(self) -> RenderStats:
        """Charts fetched or cached, renders made or reused, so far."""
        return RenderStats(self.store.stats, self._rendered, self._cached)

    def jobs(
        self, clusters: Iterable[Cluster], files: Mapping[str, bytes], sources: Mapping[str, str] | None = None
    ) -> list[ReleaseJob]:
        """The release jobs of `clusters` (SOPS values Secrets opened with `age_key`, then this machine's
        identities)."""
        if self._identities is None:  # discovered once per run: a SOPS_AGE_KEY_CMD would otherwise run per call
            self._identities = all_identities(key_file=self.options.age_key)
        return release_jobs(clusters, files, sources, sops_decrypter(files, self._identities))

    def render(self, jobs: Sequence[ReleaseJob], *, upgrade: bool = False) -> list[RenderedRelease]:
        """Each job rendered (or why not); `upgrade` applies the releases' upgrade CRD policy, else install's."""
        locations = [job.location for job in jobs if job.ready and job.location is not None]
        archives = self.store.get_all(locations)
        outcomes: dict[int, RenderedChart | str] = {}
        misses: list[tuple[int, ChartArchive, RenderRequest, str]] = []
        for position, job in enumerate(jobs):
            archive = archives.get(job.location) if job.location is not None else None
            if not job.ready or not isinstance(archive, ChartArchive):
                continue
            assert job.spec is not None and job.values is not None
            request = RenderRequest(job.values, job.spec.release_name, job.spec.release_namespace)
            key = self._key(archive, request)
            cached = runcache.load_output(self._cache_dir, key)
            if cached is not None:
                self._cached += 1
                outcomes[position] = _decoded(cached)
            else:
                misses.append((position, archive, request, key))
        if misses:
            outcomes.update(self._render_misses(misses))
        return [self._result(job, archives, outcomes.get(i), upgrade) for i, job in enumerate(jobs)]

    def close(self) -> None:
        """Free the backend's loaded charts."""
        close = getattr(self._renderer, "close", None)
        if close is not None:
            close()

    def _render_misses(
        self, misses: list[tuple[int, ChartArchive, RenderRequest, str]]
    ) -> dict[int, RenderedChart | str]:
        renderer = self._backend()
        workers = self.options.workers or os.cpu_count() or 1

        def one(item: tuple[int, ChartArchive, RenderRequest, str]) -> tuple[int, RenderedChart | str]:
            position, archive, request, key = item
            try:
                rendered = renderer.render(archive, request)
            except RenderError as exc:
                return position, str(exc)
            runcache.store_output(self._cache_dir, key, _encoded(rendered))
            return position, rendered

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(misses))), thread_name_prefix="helm") as pool:
            results = dict(pool.map(one, misses))
        self._rendered += len(misses)
        return results

    def _backend(self) -> ChartRenderer:
        if self._renderer is None:
            from gitops_engine.adapters.helmsdk import HelmSdkRenderer

            self._renderer = HelmSdkRenderer()
        return self._renderer

    def _key(self, archive: ChartArchive, request: RenderRequest) -> str:
        values = json.dumps(request.values, sort_keys=True, separators=(",", ":"), default=str)
        parts = [archive.digest, sha256_hex(values.encode()), request.release_name, request.namespace]
        return sha256_hex(json.dumps(["helm-render", backend_version(), *parts]).encode())

    def _result(
        self,
        job: ReleaseJob,
        archives: Mapping[ChartLocation, ChartArchive | ChartUnavailable],
        outcome: RenderedChart | str | None,
        upgrade: bool,
    ) -> RenderedRelease:
        if job.finding is not None or job.unavailable:
            return RenderedRelease(job, unavailable=job.unavailable)
        archive = archives.get(job.location) if job.location is not None else None
        if isinstance(archive, ChartUnavailable):
            return RenderedRelease(job, unavailable=archive.reason)
        if isinstance(outcome, str):
            return RenderedRelease(job, failure=outcome)
        assert outcome is not None and job.spec is not None
        policy = job.spec.upgrade_crds if upgrade else job.spec.install_crds
        try:
            manifests = release_manifests(outcome, job.spec, policy)
        except RenderError as exc:
            return RenderedRelease(job, failure=str(exc))
        return RenderedRelease(job, template_objects(job, manifests))


def _encoded(rendered: RenderedChart) -> bytes:
    return json.dumps({"templates": dict(rendered.templates), "crds": dict(rendered.crds)}).encode()


def _decoded(data: bytes) -> RenderedChart:
    payload = json.loads(data)
    return RenderedChart(payload["templates"], payload["crds"])
