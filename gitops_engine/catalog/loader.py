"""catalog/<app>/<version>/ folders → Catalog, checked: metadata complete, folder version == chart version,
the HelmRelease pins the chart the metadata names, dependencies exist and form no cycle; beside them the
ClusterClasses of `catalog/clusterclasses/<name>/` (catalog.clusterclass)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_engine.catalog.clusterclass import CLASSES_FOLDER, load_cluster_classes
from gitops_engine.core.errors import InputError
from gitops_engine.core.shown import shown
from gitops_engine.core.yamlio import LocatedDocument, YamlError, load_located
from gitops_engine.flux.tree import KUSTOMIZATION_FILES
from gitops_engine.model.catalog import AppVersion, Catalog, ChartSource, ClusterClassEntry, Scope
from gitops_engine.spec.reader import SpecReader, read_config

METADATA = "metadata.yaml"
_REQUIRED = ("displayName", "description", "category", "scope", "licensing", "chart")
_ALLOWED = (*_REQUIRED, "schema", "dependencies", "type", "overview", "icon", "certifications")


@dataclass(frozen=True)
class CatalogSource:
    """The files of one catalog directory, paths relative to it, and how to name it in messages."""

    label: str
    files: Mapping[str, bytes]


def load_catalog(sources: Sequence[CatalogSource]) -> Catalog:
    """Load every catalog directory (later ones may add apps and versions); raise InputError on any problem."""
    errors: list[str] = []
    found: dict[tuple[str, str], AppVersion] = {}
    classes: dict[str, ClusterClassEntry] = {}
    for source in sources:
        for name, found_class in load_cluster_classes(source.label, source.files, errors).items():
            if name in classes:
                errors.append(
                    f"{found_class.origin}/kustomization.yaml:1: ClusterClass {name} is already defined in "
                    f"{classes[name].origin}"
                )
                continue
            classes[name] = found_class
        for (app, version), files in sorted(_folders(source.files).items()):
            where = f"{source.label.rstrip('/')}/{shown(app)}/{shown(version)}"
            problem = _folder_problem(app, version)
            if problem is not None:
                errors.append(f"{where}/{METADATA}:1: {problem}")
                continue
            if (app, version) in found:
                errors.append(
                    f"{where}/{METADATA}:1: {app} {version} is already defined in {found[(app, version)].origin}"
                )
                continue
            entry = _read_app_version(app, version, files, where, errors)
            if entry is not None:
                found[(app, version)] = entry
    by_app: dict[str, list[AppVersion]] = {}
    for entry in found.values():
        by_app.setdefault(entry.app, []).append(entry)
    catalog = Catalog(
        {app: tuple(sorted(vs, key=lambda v: version_key(v.version))) for app, vs in sorted(by_app.items())},
        dict(sorted(classes.items())),
    )
    errors.extend(_dependency_errors(catalog))
    if errors:
        raise InputError(errors)
    return catalog


# Folder names become paths in the fleet repository (applications/<app>/<version>/) and, for the app, part of
# Kubernetes names: they are checked before either use.
_APP_FOLDER = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_VERSION_FOLDER = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}")


def _folder_problem(app: str, version: str) -> str | None:
    if not _APP_FOLDER.fullmatch(app):
        return f"the app folder {app!r} is not a name (lowercase letters, digits and '-', at most 63; rename it)"
    if not _VERSION_FOLDER.fullmatch(version):
        return f"the version folder {version!r} is not a version (letters, digits, '.', '+', '_' and '-'; rename it)"
    return None


def _folders(files: Mapping[str, bytes]) -> dict[tuple[str, str], dict[str, bytes]]:
    folders: dict[tuple[str, str], dict[str, bytes]] = {}
    for path, data in files.items():
        parts = path.split("/")
        if len(parts) < 3 or parts[0].startswith(".") or parts[0] == CLASSES_FOLDER:
            continue
        folders.setdefault((parts[0], parts[1]), {})["/".join(parts[2:])] = data
    return folders


def _read_app_version(
    app: str, version: str, files: Mapping[str, bytes], where: str, errors: list[str]
) -> AppVersion | None:
    if METADATA not in files:
        errors.append(f"{where}/{METADATA}:1: missing; every catalog version folder needs one")
        return None
    if not any(name in files for name in KUSTOMIZATION_FILES):
        errors.append(f"{where}/{KUSTOMIZATION_FILES[0]}:1: missing; list the folder's resources in one")
    r = _metadata_reader(files[METADATA], f"{where}/{METADATA}", errors)
    if r is None:
        return None
    meta = r.mapping((), r.doc.data, _ALLOWED, _REQUIRED)
    chart_raw = r.mapping(
        ("chart",), meta.get("chart") or {}, ("name", "version", "repository"), ("name", "version", "repository")
    )
    chart = ChartSource(
        chart=r.string(("chart", "name"), chart_raw.get("name")),
        version=r.string(("chart", "version"), chart_raw.get("version")),
        repository=r.url(("chart", "repository"), chart_raw.get("repository")),
    )
    if chart.version and chart.version.removeprefix("v") != version.removeprefix("v"):
        r.error(
            ("chart", "version"),
            f"chart version {chart.version} does not match the folder name {version!r}; rename one",
        )
    if chart.repository and not re.match(r"^(https?|oci)://", chart.repository):
        r.error(("chart", "repository"), "must be an https://, http:// or oci:// URL")
    scope: list[Scope] = []
    for index, item in enumerate(r.sequence(("scope",), meta.get("scope"))):
        if item == "workspace" or item == "project":
            scope.append(item)
        else:
            r.error(("scope", index), f"{item!r} is not a scope (workspace or project)")
    entry = AppVersion(
        app=app,
        version=version,
        display_name=r.string(("displayName",), meta.get("displayName")),
        description=r.string(("description",), meta.get("description")),
        category=_strings(r, "category", meta),
        scope=tuple(scope),
        dependencies=_strings(r, "dependencies", meta),
        licensing=_strings(r, "licensing", meta),
        chart=chart,
        origin=where,
        files=dict(files),
    )
    errors.extend(r.lines())
    if r.errors:
        return None
    pin_errors = _check_release_pins(entry, files, where)
    errors.extend(pin_errors)
    return None if pin_errors else entry


def _strings(r: SpecReader, key: str, meta: dict[str, Any]) -> tuple[str, ...]:
    return tuple(r.string((key, i), v) for i, v in enumerate(r.sequence((key,), meta.get(key))))


def _metadata_reader(data: bytes, label: str, errors: list[str]) -> SpecReader | None:
    """A reader over metadata.yaml, which is read like any config file (one mapping), or None (its errors noted)."""
    try:
        reader = read_config(data, label)
    except InputError as exc:
        errors.extend(exc.lines)
        return None
    if reader is None:
        errors.append(f"{label}:1: (document): the file is empty (write the app's chart, displayName and scope)")
    return reader


def _check_release_pins(entry: AppVersion, files: Mapping[str, bytes], where: str) -> list[str]:
    """The folder's HelmRelease/OCIRepository must pin the chart version and source the metadata names."""
    errors: list[str] = []
    pinned = unreadable = False
    for name, data in sorted(files.items()):
        if not name.endswith((".yaml", ".yml")) or (
            b"kind: HelmRelease" not in data and b"kind: OCIRepository" not in data
        ):
            continue
        try:
            docs = load_located(data)
        except YamlError as exc:
            errors.append(f"{where}/{name}:{exc.line}: invalid YAML: {exc.problem}")
            unreadable = True
            continue
        for doc in docs:
            problem = _pin_problem(entry, doc)
            if problem is None:
                continue
            pinned = True
            if problem:
                errors.append(f"{where}/{name}:{problem[0]}: {problem[1]}")
    if not pinned and not unreadable:  # a file that does not parse may well be the pin
        errors.append(f"{where}/{METADATA}:1: no HelmRelease pins chart {entry.chart.chart} {entry.chart.version}")
    return errors


def _pin_problem(entry: AppVersion, doc: LocatedDocument) -> tuple[int, str] | tuple[()] | None:
    """None: not a pinning document; (): pins correctly; (line, message): pins wrongly."""
    data = _mapping(doc.data)
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return None
    kind = data.get("kind")
    chart = entry.chart
    if kind == "OCIRepository" and chart.is_oci:
        tag = _mapping(spec.get("ref")).get("tag")
        if tag != chart.version:
            problem = f"ref.tag {_text(tag)} does not match chart.version {chart.version} (make them the same)"
            return doc.line_of(("spec", "ref", "tag")), problem
        return ()
    if kind != "HelmRelease" or "chart" not in spec:
        return None
    chart_spec = _mapping(_mapping(spec.get("chart")).get("spec"))
    if chart_spec.get("chart") != chart.chart:
        return ()
    if chart_spec.get("version") != chart.version:
        found = _text(chart_spec.get("version"))
        return doc.line_of(
            ("spec", "chart", "spec", "version")
        ), f"version {found} does not match chart.version {chart.version} (make them the same)"
    source = _mapping(chart_spec.get("sourceRef")).get("name")
    if not chart.is_oci and source != chart.repository_object_name:
        wanted = chart.repository_object_name
        return doc.line_of(("spec", "chart", "spec", "sourceRef", "name")), f"sourceRef.name must be {wanted!r}"
    return ()


def _mapping(value: object) -> dict[Any, Any]:
    """`value` when it is a mapping, else an empty one: a template of any shape is read without failing."""
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    """A value for a message: text as it is, anything else (a number, binary data) said to be no text."""
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else f"{value!r} (not text; write it as a quoted string)"


def _dependency_errors(catalog: Catalog) -> list[str]:
    errors: list[str] = []
    for versions in catalog.apps.values():
        for entry in versions:
            for dep in entry.dependencies:
                if dep not in catalog.apps:
                    errors.append(f"{entry.origin}/{METADATA}:1: dependency {dep!r} is not in the catalog")
    graph = {app: set(versions[-1].dependencies) & set(catalog.apps) for app, versions in catalog.apps.items()}
    cycle = find_cycle(graph)
    if cycle:
        first = catalog.apps[cycle[0]][-1]
        errors.append(
            f"{first.origin}/{METADATA}:1: dependency cycle {' -> '.join(cycle)}; remove one of these dependencies"
        )
    return errors


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle in a dependency graph as [a, b, …, a], or [] when acyclic (iterative DFS, sorted for stability)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = pending.pop(0)
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return []


def version_key(version: str) -> tuple[tuple[int, ...], int, tuple[str, ...]]:
    """Order catalog folder versions: numeric release parts, then releases after their prereleases."""
    core, _, pre = version.removeprefix("v").partition("-")
    numbers = tuple(int(p) if p.isdecimal() else 0 for p in core.split("."))  # isdigit() takes "²", int() not
    return numbers, 0 if pre else 1, tuple(pre.split("."))
