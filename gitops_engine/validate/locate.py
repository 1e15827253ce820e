"""Map rendered objects back to the document and line they were written on."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from gitops_engine.core.yamlio import LocatedDocument, YamlError, load, load_located
from gitops_engine.flux.kustomize_refs import Refusal, check_kustomization
from gitops_engine.flux.tree import YAML_SUFFIXES, FolderTree, is_kustomization_file


def is_yaml_path(path: str) -> bool:
    """True for YAML files outside Helm chart `templates/` folders (Go templates are not YAML)."""
    return path.endswith(YAML_SUFFIXES) and "/templates/" not in f"/{path}"


class SourceIndex:
    """Parsed repository files with line numbers, each parsed at most once (shared by every check).

    Safe to share between threads: the file checks read it while discovery waits on kustomize.
    """

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = files
        self._parsed: dict[str, tuple[LocatedDocument, ...]] = {}
        self._errors: dict[str, YamlError] = {}
        self._data: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    @cached_property
    def kustomization_paths(self) -> tuple[str, ...]:
        """Every file kustomize reads as a folder's kustomization, sorted."""
        return tuple(sorted(p for p in self._files if is_kustomization_file(p)))

    @cached_property
    def _view(self) -> FolderTree:
        return FolderTree(self._files)

    def refusals(self, path: str) -> list[Refusal]:
        """The reads the kustomization at `path` names that would leave the tree (see kustomize_refs)."""
        return [r for doc in self.documents(path) for r in check_kustomization(path, doc.data, self._view)]

    @cached_property
    def yaml_paths(self) -> tuple[str, ...]:
        """Every YAML file of the tree, sorted."""
        return tuple(sorted(p for p in self._files if is_yaml_path(p)))

    def documents(self, path: str) -> tuple[LocatedDocument, ...]:
        """The documents of `path` (empty when missing or not valid YAML)."""
        with self._lock:
            if path not in self._parsed:
                data = self._files.get(path)
                try:
                    self._parsed[path] = tuple(load_located(data)) if data is not None else ()
                except YamlError as exc:
                    self._parsed[path] = ()
                    self._errors[path] = exc
            return self._parsed[path]

    def data(self, path: str) -> tuple[Any, ...]:
        """The documents of `path` without line numbers: the fast read, for callers that only look."""
        with self._lock:
            if path in self._parsed:
                return tuple(doc.data for doc in self._parsed[path])
            if path not in self._data:
                try:
                    self._data[path] = tuple(load(self._files.get(path, b"")))
                except YamlError:
                    self._data[path] = ()
            return self._data[path]

    def is_broken(self, path: str) -> bool:
        """True when `path` is YAML that does not parse or repeats a key, or a kustomization whose reads leave the
        tree: builds reading it fail for that reason, which the file checks report where it is written."""
        if is_kustomization_file(path) and self.refusals(path):
            return True
        if not is_yaml_path(path):
            return False
        return self.syntax_error(path) is not None or any(doc.duplicate_keys for doc in self.documents(path))

    def syntax_error(self, path: str) -> YamlError | None:
        """Why `path` is not valid YAML, or None when it parses."""
        self.documents(path)
        return self._errors.get(path)

    def find(self, path: str, kind: str, name: str) -> LocatedDocument | None:
        """The document in `path` that most likely produced an object of `kind` named `name`."""
        candidates = [d for d in self.documents(path) if isinstance(d.data, dict) and d.data.get("kind") == kind]
        if not candidates:
            return None
        names = [str((d.data.get("metadata") or {}).get("name") or "") for d in candidates]
        for doc, own in zip(candidates, names, strict=True):
            if own == name:
                return doc
        # namePrefix/nameSuffix and generators change names; the written name is still inside the rendered one
        partial = [doc for doc, own in zip(candidates, names, strict=True) if own and own in name]
        if len(partial) == 1:
            return partial[0]
        return candidates[0] if len(candidates) == 1 else None

    def line_containing(self, path: str, needle: str, start: int = 1) -> int | None:
        """The first line at or after `start` whose text contains `needle`."""
        data = self._files.get(path)
        if data is None:
            return None
        for number, text in enumerate(data.decode(errors="replace").splitlines()[start - 1 :], start):
            if needle in text:
                return number
        return None
