"""A repository tree as kustomize and Flux see it: files, folders, kustomization files, and the kustomization
Flux generates for a folder that has none."""

from __future__ import annotations

import bisect
import posixpath
from collections import defaultdict
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from gitops_engine.core.yamlio import YamlError, load

# The names kustomize reads as a folder's kustomization, in the order it looks for them.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")


def is_kustomization_file(path: str) -> bool:
    """True for the file names kustomize reads as a folder's kustomization."""
    return posixpath.basename(path) in KUSTOMIZATION_FILES


class FolderTree:
    """Which paths of a tree are files and folders, what each folder holds, and their YAML documents."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self._manifests: dict[str, bool] = {}

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.files)

    @cached_property
    def _layout(self) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        by_folder: dict[str, list[str]] = defaultdict(list)
        subfolders: dict[str, set[str]] = defaultdict(set)
        for path in self._sorted:
            folder = posixpath.dirname(path)
            known = folder in by_folder or folder in subfolders
            by_folder[folder].append(path)
            # a folder seen before already has its chain of parents recorded
            while folder and not known:
                parent = posixpath.dirname(folder)
                known = parent in by_folder or parent in subfolders
                subfolders[parent].add(folder)
                folder = parent
        return by_folder, subfolders

    def is_file(self, path: str) -> bool:
        """True for a file of the tree."""
        return path in self.files

    def is_folder(self, path: str) -> bool:
        """True for a folder of the tree ('' is the root)."""
        by_folder, subfolders = self._layout
        return path == "" or path in by_folder or path in subfolders

    def files_in(self, folder: str) -> list[str]:
        """The files directly in `folder`, sorted."""
        return self._layout[0].get(folder, [])

    def subfolders(self, folder: str) -> list[str]:
        """The folders directly in `folder`, sorted."""
        return sorted(self._layout[1].get(folder, ()))

    def files_below(self, folder: str) -> list[str]:
        """Every file below `folder`, sorted."""
        if not folder:
            return list(self._sorted)
        # "0" follows "/" in code-point order: the paths in between are exactly those below the folder
        start = bisect.bisect_left(self._sorted, folder + "/")
        end = bisect.bisect_left(self._sorted, folder + "0")
        return self._sorted[start:end]

    def kustomization_in(self, folder: str) -> str | None:
        """The kustomization file kustomize reads for `folder`, or None when it has none."""
        for name in KUSTOMIZATION_FILES:
            candidate = posixpath.join(folder, name) if folder else name
            if candidate in self.files:
                return candidate
        return None

    def documents(self, path: str) -> list[Any]:
        """The YAML documents of a file (none when it is missing or not YAML)."""
        return self.inline(self.files.get(path, b""))

    @staticmethod
    def inline(text: str | bytes) -> list[Any]:
        """The YAML documents of text written in place (none when it is not YAML)."""
        try:
            return load(text)
        except YamlError:
            return []

    def generated_resources(self, folder: str) -> Iterator[str]:
        """What the kustomization Flux generates for a folder without one lists, relative to the folder: every
        YAML file below it holding a manifest, and each sub-folder that has its own kustomization (whose files
        that kustomization lists instead)."""
        base = folder or "."
        for file in self.files_in(folder):
            if file.endswith(YAML_SUFFIXES) and not is_kustomization_file(file) and self._holds_manifest(file):
                yield posixpath.relpath(file, base)
        for sub in self.subfolders(folder):
            if self.kustomization_in(sub) is not None:
                yield posixpath.relpath(sub, base)
            else:
                yield from (posixpath.join(posixpath.relpath(sub, base), r) for r in self.generated_resources(sub))

    def _holds_manifest(self, path: str) -> bool:
        if path not in self._manifests:
            try:
                docs = load(self.files[path])
                found = any(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs)
            except YamlError:
                # listed anyway, so the build reports the broken file as Flux would
                found = True
            self._manifests[path] = found
        return self._manifests[path]
