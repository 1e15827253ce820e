"""The desired copy of a catalog source in one target namespace, rendered to the exact bytes we commit."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.core.yamlio import emit_documents
from gitops_engine.propagate import names
from gitops_engine.propagate.config import PropagateConfig
from gitops_engine.propagate.scan import CatalogSource, Target, TargetKind
from gitops_engine.propagate.urls import rewrite_url

# Cluster-written bookkeeping that must not travel with the copy.
_DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", names.PROPAGATED_FROM})


@dataclass(frozen=True)
class DesiredCopy:
    """One file propagation wants to exist."""

    path: str
    source: str
    name: str
    target: str
    data: bytes


def selects(source: CatalogSource, target: Target, config: PropagateConfig) -> bool:
    """Whether `source`'s default-catalog labels (and any configured workspace selector) pick `target`."""
    label = names.WORKSPACE_DEFAULT_LABEL if target.kind is TargetKind.WORKSPACE else names.PROJECT_DEFAULT_LABEL
    if source.labels.get(label) != "true":
        return False
    selector = config.workspace_selectors.get(source.key)
    return selector is None or selector.matches(target.workspace_labels)


def render_copy(source: CatalogSource, target: Target, config: PropagateConfig) -> DesiredCopy:
    """The copy of `source` for `target`: same spec and labels, our annotation, URL host mapped."""
    annotations = {k: v for k, v in sorted(source.annotations.items()) if k not in _DROPPED_ANNOTATIONS}
    annotations[names.PROPAGATED_FROM] = source.key
    spec = copy.deepcopy(dict(source.spec))
    spec["url"] = rewrite_url(str(spec["url"]), config.url_hosts)
    document = {
        "apiVersion": source.api_version,
        "kind": "GitRepository",
        "metadata": {
            "name": source.name,
            "namespace": target.namespace,
            "labels": dict(sorted(source.labels.items())),
            "annotations": annotations,
        },
        "spec": spec,
    }
    header = f"Propagated by gitops-engine from {source.key} ({source.path}).\nEdit the source; edits here are undone."
    return DesiredCopy(
        path=f"{target.catalogs_dir}/{source.name}.yaml",
        source=source.key,
        name=source.name,
        target=target.namespace,
        data=emit_documents([document], header=header),
    )


def field_changes(actual: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[str, ...]:
    """`path: old → new` for every leaf that differs, so a summary shows exactly what a restore undoes."""
    old = dict(_leaves(actual, ""))
    new = dict(_leaves(desired, ""))
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, _MISSING) != new.get(key, _MISSING):
            lines.append(f"{key}: {_show(old.get(key, _MISSING))} → {_show(new.get(key, _MISSING))}")
    return tuple(lines)


_MISSING = object()


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else json.dumps(value, sort_keys=True, default=str)
