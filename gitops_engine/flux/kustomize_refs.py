"""What a kustomization reads, field by field, and which of those reads would leave the repository.

Flux builds with kustomize's load restrictions off, but on a filesystem rooted at the source: any file of the
repository may be read, nothing outside it, and nothing remote when remote bases are off. The validator runs
kustomize on pull requests from anyone with push rights, so it keeps that root itself, before kustomize runs:
every path a kustomization (or a builtin plugin configuration it loads) names must be a file or folder of the
tree under check. kustomize rejects fields it does not know, so the field list below is the whole of what a
kustomization can make it read; a field missing from it is refused rather than trusted.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.tree import FolderTree
from gitops_engine.spec.reader import render_path

# every field of kustomize's Kustomization type (api/types/kustomization.go), Components included
_KNOWN_FIELDS = frozenset(
    {
        "apiVersion", "kind", "metadata", "openapi", "namePrefix", "nameSuffix", "namespace", "commonLabels",
        "labels", "commonAnnotations", "patchesStrategicMerge", "patchesJson6902", "patches", "images",
        "replacements", "replicas", "vars", "resources", "components", "crds", "bases", "configMapGenerator",
        "secretGenerator", "helmGlobals", "helmCharts", "helmChartInflationGenerator", "generatorOptions",
        "configurations", "generators", "transformers", "validators", "inventory", "buildMetadata", "sortOptions",
    }
)  # fmt: skip
# fields naming files only, and fields that may also name a folder (another kustomization)
_FILE_LISTS = ("crds", "configurations")
_FOLDER_LISTS = ("resources", "bases", "components")
_PLUGIN_LISTS = ("generators", "transformers", "validators")
# keys of builtin plugin configurations (apiVersion: builtin) that name files to read
_PLUGIN_PATH_KEYS = frozenset(
    {"path", "paths", "files", "envs", "env", "valuesFile", "additionalValuesFiles", "chartHome", "configHome"}
)

Key = tuple[str | int, ...]
_OUT = "kustomize-outside-read"
_MISSING = "kustomize-missing-path"
_UNKNOWN = "kustomize-unknown-field"


@dataclass(frozen=True)
class Reference:
    """A path named at `key` of a kustomization document; `target` is the path part of `value`."""

    key: Key
    value: str
    target: str
    folder_ok: bool = False


@dataclass(frozen=True)
class Refusal:
    """A read kustomize must not be asked to do: where it is named and why it is refused."""

    file: str
    key: Key
    value: str
    reason: str
    rule: str = _OUT

    def __str__(self) -> str:
        return f"{self.file}: {render_path(self.key)}: {self.value!r} {self.reason}"


def references(doc: Mapping[str, Any]) -> Iterator[Reference]:
    """Every path a kustomization document names (inline patches and generator YAML are not paths)."""
    for field in (*_FILE_LISTS, *_FOLDER_LISTS, *_PLUGIN_LISTS):
        for index, value in _strings(doc.get(field)):
            if field in _PLUGIN_LISTS and _is_inline(value):
                continue
            yield Reference((field, index), value, value, field not in _FILE_LISTS)
    openapi = doc.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield Reference(("openapi", "path"), openapi["path"], openapi["path"])
    for index, value in _strings(doc.get("patchesStrategicMerge")):
        if not _is_inline(value):
            yield Reference(("patchesStrategicMerge", index), value, value)
    for field in ("patches", "patchesJson6902", "replacements"):
        for index, item in _mappings(doc.get(field)):
            if isinstance(item.get("path"), str):
                yield Reference((field, index, "path"), item["path"], item["path"])
    yield from _generator_references(doc)
    yield from _helm_references(doc)


def _generator_references(doc: Mapping[str, Any]) -> Iterator[Reference]:
    for field in ("configMapGenerator", "secretGenerator"):
        for index, item in _mappings(doc.get(field)):
            for key in ("files", "envs"):
                for position, value in _strings(item.get(key)):
                    # `key=path`: the file's content becomes the value of `key`
                    yield Reference((field, index, key, position), value, value.split("=", 1)[-1])
            if isinstance(item.get("env"), str):
                yield Reference((field, index, "env"), item["env"], item["env"])


def _helm_references(doc: Mapping[str, Any]) -> Iterator[Reference]:
    globals_ = doc.get("helmGlobals")
    if isinstance(globals_, Mapping):
        for key in ("chartHome", "configHome"):
            if isinstance(globals_.get(key), str):
                yield Reference(("helmGlobals", key), globals_[key], globals_[key], folder_ok=True)
    for field in ("helmCharts", "helmChartInflationGenerator"):
        for index, item in _mappings(doc.get(field)):
            # `values` is the deprecated inflation generator's values file
            for key in ("valuesFile", "chartHome", "values"):
                if isinstance(item.get(key), str):
                    yield Reference((field, index, key), item[key], item[key], folder_ok=key == "chartHome")
            for position, value in _strings(item.get("additionalValuesFiles")):
                yield Reference((field, index, "additionalValuesFiles", position), value, value)


def plugin_references(doc: Any, key: Key = ()) -> Iterator[Reference]:
    """Paths named in a builtin plugin configuration (apiVersion: builtin); other documents name none."""
    if not isinstance(doc, Mapping) or (not key and doc.get("apiVersion") != "builtin"):
        return
    for name, value in doc.items():
        here = (*key, str(name))
        if name in _PLUGIN_PATH_KEYS and isinstance(value, str):
            yield Reference(here, value, value.split("=", 1)[-1])
        elif name in _PLUGIN_PATH_KEYS and isinstance(value, list):
            for index, item in _strings(value):
                yield Reference((*here, index), item, item.split("=", 1)[-1])
        elif isinstance(value, Mapping):
            yield from plugin_references(value, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from plugin_references(item, (*here, index))


def check_kustomization(path: str, doc: Any, tree: FolderTree) -> list[Refusal]:
    """Why a build that reads the kustomization at `path` must not run (empty when every read stays inside)."""
    if not isinstance(doc, Mapping):
        return []
    folder = posixpath.dirname(path)
    refusals = [
        Refusal(path, (str(name),), str(name), "is not a kustomization field the validator can check", _UNKNOWN)
        for name in doc
        if name not in _KNOWN_FIELDS
    ]
    for ref in references(doc):
        reason = _problem(folder, ref, tree)
        if reason is not None:
            refusals.append(Refusal(path, ref.key, ref.value, *reason))
        elif ref.key[0] in _PLUGIN_LISTS:
            refusals.extend(_plugin_refusals(path, folder, ref, tree))
    for field in _PLUGIN_LISTS:
        for index, value in _strings(doc.get(field)):
            if _is_inline(value):
                for config in tree.inline(value):
                    refusals.extend(_config_refusals(path, folder, (field, index), config, tree))
    return refusals


def _plugin_refusals(path: str, folder: str, ref: Reference, tree: FolderTree) -> Iterator[Refusal]:
    """A generator/transformer/validator entry names a file of configurations, or a folder that builds them."""
    target = _resolve(folder, ref.target)
    assert target is not None  # _problem accepted it
    for file in (target,) if tree.is_file(target) else tree.files_below(target):
        for config in tree.documents(file):
            yield from _config_refusals(path, folder, ref.key, config, tree)


def _config_refusals(path: str, folder: str, key: Key, config: Any, tree: FolderTree) -> Iterator[Refusal]:
    for ref in plugin_references(config):
        reason = _problem(folder, ref, tree)
        if reason is not None:
            yield Refusal(path, (*key, *ref.key), ref.value, *reason)


def _problem(folder: str, ref: Reference, tree: FolderTree) -> tuple[str, str] | None:
    """(reason, rule) when the reference must not be read; None when it names a file or folder of the tree."""
    target = ref.target.strip()
    if "://" in target or target.startswith(("git@", "git::")):
        return "is a remote address: validation is offline and never fetches (vendor it into the repository)", _OUT
    if target.startswith(("/", "~")):
        return "is an absolute path: a build may read only files of the repository", _OUT
    resolved = _resolve(folder, target)
    if resolved is None:
        return "leaves the repository: a build may read only files of the repository", _OUT
    if tree.is_file(resolved) or (ref.folder_ok and tree.is_folder(resolved)):
        return None
    reason = "is not a file or folder of the repository (kustomize would fetch it as a remote address)"
    return reason + "; symlinks are never followed", _MISSING


def _resolve(folder: str, target: str) -> str | None:
    """`target` relative to `folder` as a clean repository path ('' for the root); None when it escapes."""
    resolved = posixpath.normpath(posixpath.join(folder, target)) if target else folder
    if resolved == ".":
        return ""
    if resolved == ".." or resolved.startswith("../"):
        return None
    return resolved


def resolve_reference(folder: str, ref: Reference) -> str | None:
    """Where a reference of the kustomization in `folder` points inside the tree (None when it cannot)."""
    target = ref.target.strip()
    if "://" in target or target.startswith(("/", "~", "git@", "git::")):
        return None
    return _resolve(folder, target)


def _is_inline(value: str) -> bool:
    """Inline YAML (a patch or a plugin configuration written in place) rather than a path."""
    return "\n" in value or value.lstrip().startswith(("{", "["))


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, str))


def _mappings(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, Mapping))
