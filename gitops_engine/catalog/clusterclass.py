"""ClusterClasses: the catalog kind beside apps (`catalog/clusterclasses/<name>/`), what a topology needs to know
of one, and whether a topology's variables fit it.

A class folder holds a kustomization file and the manifests it lists: exactly one ClusterClass named like the
folder, and the templates it refers to, all without a namespace (the seed applies one copy per namespace that has
managed clusters). Both served versions of ClusterClass are read: v1beta2 (`templateRef`, the storage version) and
the deprecated v1beta1 (`ref`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jsonschema

from gitops_engine.core.shown import one_line, shown
from gitops_engine.core.yamlio import YamlError, load_located
from gitops_engine.flux.tree import KUSTOMIZATION_FILES
from gitops_engine.model.catalog import ClassVariable, ClusterClassEntry, ClusterClassInfo

CLASSES_FOLDER = "clusterclasses"
# a class folder is named like its ClusterClass, an object name that also becomes a repository path
_CLASS_FOLDER = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
CLUSTER_API_GROUP = "cluster.x-k8s.io"
# Cluster API writes a cluster's admin kubeconfig to the Secret `<cluster>-kubeconfig`, in the Cluster's namespace
KUBECONFIG_SUFFIX = "-kubeconfig"
_MAX_MESSAGE = 200


def kubeconfig_secret(cluster: str) -> str:
    """The Secret Cluster API writes a cluster's admin kubeconfig to, in the Cluster's namespace."""
    return f"{cluster}{KUBECONFIG_SUFFIX}"


def is_cluster_class(doc: Any) -> bool:
    """True for a Cluster API ClusterClass manifest (any served version)."""
    return (
        isinstance(doc, Mapping)
        and doc.get("kind") == "ClusterClass"
        and str(doc.get("apiVersion", "")).startswith(f"{CLUSTER_API_GROUP}/")
    )


def describe(doc: Mapping[str, Any]) -> ClusterClassInfo:
    """The machine deployment classes, variables and allowed Kubernetes versions of a ClusterClass manifest;
    parts that are not the expected shape are left out (the CRD schema check reports them)."""
    metadata = _map(doc.get("metadata"))
    spec = _map(doc.get("spec"))
    workers = _map(spec.get("workers"))
    classes = tuple(
        str(md["class"]) for md in _maps(workers.get("machineDeployments")) if isinstance(md.get("class"), str)
    )
    variables = tuple(
        ClassVariable(str(v["name"]), v.get("required") is True, _map(_map(v.get("schema")).get("openAPIV3Schema")))
        for v in _maps(spec.get("variables"))
        if isinstance(v.get("name"), str)
    )
    versions = tuple(str(v) for v in spec.get("kubernetesVersions") or () if isinstance(v, str))
    return ClusterClassInfo(str(metadata.get("name", "")), classes, variables, versions)


def template_refs(doc: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Mapping[str, Any]]]:
    """(path in the manifest, reference) for every template a ClusterClass names, in either served version."""
    spec = _map(doc.get("spec"))
    control_plane = _map(spec.get("controlPlane"))
    places: list[tuple[tuple[str | int, ...], Any]] = [
        (("spec", "infrastructure"), spec.get("infrastructure")),
        (("spec", "controlPlane"), control_plane),
        (("spec", "controlPlane", "machineInfrastructure"), control_plane.get("machineInfrastructure")),
    ]
    workers = _map(spec.get("workers"))
    for kind in ("machineDeployments", "machinePools"):
        for index, item in enumerate(workers.get(kind) or ()):
            base = ("spec", "workers", kind, index)
            item = _map(item)
            template = _map(item.get("template"))  # v1beta1 keeps them one level down
            for part in ("bootstrap", "infrastructure"):
                if part in item:
                    places.append(((*base, part), item[part]))
                elif part in template:
                    places.append(((*base, "template", part), template[part]))
    for path, holder in places:
        holder = _map(holder)
        for key in ("templateRef", "ref"):
            ref = holder.get(key)
            if isinstance(ref, Mapping) and isinstance(ref.get("kind"), str) and isinstance(ref.get("name"), str):
                yield (*path, key), ref


def variable_problems(
    info: ClusterClassInfo, values: Mapping[str, Any], *, overrides: bool = False
) -> list[tuple[str | None, str]]:
    """(variable name or None, message) for every way `values` does not fit the class: an unknown name, a value
    its schema refuses, and (unless these are a machine deployment's `overrides`) a required variable without
    a value or a default."""
    declared = {v.name: v for v in info.variables}
    problems: list[tuple[str | None, str]] = []
    for name, value in values.items():
        variable = declared.get(name)
        if variable is None:
            known = ", ".join(sorted(declared)) or "none"
            problems.append((name, f"ClusterClass {info.name!r} has no variable {name!r} (it declares: {known})"))
            continue
        message = schema_problem(variable.schema, value)
        if message is not None:
            problems.append((name, f"variable {name!r} does not fit ClusterClass {info.name!r}: {message}"))
    if not overrides:
        for variable in info.variables:
            if variable.required and not variable.has_default and variable.name not in values:
                problems.append((None, f"ClusterClass {info.name!r} requires variable {variable.name!r}"))
    return problems


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` does not fit an OpenAPI v3 variable schema (a CRD-style subset, Draft 4 semantics: boolean
    exclusiveMinimum/Maximum), or None when it fits."""
    try:
        validator = jsonschema.Draft4Validator(dict(schema))
        errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    except jsonschema.SchemaError as exc:
        return f"its schema is not valid ({one_line(exc.message, _MAX_MESSAGE)})"
    if not errors:
        return None
    error = errors[0]
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{one_line(error.message, _MAX_MESSAGE)}"


def load_cluster_classes(label: str, files: Mapping[str, bytes], errors: list[str]) -> dict[str, ClusterClassEntry]:
    """The class folders below `clusterclasses/` of one catalog directory (`files` relative to it); problems are
    added to `errors` as `file:line: message`."""
    folders: dict[str, dict[str, bytes]] = {}
    prefix = f"{CLASSES_FOLDER}/"
    for path, data in files.items():
        parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
        if len(parts) >= 2 and not parts[0].startswith("."):
            folders.setdefault(parts[0], {})["/".join(parts[1:])] = data
    found: dict[str, ClusterClassEntry] = {}
    for name, folder in sorted(folders.items()):
        where = f"{label.rstrip('/')}/{CLASSES_FOLDER}/{shown(name)}"
        if not _CLASS_FOLDER.fullmatch(name):
            errors.append(
                f"{where}/{KUSTOMIZATION_FILES[0]}:1: the folder {shown(name)!r} is not a ClusterClass name "
                "(lowercase letters, digits and '-', at most 63; rename it)"
            )
            continue
        entry = _read_folder(name, folder, where, errors)
        if entry is not None:
            found[name] = entry
    return found


def _read_folder(name: str, files: Mapping[str, bytes], where: str, errors: list[str]) -> ClusterClassEntry | None:
    config = next((name for name in KUSTOMIZATION_FILES if name in files), None)
    if config is None:
        errors.append(f"{where}/{KUSTOMIZATION_FILES[0]}:1: missing; list the ClusterClass and its templates in one")
        return None
    classes: list[tuple[str, int, Mapping[str, Any]]] = []
    bad = False
    for rel, data in sorted(files.items()):
        if not rel.endswith((".yaml", ".yml")) or rel == config:
            continue
        try:
            docs = load_located(data)
        except YamlError as exc:
            errors.append(f"{where}/{rel}:{exc.line}: invalid YAML: {exc.problem}")
            bad = True
            continue
        for doc in docs:
            metadata = _map(doc.data.get("metadata")) if isinstance(doc.data, Mapping) else {}
            if "namespace" in metadata:
                line = doc.line_of(("metadata", "namespace"))
                errors.append(f"{where}/{rel}:{line}: metadata.namespace: remove it; the seed sets the namespace")
                bad = True
            if is_cluster_class(doc.data):
                classes.append((rel, doc.line_of(("metadata", "name")), doc.data))
    if len(classes) != 1:
        found = ", ".join(f"{rel}:{line}" for rel, line, _ in classes) or "none"
        errors.append(f"{where}/{config}:1: the folder must hold exactly one ClusterClass (found {found})")
        return None
    rel, line, manifest = classes[0]
    info = describe(manifest)
    if info.name != name:
        errors.append(f"{where}/{rel}:{line}: ClusterClass {info.name!r} must be named like its folder {name!r}")
        return None
    return None if bad else ClusterClassEntry(info, where, dict(files))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> Sequence[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
