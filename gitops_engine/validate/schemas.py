"""Schema checks: Flux and Cluster API kinds against their bundled CRDs, core kinds against Kubernetes' own schemas.

Flux and Cluster API CRD schemas are closed (`additionalProperties: false`) wherever they do not say
`x-kubernetes-preserve-unknown-fields`, so a misspelt field is an error as it is with `kubectl apply
--validate=strict`. Core kinds use the strict JSON schemas shipped in the `kubernetes-validate` package,
loaded once per run instead of once per object.

Fleets repeat themselves: the same HelmRepository or ConfigMap is applied in hundreds of namespaces. The
schemas only ask metadata.name and metadata.namespace to be strings, so a body is validated once per
distinct content with those two left out, and the result is reused for every object that matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

from gitops_engine.core.yamlio import load
from gitops_engine.flux.kinds import FLUX_GROUPS, HELM_GROUP, IMAGE_GROUP, KUSTOMIZE_GROUP, SOURCE_GROUP
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.objects import RenderedObject

# Versions current Flux no longer serves or has deprecated, and what replaced them.
DEPRECATED = {
    HELM_GROUP: {"v2beta1": "v2", "v2beta2": "v2"},
    IMAGE_GROUP: {"v1beta1": "v1", "v1beta2": "v1"},
    KUSTOMIZE_GROUP: {"v1beta1": "v1", "v1beta2": "v1"},
    SOURCE_GROUP: {"v1beta1": "v1", "v1beta2": "v1"},
}
_MAX_ERRORS_PER_OBJECT = 10
# Cluster API's groups (core, kubeadm control plane and bootstrap, addons, and the dev test provider's
# infrastructure kinds); other providers' kinds in infrastructure.cluster.x-k8s.io have no CRD here and pass
CLUSTER_API_GROUPS = frozenset(
    {
        "cluster.x-k8s.io",
        "controlplane.cluster.x-k8s.io",
        "bootstrap.cluster.x-k8s.io",
        "addons.cluster.x-k8s.io",
        "infrastructure.cluster.x-k8s.io",
    }
)


# (path inside the object, rule, message without the object's name, hint)
Problem = tuple[tuple[str | int, ...], str, str, str]


class SchemaChecker:
    """Checks objects against their schemas for one run, validating each distinct body once."""

    def __init__(self, kubernetes_version: str | None = None) -> None:
        self.kubernetes_version = kubernetes_version
        self._seen: dict[tuple[int, str], tuple[Problem, ...]] = {}

    def __call__(self, obj: RenderedObject) -> list[Finding]:
        """Findings for `obj` against its schema; objects of kinds we have no schema for pass unchecked."""
        group, _, version = obj.api_version.rpartition("/")
        if group in FLUX_GROUPS:
            return _check_flux(obj, group, version, self._problems)
        if group in CLUSTER_API_GROUPS:
            return _check_cluster_api(obj, group, version, self._problems)
        if _is_core_group(group):
            validator = _core_validator(self.kubernetes_version, obj)
            if validator is not None:
                what = f"{obj.api_version} {obj.id.kind} (Kubernetes schema)"
                return _findings(obj, self._problems(obj, validator, what))
        return []

    def _problems(
        self, obj: RenderedObject, validator: jsonschema.protocols.Validator, what: str
    ) -> tuple[Problem, ...]:
        # the blanked body is what gets validated, so a cached message never names another object
        body = _anonymous(_validated_body(obj))
        key = (id(validator), repr(body))
        problems = self._seen.get(key)
        if problems is None:
            problems = self._seen[key] = tuple(_schema_problems(body, validator, what))
        return problems


def _check_flux(
    obj: RenderedObject,
    group: str,
    version: str,
    problems: Callable[[RenderedObject, jsonschema.protocols.Validator, str], tuple[Problem, ...]],
) -> list[Finding]:
    replacement = DEPRECATED.get(group, {}).get(version)
    if replacement is not None:
        return [
            Finding(
                obj.file,
                obj.line_of(("apiVersion",)),
                "flux-deprecated-api",
                f"{obj.id}: {obj.api_version} is deprecated or no longer served by current Flux; it was replaced by "
                f"{group}/{replacement}",
                f"change apiVersion to {group}/{replacement} (see the Flux upgrade notes for renamed fields)",
                Severity.WARNING,
            )
        ]
    served = _flux_schemas().get((group, obj.id.kind.lower()))
    if served is None:
        return []
    schema = served.get(version)
    if schema is None:
        return [
            Finding(
                obj.file,
                obj.line_of(("apiVersion",)),
                "flux-unknown-api",
                f"{obj.id}: {obj.api_version} is not a version of {obj.id.kind}",
                f"use {group}/{next(iter(served))}",
            )
        ]
    what = f"{obj.api_version} {obj.id.kind}"
    return _findings(obj, problems(obj, _validator(group, obj.id.kind, version), what))


def _check_cluster_api(
    obj: RenderedObject,
    group: str,
    version: str,
    problems: Callable[[RenderedObject, jsonschema.protocols.Validator, str], tuple[Problem, ...]],
) -> list[Finding]:
    """`obj` against the bundled Cluster API CRD of its kind (closed schema); a kind without one passes. A served
    version the CRD marks deprecated (v1beta1) is checked too, with a warning."""
    served = _cluster_api_schemas().get((group, obj.id.kind))
    if served is None:
        return []
    if version not in served:
        return [
            Finding(
                obj.file,
                obj.line_of(("apiVersion",)),
                "capi-unknown-api",
                f"{obj.id}: {obj.api_version} is not a version of {obj.id.kind}",
                f"use {group}/{next(iter(served))}",
            )
        ]
    what = f"{obj.api_version} {obj.id.kind}"
    findings = _findings(obj, problems(obj, _cluster_api_validator(group, obj.id.kind, version), what))
    storage = _cluster_api_deprecated().get((group, obj.id.kind, version))
    if storage is not None:
        findings.append(
            Finding(
                obj.file,
                obj.line_of(("apiVersion",)),
                "capi-deprecated-api",
                f"{obj.id}: {obj.api_version} is deprecated in Cluster API (still served, converted on the way in)",
                f"write {group}/{storage}, the storage version (its field names differ: see Cluster API's v1beta2 "
                "migration notes)",
                Severity.WARNING,
            )
        )
    return findings


def _findings(obj: RenderedObject, problems: tuple[Problem, ...]) -> list[Finding]:
    return [
        Finding(obj.file, obj.line_of(path), rule, f"{obj.id}: {message}", hint)
        for path, rule, message, hint in problems
    ]


def _validated_body(obj: RenderedObject) -> Mapping[str, Any]:
    # kustomize-controller decrypts and drops the `sops` block before applying, so it is not part of the object
    body = obj.body
    return {k: v for k, v in body.items() if k != "sops"} if isinstance(body.get("sops"), dict) else body


def _anonymous(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` with a string metadata.name/namespace blanked: the schemas check nothing else about them."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping) or not any(isinstance(meta.get(k), str) for k in ("name", "namespace")):
        return body
    blank = {k: ("" if k in ("name", "namespace") and isinstance(v, str) else v) for k, v in meta.items()}
    return {**body, "metadata": blank}


def _schema_problems(
    body: Mapping[str, Any], validator: jsonschema.protocols.Validator, what: str
) -> Iterator[Problem]:
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors[:_MAX_ERRORS_PER_OBJECT]:
        yield from _describe(error, what)


def _describe(error: jsonschema.ValidationError, what: str) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    dotted = ".".join(str(p) for p in path)
    where = dotted or "the object"
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(schema.get("properties") or {})
        for extra in sorted(str(k) for k in error.instance if k not in allowed):
            field = f"{dotted}.{extra}" if dotted else extra
            hint = f"remove it or fix its spelling; {where} allows: {', '.join(sorted(allowed)) or 'nothing'}"
            yield (*path, extra), "schema-unknown-field", f"unknown field {field} in {what}", hint
        return
    if error.validator == "enum":
        options = ", ".join(str(v) for v in schema.get("enum") or ())
        yield path, "schema-enum", f"{where}: {error.instance!r} is not allowed", f"use one of: {options}"
        return
    if error.validator == "required":
        yield path, "schema-required", f"{where}: {error.message}", "add the missing field"
        return
    if error.validator == "type":
        yield path, "schema-type", f"{where}: {error.message}", f"write a value of type {error.validator_value}"
        return
    yield path, "schema-invalid", f"{where}: {error.message}", f"see the {what} schema"


@cache
def _flux_schemas() -> dict[tuple[str, str], dict[str, Mapping[str, Any]]]:
    """(group, lower-case kind) → served version → closed schema, from the schemas bundled in gitops_engine/data:
    CRDs (`*.yaml`), and JSON schemas Flux extracted from its CRDs (`<group>_<kind>_<version>.json`)."""
    folder = resources.files("gitops_engine").joinpath("data", "flux-schemas")
    found: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            group, kind, version = entry.name.removesuffix(".json").rsplit("_", 2)
            found.setdefault((group, kind), {})[version] = _closed(json.loads(entry.read_text()))
            continue
        if not entry.name.endswith(".yaml"):
            continue
        for crd in load(entry.read_bytes()):
            spec = crd["spec"]
            versions = found.setdefault((spec["group"], spec["names"]["kind"].lower()), {})
            for version in spec["versions"]:
                if version.get("served"):
                    versions[version["name"]] = _closed(version["schema"]["openAPIV3Schema"])
    return found


@cache
def _validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    schema = _flux_schemas()[(group, kind.lower())][version]
    return jsonschema.Draft7Validator(schema)


def _closed(schema: Any) -> Any:
    """A copy of an OpenAPI schema that rejects fields it does not declare."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result = {key: _closed(value) for key, value in schema.items() if key != "properties"}
    if "properties" in schema:
        result["properties"] = {name: _closed(value) for name, value in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            result["additionalProperties"] = False
    return result


@cache
def _cluster_api_crds() -> tuple[Mapping[str, Any], ...]:
    """The Cluster API CRDs bundled in gitops_engine/data, read once per run (and only when an object needs them)."""
    folder = resources.files("gitops_engine").joinpath("data", "cluster-api-schemas")
    crds: list[Mapping[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            crds.extend(load(entry.read_bytes()))
    return tuple(crds)


@cache
def _cluster_api_schemas() -> dict[tuple[str, str], dict[str, Mapping[str, Any]]]:
    """(group, kind) → served version → closed schema, the storage version first."""
    found: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for crd in _cluster_api_crds():
        spec = crd["spec"]
        versions = found.setdefault((spec["group"], spec["names"]["kind"]), {})
        for version in sorted((v for v in spec["versions"] if v.get("served")), key=lambda v: not v.get("storage")):
            versions[version["name"]] = _closed(version["schema"]["openAPIV3Schema"])
    return found


@cache
def _cluster_api_deprecated() -> dict[tuple[str, str, str], str]:
    """(group, kind, version) → the storage version, for every served version a CRD marks deprecated."""
    found: dict[tuple[str, str, str], str] = {}
    for crd in _cluster_api_crds():
        spec = crd["spec"]
        storage = next((v["name"] for v in spec["versions"] if v.get("storage")), "")
        for version in spec["versions"]:
            if version.get("served") and version.get("deprecated"):
                found[(spec["group"], spec["names"]["kind"], version["name"])] = storage
    return found


@cache
def _cluster_api_validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft7Validator(_cluster_api_schemas()[(group, kind)][version])


def _is_core_group(group: str) -> bool:
    # Built-in groups have no dot (apps, batch) or end in .k8s.io; anything else is a CRD we cannot check.
    return "." not in group or group.endswith(".k8s.io")


_GROUP_SUFFIX = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


def _core_validator(version: str | None, obj: RenderedObject) -> jsonschema.protocols.Validator | None:
    mangled = _GROUP_SUFFIX.sub(r"\1-", obj.api_version)
    filename = f"{obj.id.kind.lower()}-{mangled}.json"
    return _core_validator_for(_core_dir(version), filename)


def _core_dir(version: str | None) -> str:
    """The strict schema folder for `version` (the newest the package has when None)."""
    if version is None:
        return f"v{_core_versions()[-1][1]}-local-strict"
    wanted = tuple(int(p) for p in version.lstrip("v").split(".")[:2])
    available = [v for v in _core_versions() if v[0] <= wanted]
    chosen = available[-1][1] if available else _core_versions()[0][1]
    return f"v{chosen}-local-strict"


@cache
def _core_versions() -> list[tuple[tuple[int, ...], str]]:
    folder = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    versions = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith("-local-strict"):
            number = name[1 : -len("-local-strict")]
            versions.append((tuple(int(p) for p in number.split(".")[:2]), number))
    return sorted(versions)


@cache
def _core_validator_for(directory: str, filename: str) -> jsonschema.protocols.Validator | None:
    folder = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", directory)
    entry = folder.joinpath(filename)
    if not entry.is_file():
        return None
    schema = json.loads(entry.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_core_registry(directory))


@cache
def _core_registry(directory: str) -> Registry[Any]:
    folder = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", directory)
    definitions = Resource.from_contents(json.loads(folder.joinpath("_definitions.json").read_text()))
    return definitions @ Registry()


class CrdSchemas:
    """Custom resources checked against CRDs seen in the run: the repository's, and those charts ship or render.

    CRD schemas are taken as written (not closed): Kubernetes prunes unknown fields of most custom resources
    instead of refusing them, so only types, enums, required fields and the like are errors.
    """

    def __init__(self, crds: Iterable[Mapping[str, Any]]) -> None:
        self._schemas: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        self._validators: dict[tuple[str, str, str], jsonschema.protocols.Validator] = {}
        for crd in crds:
            # a CRD of any shape may come from the repository or a chart: what is not a schema is left out
            spec = _mapping(crd.get("spec"))
            group, kind = str(spec.get("group") or ""), str(_mapping(spec.get("names")).get("kind") or "")
            versions = spec.get("versions")
            for version in versions if isinstance(versions, list) else ():
                version = _mapping(version)
                schema = _mapping(version.get("schema")).get("openAPIV3Schema")
                if isinstance(schema, Mapping) and group and kind:
                    self._schemas[(group, str(version.get("name")), kind)] = schema

    def __call__(self, obj: RenderedObject) -> list[Finding]:
        """Findings for `obj` against its CRD; kinds without a CRD here pass unchecked."""
        group, _, version = obj.api_version.rpartition("/")
        key = (group, version, obj.id.kind)
        if key not in self._schemas:
            return []
        validator = self._validators.get(key)
        if validator is None:
            schema = _from_openapi(self._schemas[key])
            validator = self._validators[key] = jsonschema.Draft7Validator(schema)
        what = f"{obj.api_version} {obj.id.kind} (its CustomResourceDefinition)"
        return _findings(obj, tuple(_schema_problems(_anonymous(obj.body), validator, what)))


def _from_openapi(schema: Any) -> Any:
    """An openAPIV3Schema as JSON Schema: `nullable` admits null, int-or-string fields take either."""
    if isinstance(schema, list):
        return [_from_openapi(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    converted = {key: _from_openapi(value) for key, value in schema.items() if not key.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") is True and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    if "properties" in schema and isinstance(schema["properties"], Mapping):
        # property names are data, not keywords: a field called `nullable` stays a field
        converted["properties"] = {name: _from_openapi(value) for name, value in schema["properties"].items()}
    return converted


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
