"""A HelmRelease as helm-controller reads it: release name and namespaces, chart source, values inputs, CRD policy.

The rules follow helm-controller v1.4 (`GetReleaseName`, `release.ShortenName`, `crdPolicyOrDefault`): a release
name longer than 53 characters becomes its first 40, a dash and 12 hex digits of its sha256; an empty CRD policy
means `Create` for install and upgrade alike (the API docs say upgrade skips, the code does not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_MAX_RELEASE_NAME = 53


class CrdPolicy(StrEnum):
    """What happens to the chart's `crds/` folder on install or upgrade."""

    SKIP = "Skip"
    CREATE = "Create"
    CREATE_REPLACE = "CreateReplace"


@dataclass(frozen=True)
class ValuesRef:
    """One `spec.valuesFrom` entry."""

    kind: str
    name: str
    values_key: str = "values.yaml"
    target_path: str = ""
    optional: bool = False


@dataclass(frozen=True)
class ChartRef:
    """Where the chart comes from.

    `source_kind` is HelmRepository, GitRepository or Bucket for `spec.chart` (with `chart` a name or a path), or
    OCIRepository, HelmChart or ExternalArtifact for `spec.chartRef` (`chart` empty).
    """

    source_kind: str
    source_name: str
    source_namespace: str
    chart: str = ""
    version: str = ""
    values_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseSpec:
    """Everything rendering needs from one HelmRelease body."""

    name: str
    namespace: str
    release_name: str
    release_namespace: str
    storage_namespace: str
    chart: ChartRef | None
    values_from: tuple[ValuesRef, ...]
    values: Mapping[str, Any]
    install_crds: CrdPolicy
    upgrade_crds: CrdPolicy
    disable_schema_validation: bool
    has_post_renderers: bool
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]


class ReleaseSpecError(ValueError):
    """The HelmRelease cannot be read for rendering; the message says which field and why."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def shorten_release_name(name: str) -> str:
    """helm-controller's `ShortenName`: names over 53 characters keep 40 and gain a hash suffix."""
    if len(name) <= _MAX_RELEASE_NAME:
        return name
    return f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def release_spec(body: Mapping[str, Any]) -> ReleaseSpec:
    """Read a HelmRelease (v2) body; raise ReleaseSpecError for what helm-controller would refuse."""
    meta = _map(body.get("metadata"))
    spec = _map(body.get("spec"))
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "default")
    target = _text(spec.get("targetNamespace"))
    release_name = _text(spec.get("releaseName")) or (f"{target}-{name}" if target else name)
    values = spec.get("values")
    return ReleaseSpec(
        name=name,
        namespace=namespace,
        release_name=shorten_release_name(release_name),
        release_namespace=target or namespace,
        storage_namespace=_text(spec.get("storageNamespace")) or namespace,
        chart=_chart_ref(spec, namespace),
        values_from=tuple(_values_ref(item, i) for i, item in enumerate(_list(spec.get("valuesFrom")))),
        # helm-controller ignores a `values` that is not a map (GetValues)
        values=values if isinstance(values, Mapping) else {},
        install_crds=_policy(spec, "install"),
        upgrade_crds=_policy(spec, "upgrade"),
        disable_schema_validation=bool(_map(spec.get("install")).get("disableSchemaValidation"))
        or bool(_map(spec.get("upgrade")).get("disableSchemaValidation")),
        has_post_renderers=bool(_list(spec.get("postRenderers"))),
        common_labels=_strings(_map(spec.get("commonMetadata")).get("labels")),
        common_annotations=_strings(_map(spec.get("commonMetadata")).get("annotations")),
    )


def _chart_ref(spec: Mapping[str, Any], namespace: str) -> ChartRef | None:
    chart_ref = _map(spec.get("chartRef"))
    if chart_ref:
        kind, source = str(chart_ref.get("kind") or ""), str(chart_ref.get("name") or "")
        if not kind or not source:
            raise ReleaseSpecError("spec.chartRef needs kind and name", ("spec", "chartRef"))
        return ChartRef(kind, source, str(chart_ref.get("namespace") or namespace))
    template = _map(_map(spec.get("chart")).get("spec"))
    if not template:
        return None
    source_ref = _map(template.get("sourceRef"))
    chart = str(template.get("chart") or "")
    if not chart or not source_ref.get("name"):
        raise ReleaseSpecError("spec.chart.spec needs chart and sourceRef.name", ("spec", "chart", "spec"))
    return ChartRef(
        str(source_ref.get("kind") or "HelmRepository"),
        str(source_ref["name"]),
        str(source_ref.get("namespace") or namespace),
        chart,
        _text(template.get("version")) or "*",
        tuple(str(item) for item in _list(template.get("valuesFiles"))),
    )


def _values_ref(item: Any, position: int) -> ValuesRef:
    entry = _map(item)
    kind, name = str(entry.get("kind") or ""), str(entry.get("name") or "")
    if kind not in ("ConfigMap", "Secret") or not name:
        raise ReleaseSpecError(
            f"spec.valuesFrom[{position}] needs kind ConfigMap or Secret and a name", ("spec", "valuesFrom", position)
        )
    return ValuesRef(
        kind,
        name,
        _text(entry.get("valuesKey")) or "values.yaml",
        _text(entry.get("targetPath")),
        entry.get("optional") is True,
    )


def _policy(spec: Mapping[str, Any], action: str) -> CrdPolicy:
    value = _text(_map(spec.get(action)).get("crds"))
    try:
        return CrdPolicy(value) if value else CrdPolicy.CREATE
    except ValueError:
        raise ReleaseSpecError(
            f"spec.{action}.crds is {value!r}; use Skip, Create or CreateReplace", ("spec", action, "crds")
        ) from None


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, Mapping | list) else str(value)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> Mapping[str, str]:
    return {str(k): str(v) for k, v in _map(value).items()}
