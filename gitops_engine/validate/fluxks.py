"""The parts of a Flux Kustomization that discovery and the checks read, with Flux's defaults applied."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.validate.objects import FLUX_KS_GROUP, ObjectId, RenderedObject


@dataclass(frozen=True, order=True)
class Ref:
    """A reference from one object to another (`kind` may be '' where the field implies it)."""

    kind: str
    namespace: str
    name: str
    optional: bool = False


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization as discovery follows it."""

    id: ObjectId
    path: str
    source: Ref | None
    target_namespace: str
    substitute: Mapping[str, str]
    substitute_from: tuple[Ref, ...]
    depends_on: tuple[Ref, ...]
    decryption_secret: str | None
    origin: RenderedObject


def is_flux_kustomization(obj: RenderedObject) -> bool:
    """True for kustomize.toolkit.fluxcd.io Kustomization objects."""
    return obj.id.group == FLUX_KS_GROUP and obj.id.kind == "Kustomization"


def clean_path(path: str) -> str:
    """A spec.path as a repository-relative POSIX path ('' is the source root)."""
    normal = posixpath.normpath("/" + path.strip()).lstrip("/")
    return "" if normal == "." else normal


def parse_kustomization(obj: RenderedObject) -> FluxKustomization:
    """Read a Flux Kustomization, defaulting namespaces the way the controller does."""
    spec = _mapping(obj.body.get("spec"))
    namespace = obj.id.namespace
    post_build = _mapping(spec.get("postBuild"))
    source_ref = _mapping(spec.get("sourceRef"))
    decryption = _mapping(spec.get("decryption"))
    secret_ref = _mapping(decryption.get("secretRef"))
    return FluxKustomization(
        id=obj.id,
        path=clean_path(str(spec.get("path") or "")),
        source=(
            Ref(
                str(source_ref.get("kind") or ""),
                str(source_ref.get("namespace") or namespace),
                str(source_ref["name"]),
            )
            if source_ref.get("name")
            else None
        ),
        target_namespace=str(spec.get("targetNamespace") or ""),
        substitute={str(k): _flat(v) for k, v in _mapping(post_build.get("substitute")).items()},
        substitute_from=tuple(
            Ref(str(item.get("kind") or ""), namespace, str(item.get("name") or ""), bool(item.get("optional")))
            for item in _items(post_build.get("substituteFrom"))
        ),
        depends_on=tuple(
            Ref("Kustomization", str(item.get("namespace") or namespace), str(item.get("name") or ""))
            for item in _items(spec.get("dependsOn"))
        ),
        decryption_secret=str(secret_ref["name"]) if secret_ref.get("name") else None,
        origin=obj,
    )


def _flat(value: Any) -> str:
    # Flux drops newlines from every variable value before substituting.
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("\n", "")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
