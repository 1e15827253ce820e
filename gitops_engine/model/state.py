"""`.gitops-engine/state.yaml`, the seed's provenance, and its one reader and writer.

It records the inputs a seed rendered from (one digest of all of them decides whether a re-seed has anything to do),
the version of record of every app deployment and where it came from (the spec's pin, the catalog's newest, or a
bump the bot proposed and someone merged), the same for the Kubernetes version of every managed cluster (the
spec's, or a merged bump), and the git blob id of every file the engine manages, which is the base
of the next 3-way merge, plus the managed files humans deleted since (kept deleted unless `--restore`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import YamlError, emit_documents, load, load_located

STATE_PATH = ".gitops-engine/state.yaml"
# the comment every file the seed writes starts with, this one included
HEADER = "Managed by gitops-engine; `gitops-engine seed` rewrites it, keeping hand edits by 3-way merge."
_API_VERSION = "gitops-engine.io/v1alpha1"
_DELETED = "deletedByUser"
_BLOB_ID = re.compile(r"^[0-9a-f]{40}$")


class Source(StrEnum):
    """Where an app deployment's version of record came from."""

    SPEC = "spec"  # pinned by `version:` in the platform spec: the spec wins over everything
    CATALOG = "catalog"  # the newest version the catalog offers
    BUMP = "bump"  # a bump the bot proposed and a human merged: kept until the spec or the catalog overtakes it


@dataclass(frozen=True)
class AppRecord:
    """The version one app deployment (or one managed cluster's Kubernetes) runs, and where it came from."""

    version: str
    source: Source


@dataclass(frozen=True)
class State:
    """What a seed recorded; `files` and `deleted` map paths to git blob ids."""

    input_digest: str = ""
    engine_version: str = ""
    platform: str = ""
    spec_digest: str = ""
    catalog_digest: str = ""
    apps: Mapping[str, AppRecord] = field(default_factory=dict)
    clusters: Mapping[str, AppRecord] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    deleted: Mapping[str, str] = field(default_factory=dict)

    def with_deleted(self, deleted: Mapping[str, str]) -> State:
        """The state with `deleted` moved out of `files` (the deletions humans made that this seed keeps)."""
        files = {path: blob for path, blob in self.files.items() if path not in deleted}
        return replace(self, files=files, deleted=dict(deleted))


def encode(state: State) -> bytes:
    """The file's bytes: identity first, then the files (sorted), then the deletions when there are any."""
    doc: dict[str, Any] = {
        "apiVersion": _API_VERSION,
        "kind": "State",
        "inputDigest": state.input_digest,
        "engineVersion": state.engine_version,
        "platform": state.platform,
        "specDigest": state.spec_digest,
        "catalogDigest": state.catalog_digest,
    }
    if state.apps:
        doc["apps"] = {
            key: {"version": record.version, "source": record.source.value}
            for key, record in sorted(state.apps.items())
        }
    if state.clusters:
        doc["clusters"] = {
            name: {"version": record.version, "source": record.source.value}
            for name, record in sorted(state.clusters.items())
        }
    doc["files"] = dict(sorted(state.files.items()))
    if state.deleted:
        doc[_DELETED] = dict(sorted(state.deleted.items()))
    return emit_documents([doc], header=HEADER)


def decode(data: bytes, where: str) -> State:
    """The state in `data`; a damaged file is an InputError naming `where:line` and how to restore it."""
    fix = f"restore it from history (git log -- {where})"
    try:
        docs = load(data)
    except YamlError as exc:
        raise InputError(f"{where}:{exc.line}: invalid YAML: {exc.problem}; {fix}") from exc
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise InputError(f"{where}:1: (document): must be one mapping, the seed's record; {fix}")
    doc = docs[0]
    sections = {key: _blob_map(doc, key) for key in ("files", _DELETED)}
    for key, section in sections.items():
        if section is None:
            line = load_located(data)[0].line_of((key,))
            raise InputError(f"{where}:{line}: {key} must map each path to a git blob id; {fix}")
    apps = _records(doc.get("apps"))
    if apps is None:
        line = load_located(data)[0].line_of(("apps",))
        raise InputError(f"{where}:{line}: apps must map each deployment to its version and source; {fix}")
    clusters = _records(doc.get("clusters"))
    if clusters is None:
        line = load_located(data)[0].line_of(("clusters",))
        raise InputError(f"{where}:{line}: clusters must map each cluster to its version and source; {fix}")
    return State(
        input_digest=_text(doc.get("inputDigest")),
        engine_version=_text(doc.get("engineVersion")),
        platform=_text(doc.get("platform")),
        spec_digest=_text(doc.get("specDigest")),
        catalog_digest=_text(doc.get("catalogDigest")),
        apps=apps,
        clusters=clusters,
        files=sections["files"] or {},
        deleted=sections[_DELETED] or {},
    )


def _blob_map(doc: Mapping[str, Any], key: str) -> dict[str, str] | None:
    """`doc[key]` when it is a path → blob id mapping (absent counts as empty), else None."""
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        return None
    if not all(isinstance(p, str) and isinstance(b, str) and _BLOB_ID.match(b) for p, b in value.items()):
        return None
    return value


def _records(value: object) -> dict[str, AppRecord] | None:
    """The `apps` or `clusters` section (absent counts as empty), or None when it is not name → {version,
    source}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return None
    records: dict[str, AppRecord] = {}
    sources = {source.value for source in Source}
    for key, entry in value.items():
        if not (isinstance(key, str) and isinstance(entry, dict) and isinstance(entry.get("version"), str)):
            return None
        if not isinstance(entry.get("source"), str) or entry["source"] not in sources:
            return None
        records[key] = AppRecord(entry["version"], Source(entry["source"]))
    return records


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
