"""Source resolution: which repository folder a Flux Kustomization builds, when its source is this repository.

A Kustomization's sourceRef names a source object; only some of those are the repository under check. One is
when the name was mapped to a folder (`--source NAME=DIR`); another when it is the very source of the sync
Kustomization the walk started from. A walk that starts from a folder has no such Kustomization: then this
repository is what the tree's own sync Kustomizations read from, or, in a tree without any, the GitRepository
`flux-system/flux-system` that `flux bootstrap` creates. Everything else (a tenant's repository, an OCI
artifact, a bucket) is another source: not built from this tree, reported once as not checked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.kinds import GIT_REPOSITORY
from gitops_engine.flux.kustomization import Kustomization, Ref, clean_path

# What `flux bootstrap` names the GitRepository of the repository it writes (gotk-sync.yaml).
BOOTSTRAP_SOURCE = Ref(GIT_REPOSITORY, "flux-system", "flux-system")


def source_key(ref: Ref) -> tuple[str, str]:
    """What identifies a source as this repository: kind and name (an empty kind means GitRepository, as for
    sourceRef). The namespace is left out on purpose: a sourceRef that names the sync source in a namespace where
    it does not exist still means this repository, and the reference check reports the missing object."""
    return (ref.kind or GIT_REPOSITORY, ref.name)


@dataclass(frozen=True)
class RepositorySources:
    """Which sources are this repository, and the folder each stands for ('' is the repository root)."""

    mapped: Mapping[str, str]
    own: frozenset[tuple[str, str]]

    def folder_of(self, ref: Ref | None) -> str | None:
        """The repository folder `ref` stands for, or None when it is another source (None ref: the root)."""
        if ref is None:
            return ""
        if ref.name in self.mapped:
            return clean_path(self.mapped[ref.name])
        return "" if source_key(ref) in self.own else None

    def build_path(self, ks: Kustomization[Any]) -> str | None:
        """The repository folder `ks` builds, or None when its source is not this repository."""
        base = self.folder_of(ks.source)
        if base is None:
            return None
        return clean_path(posixpath.join(base, ks.path)) if base else ks.path

    def with_own(self, refs: Iterable[Ref]) -> RepositorySources:
        """These sources, plus `refs` counted as this repository."""
        return RepositorySources(self.mapped, self.own | {source_key(r) for r in refs})


def is_local_kind(ref: Ref | None, mapped: Mapping[str, str]) -> bool:
    """True when `ref` may be this repository: a GitRepository, or any source mapped to a folder."""
    return ref is not None and (ref.name in mapped or (ref.kind or GIT_REPOSITORY) == GIT_REPOSITORY)
