"""Kubernetes bumps of managed clusters: the bot writes exactly what a seed with the new version would render.

A step sets the Cluster's `spec.topology.version` and, where the engine seeded the cluster, the
`kubernetesVersion` of every ConfigMap in `clusters/<cluster>/kommander-vars.yaml` (charts are gated by it), each
by replacing that one scalar's bytes. The state file then records the new version of record, sourced from a bump,
and for every file the step changed the blob of its last render with the same edit, so a re-seed keeps the bump
(render.versions.choose_kubernetes) and still carries hand edits by its 3-way merge. Scalars are found again in
the tree the step is applied to: a step built on another step finds them where that one left them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from gitops_engine.core.hashing import git_blob_id
from gitops_engine.core.yamlio import Scalar, YamlError, compose, replace_scalars, scalar_at
from gitops_engine.model.state import STATE_PATH, AppRecord, Source, State, encode
from gitops_engine.updates.clusters import VERSION_KEY, vars_file
from gitops_engine.updates.engine_apps import EngineBumpError, EngineChange
from gitops_engine.updates.uses import Edit

_VARS_KEYS = ("data", VERSION_KEY)


def kubernetes_bump(
    files: Mapping[str, bytes], state: State | None, renders: Callable[[str], bytes], edit: Edit
) -> EngineChange:
    """The files one Kubernetes step writes on `files` (see module doc); `renders(blob_id)` reads a recorded
    render from the repository. `files` needs the Cluster's file, the cluster's kommander-vars and the state."""
    cluster = edit.kubernetes
    assert cluster is not None
    version = edit.value
    written: dict[str, bytes] = {}
    render: dict[str, bytes] = {}
    cluster_file = edit.site.path
    written[cluster_file] = _set(files[cluster_file], cluster_file, [(edit.site.doc, edit.site.keys)], version)
    variables = vars_file(cluster)
    recorded = version.removeprefix("v")
    if variables in files:
        where = _version_sites(files[variables])
        recorded = _spelled(files[variables], where, version)
        written[variables] = _set(files[variables], variables, where, recorded)
    if state is None or cluster not in state.clusters:
        return EngineChange(written, frozenset(), render)
    state_files = dict(state.files)
    for path in list(written):
        blob = state.files.get(path)
        if blob is None:
            continue
        sites = [(edit.site.doc, edit.site.keys)] if path == cluster_file else _version_sites(renders(blob))
        value = version if path == cluster_file else recorded
        render[path] = _set(renders(blob), path, sites, value)
        state_files[path] = git_blob_id(render[path])
    clusters = {**state.clusters, cluster: AppRecord(recorded, Source.BUMP)}
    written[STATE_PATH] = encode(replace(state, clusters=clusters, files=state_files))
    return EngineChange(written, frozenset(), render)


def _version_sites(data: bytes) -> list[tuple[int, tuple[str, ...]]]:
    """(document, keys) of every `data.kubernetesVersion` in a kommander-vars file (one ConfigMap per namespace)."""
    try:
        count = len(compose(data))
    except (YamlError, UnicodeDecodeError) as exc:
        raise EngineBumpError(f"cannot read the cluster's kommander-vars: {exc}") from exc
    return [(doc, _VARS_KEYS) for doc in range(count) if scalar_at(data, doc, _VARS_KEYS) is not None]


def _spelled(data: bytes, sites: list[tuple[int, tuple[str, ...]]], version: str) -> str:
    """`version` spelled like the variable already is (with or without a leading `v`)."""
    bare = version.removeprefix("v")
    first = scalar_at(data, sites[0][0], sites[0][1]) if sites else None
    return f"v{bare}" if first is not None and first.value.startswith("v") else bare


def _set(data: bytes, path: str, sites: list[tuple[int, tuple[str, ...]]], value: str) -> bytes:
    """`data` with the scalar at each site set to `value`, checked by reading it again."""
    edits: list[tuple[Scalar, str]] = []
    for doc, keys in sites:
        found = scalar_at(data, doc, keys)
        if found is None:
            raise EngineBumpError(f"{path}: no {'.'.join(keys)} in document {doc + 1}; seed again before bumping")
        edits.append((found, value))
    try:
        result = replace_scalars(data, edits)
    except ValueError as exc:
        raise EngineBumpError(f"{path}: {exc}") from exc
    for doc, keys in sites:
        found = scalar_at(result, doc, keys)
        if found is None or found.value != value:
            raise EngineBumpError(f"{path}: editing {'.'.join(keys)} produced {found and found.value!r}, not {value!r}")
    return result
