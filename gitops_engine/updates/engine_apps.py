"""Bumps of apps the engine seeded: the bot writes exactly what a seed with the new version would render.

The state file (`.gitops-engine/state.yaml`) names every app deployment the engine manages with its version of
record. Bumping such an app moves (or, while a deployment the spec pins still uses it, copies) its folder
`applications/<app>/<old>/` to `<new>/` with the chart version retargeted (catalog.retarget, the seed's own
rewrite), points each unpinned deployment's Kustomizations at it (path, appVersion, the app-version label), and
records in the state file what the seed would record: the new version of record, sourced from a bump, and for
every file it changed the blob of the render (the last render with the same edits), so a later re-seed keeps the
bump and still carries hand edits by its 3-way merge.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from gitops_engine.catalog.retarget import folder_version, retarget_files
from gitops_engine.core.errors import GitopsError
from gitops_engine.core.hashing import git_blob_id
from gitops_engine.core.yamlio import Scalar, replace_scalars, scalar_at
from gitops_engine.model.state import STATE_PATH, AppRecord, Source, State, encode
from gitops_engine.updates.kubernetes import is_kubernetes
from gitops_engine.updates.uses import CatalogFolder, ChartUse, ScanResult

VERSION_LABEL = "gitops-engine.io/app-version"
_KUSTOMIZATION_SCALARS = (
    ("spec", "postBuild", "substitute", "appVersion"),
    ("metadata", "labels", VERSION_LABEL),
)
_PINNED = "pinned by the platform spec ({keys}); change the pin there to move it"
_UNRECORDED = "seeded by an earlier gitops-engine that kept no versions of record: seed once, then it is bumped"
_ENGINE_PINNED = "rendered by gitops-engine itself (Flux's own chart): a new engine release moves it; re-seed then"


class EngineBumpError(GitopsError):
    """An engine-managed app cannot be bumped the way a seed would render it (the branch is not written)."""


@dataclass(frozen=True)
class EngineChange:
    """What an engine-managed bump writes: files (state file included), paths it removes, and the render of every
    file it changed (to keep reachable as the base of the next re-seed's merge)."""

    written: Mapping[str, bytes]
    removed: frozenset[str]
    render: Mapping[str, bytes]


def deployments_on(state: State, folder: CatalogFolder) -> dict[str, AppRecord]:
    """The deployments whose version of record is served by `folder`."""
    return {
        key: record
        for key, record in state.apps.items()
        if key.partition("@")[0] == folder.app and record.version == folder.version
    }


def is_engine_folder(state: State | None, folder: CatalogFolder) -> bool:
    """True when the seed renders `folder` for a deployment it records."""
    return state is not None and bool(deployments_on(state, folder))


def hold_pinned(scan: ScanResult, state: State | None) -> ScanResult:
    """The scan with the uses a re-seed would undo marked as skipped: those in engine folders that only
    spec-pinned deployments run (the spec decides), and charts the engine renders outside any app folder (its
    own release decides). Hand-written files are the bot's as before."""
    if state is None:
        return scan
    uses: list[ChartUse] = []
    for use in scan.uses:
        if is_kubernetes(use):
            uses.append(use)  # a managed cluster's version of record follows its own rule (engine_clusters)
            continue
        folder = use.catalog
        records = deployments_on(state, folder) if folder is not None else {}
        if not use.skip and records and all(r.source is Source.SPEC for r in records.values()):
            use = replace(use, skip=_PINNED.format(keys=", ".join(sorted(records))))
        elif not use.skip and not records and use.path in state.files:
            use = replace(use, skip=_UNRECORDED if folder is not None and not state.apps else _ENGINE_PINNED)
        uses.append(use)
    return replace(scan, uses=tuple(uses))


def engine_bump(
    files: Mapping[str, bytes],
    state: State,
    renders: Callable[[str], bytes],
    folder: CatalogFolder,
    chart_from: str,
    chart_to: str,
) -> EngineChange:
    """The bump of the engine folder `folder` from chart version `chart_from` to `chart_to` (see module doc).

    `files` is the branch's tree and `renders(blob_id)` reads a recorded render from the repository.
    """
    records = deployments_on(state, folder)
    movers = sorted(key for key, record in records.items() if record.source is not Source.SPEC)
    if not movers:
        raise EngineBumpError(f"{folder.root}: {_PINNED.format(keys=', '.join(sorted(records)))}")
    version_to = folder_version(folder.version, chart_from, chart_to)
    new_root = posixpath.join(posixpath.dirname(folder.root), version_to)
    if any(path.startswith(new_root + "/") for path in files):
        raise EngineBumpError(f"{new_root}/ already exists; seed again to let the engine place the app")
    keep_old = len(movers) < len(records)
    written: dict[str, bytes] = {}
    render: dict[str, bytes] = {}
    state_files = dict(state.files)
    deleted = dict(state.deleted)
    _move_folder(files, state, renders, folder, new_root, (chart_from, chart_to), written, render, state_files, deleted)
    removed = set() if keep_old else {p for p in files if p.startswith(folder.root + "/")}
    if not keep_old:
        for recorded in (state_files, deleted):
            for path in [p for p in recorded if p.startswith(folder.root + "/")]:
                del recorded[path]
    for key in movers:
        for path in _kustomization_files(state, key, folder.app):
            edited = _pointed(files[path], folder, new_root, version_to, path)
            written[path] = edited
            base = _pointed(renders(state.files[path]), folder, new_root, version_to, path)
            render[path] = base
            state_files[path] = git_blob_id(base)
    apps = dict(state.apps)
    apps.update({key: AppRecord(version_to, Source.BUMP) for key in movers})
    written[STATE_PATH] = encode(replace(state, apps=apps, files=state_files, deleted=deleted))
    return EngineChange(written, frozenset(removed - written.keys()), render)


def _move_folder(
    files: Mapping[str, bytes],
    state: State,
    renders: Callable[[str], bytes],
    folder: CatalogFolder,
    new_root: str,
    charts: tuple[str, str],
    written: dict[str, bytes],
    render: dict[str, bytes],
    state_files: dict[str, str],
    deleted: dict[str, str],
) -> None:
    """The folder's files (as the branch has them) and their renders, retargeted, at their new paths."""
    prefix = folder.root + "/"
    current = {p[len(prefix) :]: d for p, d in files.items() if p.startswith(prefix)}
    for rel, data in retarget_files(current, *charts).items():
        written[f"{new_root}/{rel}"] = data
    for recorded, target in ((state.files, state_files), (state.deleted, deleted)):
        for path, blob in recorded.items():
            if path.startswith(prefix):
                rel = path[len(prefix) :]
                base = retarget_files({rel: renders(blob)}, *charts)[rel]
                render[f"{new_root}/{rel}"] = base
                target[f"{new_root}/{rel}"] = git_blob_id(base)


def _kustomization_files(state: State, key: str, app: str) -> list[str]:
    """The files the seed renders for deployment `key` on every cluster: its Flux Kustomization and overrides."""
    where = key.partition("@")[2]
    names = (f"{app}.yaml", f"{app}-overrides.yaml")
    found = []
    for path in state.files:
        parts = path.split("/")
        in_apps = parts[0] == "clusters" and len(parts) > 3 and parts[2] == "apps"
        if in_apps and "/".join(parts[3:-1]) == where and parts[-1] in names:
            found.append(path)
    return sorted(found)


def _pointed(data: bytes, folder: CatalogFolder, new_root: str, version: str, path: str) -> bytes:
    """A deployment's Kustomization (or overrides ConfigMap) pointed at the new folder and version."""
    edits: list[tuple[Scalar, str]] = []
    old_path = f"./{folder.root}"
    found = scalar_at(data, 0, ("spec", "path"))
    if found is not None and found.value == old_path:
        edits.append((found, f"./{new_root}"))
    for keys in _KUSTOMIZATION_SCALARS:
        found = scalar_at(data, 0, keys)
        if found is not None and found.value == folder.version:
            edits.append((found, version))
    if not edits:
        raise EngineBumpError(f"{path}: does not name {folder.root} any more; seed again before bumping")
    try:
        return replace_scalars(data, edits)
    except ValueError as exc:
        raise EngineBumpError(f"{path}: {exc}") from exc
