"""Reading what propagation works from out of a repository tree: catalog sources, targets and existing copies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gitops_engine.core.errors import InputError
from gitops_engine.core.shown import shown
from gitops_engine.core.urls import CREDENTIALS_FIX, has_credentials
from gitops_engine.core.yamlio import LocatedDocument
from gitops_engine.flux.kinds import GIT_REPOSITORY, SOURCE_GROUP, is_kind
from gitops_engine.flux.names import name_problem
from gitops_engine.model.tree import Tree
from gitops_engine.propagate import names
from gitops_engine.propagate.parsing import parse_fast, parse_located

_WORKSPACE_NS = re.compile(rf"^{names.WORKSPACES_DIR}/(?P<ws>[^/]+)/namespace\.yaml$")
_PROJECT_NS = re.compile(rf"^{names.WORKSPACES_DIR}/(?P<ws>[^/]+)/projects/(?P<p>[^/]+)/namespace\.yaml$")
_COPY_PATH = re.compile(rf"^{names.WORKSPACES_DIR}/[^/]+/(projects/[^/]+/)?{names.CATALOGS_DIR}/[^/]+\.ya?ml$")
_WORKSPACES_PREFIX = names.WORKSPACES_DIR + "/"


class TargetKind(StrEnum):
    """Where a copy can land."""

    WORKSPACE = "workspace"
    PROJECT = "project"


@dataclass(frozen=True)
class CatalogSource:
    """A catalog GitRepository declared in the management part of the repository."""

    path: str
    line: int
    api_version: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def key(self) -> str:
        """`<namespace>/<name>`, the value of the propagated-from annotation."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Target:
    """A workspace or project namespace that may receive copies, with the labels selection looks at."""

    kind: TargetKind
    directory: str
    namespace: str
    labels: Mapping[str, str]
    workspace_labels: Mapping[str, str]

    @property
    def catalogs_dir(self) -> str:
        """The folder its copies live in."""
        return f"{self.directory}/{names.CATALOGS_DIR}"


@dataclass(frozen=True)
class ExistingCopy:
    """A file holding exactly one GitRepository with our annotation: ours to update or delete."""

    path: str
    source: str
    data: bytes


@dataclass(frozen=True)
class HandMade:
    """A GitRepository below workspaces/ without our annotation: never touched, and never shadowed by a copy."""

    path: str
    namespace: str
    name: str


@dataclass(frozen=True)
class WorkspaceObjects:
    """Our copies and everyone else's GitRepositories found below workspaces/."""

    copies: Mapping[str, ExistingCopy]
    hand_made: tuple[HandMade, ...]
    warnings: tuple[str, ...]


def _is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def _is_git_repository(doc: Any) -> bool:
    return isinstance(doc, dict) and is_kind(doc, SOURCE_GROUP, GIT_REPOSITORY)


def _metadata(doc: Any) -> dict[str, Any]:
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _annotations(doc: Any) -> dict[str, Any]:
    """A hand-written object's annotations; anything but a mapping there counts as none."""
    annotations = _metadata(doc).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _string_map(doc: LocatedDocument, key: str, path: str, errors: list[str]) -> dict[str, str]:
    raw = _metadata(doc.data).get(key) or {}
    if not isinstance(raw, dict):
        errors.append(f"{path}:{doc.line_of(('metadata', key))}: metadata.{key} must be a mapping (fix: key: value)")
        return {}
    for name, value in raw.items():
        if not isinstance(value, str):
            line = doc.line_of(("metadata", key, name))
            shown = str(value).lower() if isinstance(value, bool) else value
            errors.append(f'{path}:{line}: {key[:-1]} {name} must be a string (fix: quote it, e.g. "{shown}")')
    return {str(k): str(v) for k, v in raw.items()}


def find_sources(tree: Tree) -> tuple[CatalogSource, ...]:
    """Every catalog GitRepository outside workspaces/, sorted by namespace/name; InputError lists all problems."""
    found: list[CatalogSource] = []
    errors: list[str] = []
    label = names.CATALOG_TYPE_LABEL.encode()
    for path, data in tree.items():
        if path.startswith(_WORKSPACES_PREFIX) or not _is_yaml(path) or label not in data:
            continue
        for doc in parse_located(path, data):
            labels = _metadata(doc.data).get("labels") if _is_git_repository(doc.data) else None
            if isinstance(labels, dict) and names.CATALOG_TYPE_LABEL in labels:
                source = _source(path, doc, errors)
                if source is not None:
                    found.append(source)
    by_file_name: dict[str, CatalogSource] = {}
    for source in found:
        other = by_file_name.setdefault(source.name, source)
        if other is not source:
            errors.append(
                f"{source.path}:{source.line}: catalog source {source.key} clashes with {other.key} at "
                f"{other.path}:{other.line} (fix: give each catalog source its own name; copies are named after it)"
            )
    if errors:
        raise InputError(errors)
    return tuple(sorted(found, key=lambda s: s.key))


def _source(path: str, doc: LocatedDocument, errors: list[str]) -> CatalogSource | None:
    metadata = _metadata(doc.data)
    name = metadata.get("name")
    spec = doc.data.get("spec")
    before = len(errors)
    if not isinstance(name, str) or not name:
        errors.append(f"{path}:{doc.start_line}: GitRepository has no metadata.name (fix: name it)")
    elif name_problem(GIT_REPOSITORY, name) is not None:
        errors.append(
            f"{path}:{doc.line_of(('metadata', 'name'))}: GitRepository name '{shown(name, 64)}' is not a Kubernetes "
            "name (fix: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
        )
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        errors.append(f"{path}:{doc.line_of(('spec',))}: GitRepository {name} has no spec.url (fix: add the URL)")
    elif has_credentials(spec["url"]):
        # copies would spread the credentials to every workspace and project
        errors.append(f"{path}:{doc.line_of(('spec', 'url'))}: spec.url: {CREDENTIALS_FIX}")
    labels = _string_map(doc, "labels", path, errors)
    annotations = _string_map(doc, "annotations", path, errors)
    if len(errors) > before or not isinstance(name, str) or not isinstance(spec, dict):
        return None
    namespace = metadata.get("namespace")
    return CatalogSource(
        path=path,
        line=doc.start_line,
        api_version=str(doc.data["apiVersion"]),
        namespace=str(namespace or names.MANAGEMENT_NAMESPACE),
        name=name,
        labels=labels,
        annotations=annotations,
        spec=spec,
    )


def find_targets(tree: Tree) -> tuple[Target, ...]:
    """Every workspace and project namespace (a project only while its workspace exists), sorted by directory."""
    errors: list[str] = []
    workspaces: dict[str, tuple[str, dict[str, str]]] = {}
    projects: list[tuple[str, str, str, dict[str, str]]] = []
    for path, data in tree.items():
        if (match := _WORKSPACE_NS.match(path)) is not None:
            found = _namespace(path, data, names.WORKSPACE_NAME_LABEL, None, errors)
            if found is not None:
                workspaces[match["ws"]] = found
        elif (match := _PROJECT_NS.match(path)) is not None:
            found = _namespace(path, data, names.MANAGED_BY_KIND_LABEL, "Project", errors)
            if found is not None:
                projects.append((match["ws"], path.rsplit("/", 1)[0], *found))
    if errors:
        raise InputError(errors)
    targets = [
        Target(TargetKind.WORKSPACE, f"{names.WORKSPACES_DIR}/{ws}", namespace, labels, labels)
        for ws, (namespace, labels) in workspaces.items()
    ]
    for ws, directory, namespace, labels in projects:
        if ws in workspaces:
            targets.append(Target(TargetKind.PROJECT, directory, namespace, labels, workspaces[ws][1]))
    return tuple(sorted(targets, key=lambda t: t.directory))


def _namespace(
    path: str, data: bytes, label: str, value: str | None, errors: list[str]
) -> tuple[str, dict[str, str]] | None:
    docs = [d for d in parse_located(path, data) if isinstance(d.data, dict) and d.data.get("kind") == "Namespace"]
    if len(docs) != 1:
        errors.append(f"{path}:1: expected exactly one v1 Namespace (fix: restore the seeded namespace.yaml)")
        return None
    doc = docs[0]
    name = _metadata(doc.data).get("name")
    labels = _string_map(doc, "labels", path, errors)
    if not isinstance(name, str) or not name:
        errors.append(f"{path}:{doc.start_line}: Namespace has no metadata.name (fix: name it)")
        return None
    if label not in labels or (value is not None and labels[label] != value):
        wanted = f"{label}: {value or '<workspace>'}"
        errors.append(f"{path}:{doc.line_of(('metadata', 'labels'))}: Namespace {name} lacks `{wanted}` (fix: add it)")
        return None
    return name, labels


def find_workspace_objects(
    tree: Tree, targets: tuple[Target, ...], rendered: Mapping[str, tuple[str, bytes]]
) -> WorkspaceObjects:
    """Our copies (by path) and hand-made GitRepositories below workspaces/.

    `rendered` maps paths to (source key, bytes) of the copies we would write: a file already holding exactly
    those bytes is our unchanged copy and is not parsed, which keeps a no-change run over a big fleet cheap.
    """
    namespace_of_dir = {t.directory: t.namespace for t in targets}
    copies: dict[str, ExistingCopy] = {}
    hand_made: list[HandMade] = []
    warnings: list[str] = []
    for path, data in tree.items():
        if not path.startswith(_WORKSPACES_PREFIX) or not _is_yaml(path) or b"GitRepository" not in data:
            continue
        known = rendered.get(path)
        if known is not None and known[1] == data:
            copies[path] = ExistingCopy(path, known[0], data)
            continue
        parsed = parse_fast(path, data)
        docs = [d for d in parsed if _is_git_repository(d)]
        ours = [d for d in docs if names.PROPAGATED_FROM in _annotations(d)]
        if len(ours) == 1 and len(parsed) == 1 and _COPY_PATH.match(path):
            annotation = str(_annotations(ours[0])[names.PROPAGATED_FROM])
            copies[path] = ExistingCopy(path, annotation, data)
            continue
        if ours:
            warnings.append(f"{path}: a propagated copy outside a catalogs/ folder or beside other objects; left alone")
        for doc in docs:
            metadata = _metadata(doc)
            namespace = metadata.get("namespace") or _default_namespace(path, namespace_of_dir)
            hand_made.append(HandMade(path, str(namespace), str(metadata.get("name"))))
    return WorkspaceObjects(copies, tuple(hand_made), tuple(warnings))


def _default_namespace(path: str, namespace_of_dir: Mapping[str, str]) -> str:
    # the deepest target folder holding the file decides, as its kustomization would set the namespace
    directory = path.rsplit("/", 1)[0]
    while directory:
        if directory in namespace_of_dir:
            return namespace_of_dir[directory]
        directory = directory.rsplit("/", 1)[0] if "/" in directory else ""
    return ""
