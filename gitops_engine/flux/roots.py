"""Sync roots: the Flux Kustomizations a cluster starts from.

`flux bootstrap` writes a sync Kustomization whose path is the folder holding its own file
(clusters/<name>/flux-system/gotk-sync.yaml builds ./clusters/<name>). A Kustomization is a candidate when its
source may be this repository and the folder it builds contains its own file. A candidate that another
candidate's cluster applies is part of that cluster, not a cluster of its own (a tenant's Kustomization with
`path: ./` contains its own file too, yet the cluster that applies it is where it belongs); two candidates
that apply each other stand as one, the first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from gitops_engine.flux.kustomization import Kustomization, clean_path
from gitops_engine.flux.sources import is_local_kind

Origin = TypeVar("Origin")
Key = TypeVar("Key", bound=Hashable)


def root_candidates(
    found: Iterable[tuple[str, Kustomization[Origin]]], mapped: Mapping[str, str]
) -> list[Kustomization[Origin]]:
    """The Kustomizations of (file, Kustomization) pairs that build a folder holding their own file, shortest path
    first."""
    roots: list[Kustomization[Origin]] = []
    for file, ks in found:
        if not is_local_kind(ks.source, mapped):
            continue
        assert ks.source is not None
        base = clean_path(mapped.get(ks.source.name, ""))
        full = clean_path(f"{base}/{ks.path}") if base else ks.path
        if full == "" or file.startswith(full + "/"):
            roots.append(ks)
    return sorted(roots, key=lambda ks: (ks.path.count("/"), ks.path, ks.namespace, ks.name))


def outermost(keys: Sequence[Key], applies: Callable[[int, Key], bool]) -> list[int]:
    """Indexes of the candidates no other candidate applies; `applies(i, key)` says whether the cluster of
    candidate i applies the candidate `key`. Of two that apply each other, the first stands for both."""
    kept: list[int] = []
    for i, key in enumerate(keys):
        inside_other = any(
            j != i and applies(j, key) and (j in kept or not applies(i, keys[j])) for j in range(len(keys))
        )
        if not inside_other:
            kept.append(i)
    return kept
