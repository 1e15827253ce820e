"""The parts of a Flux Kustomization every domain reads, with the controller's defaults applied."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gitops_engine.flux.substitute import flat_value

Origin = TypeVar("Origin")


@dataclass(frozen=True, order=True)
class Ref:
    """A reference from one object to another (`kind` may be '' where the field implies it)."""

    kind: str
    namespace: str
    name: str
    optional: bool = False


@dataclass(frozen=True)
class Kustomization(Generic[Origin]):
    """A Flux Kustomization as discovery follows it; `origin` is the caller's own record of the object."""

    namespace: str
    name: str
    path: str
    source: Ref | None
    target_namespace: str
    substitute: Mapping[str, str]
    substitute_from: tuple[Ref, ...]
    depends_on: tuple[Ref, ...]
    decryption_secret: str | None
    origin: Origin

    @property
    def has_variables(self) -> bool:
        """True when postBuild names any variable source (Flux substitutes only then)."""
        return bool(self.substitute or self.substitute_from)


def clean_path(path: str) -> str:
    """A spec.path as a source-relative POSIX path ('' is the source root); `..` cannot climb above the root."""
    normal = posixpath.normpath("/" + path.strip()).lstrip("/")
    return "" if normal == "." else normal


def parse_kustomization(body: Mapping[str, Any], origin: Origin) -> Kustomization[Origin]:
    """Read a Flux Kustomization, defaulting namespaces the way kustomize-controller does."""
    meta = _mapping(body.get("metadata"))
    namespace = str(meta.get("namespace") or "")
    spec = _mapping(body.get("spec"))
    post_build = _mapping(spec.get("postBuild"))
    source_ref = _mapping(spec.get("sourceRef"))
    secret_ref = _mapping(_mapping(spec.get("decryption")).get("secretRef"))
    return Kustomization(
        namespace=namespace,
        name=str(meta.get("name") or ""),
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
        substitute={str(k): flat_value(v) for k, v in _mapping(post_build.get("substitute")).items()},
        substitute_from=tuple(
            # substituteFrom has no namespace field: the objects live in the Kustomization's namespace
            Ref(str(item.get("kind") or ""), namespace, str(item.get("name") or ""), bool(item.get("optional")))
            for item in _items(post_build.get("substituteFrom"))
        ),
        depends_on=tuple(
            Ref("Kustomization", str(item.get("namespace") or namespace), str(item.get("name") or ""))
            for item in _items(spec.get("dependsOn"))
        ),
        decryption_secret=str(secret_ref["name"]) if secret_ref.get("name") else None,
        origin=origin,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
