"""The catalog: one entry per app version and one per ClusterClass, with their files as they will be copied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Scope = Literal["workspace", "project"]


@dataclass(frozen=True)
class ChartSource:
    """Where an app's Helm chart comes from."""

    chart: str
    version: str
    repository: str

    @property
    def is_oci(self) -> bool:
        """True for oci:// repositories (pulled through an OCIRepository)."""
        return self.repository.startswith("oci://")

    @property
    def repository_object_name(self) -> str:
        """Name of the shared HelmRepository object, derived from the host and path as Kommander did."""
        return helm_repository_name(self.repository)


def helm_repository_name(url: str) -> str:
    """`https://charts.jetstack.io` → `charts.jetstack.io`; path segments and a port joined with '-' (an object
    name may not hold ':' or '/')."""
    bare = url.split("://", 1)[-1].strip("/")
    return bare.replace("/", "-").replace("_", "-").replace(":", "-").lower()


@dataclass(frozen=True)
class AppVersion:
    """`catalog/<app>/<version>/`: metadata plus the files copied to `applications/<app>/<version>/`."""

    app: str
    version: str
    display_name: str
    description: str
    category: tuple[str, ...]
    scope: tuple[Scope, ...]
    dependencies: tuple[str, ...]
    licensing: tuple[str, ...]
    chart: ChartSource
    origin: str
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Catalog:
    """All app versions the engine can deploy, newest version last per app."""

    apps: Mapping[str, tuple[AppVersion, ...]] = field(default_factory=lambda: MappingProxyType({}))
    cluster_classes: Mapping[str, ClusterClassEntry] = field(default_factory=lambda: MappingProxyType({}))

    def versions(self, app: str) -> tuple[AppVersion, ...]:
        """Known versions of `app`, oldest first (empty when unknown)."""
        return self.apps.get(app, ())

    def get(self, app: str, version: str | None) -> AppVersion | None:
        """A specific version, or the catalog default (the newest) when `version` is None."""
        versions = self.versions(app)
        if not versions:
            return None
        if version is None:
            return versions[-1]
        return next((v for v in versions if v.version == version), None)


@dataclass(frozen=True)
class ClassVariable:
    """A variable a ClusterClass declares: its name, whether a Cluster must set it, and its OpenAPI v3 schema."""

    name: str
    required: bool
    schema: Mapping[str, Any]

    @property
    def has_default(self) -> bool:
        """True when Cluster API fills the variable in from the schema's default."""
        return "default" in self.schema


@dataclass(frozen=True)
class ClusterClassInfo:
    """What a topology needs to know of a ClusterClass: its machine deployment classes, its variables, and the
    Kubernetes versions it allows (empty: any)."""

    name: str
    machine_deployment_classes: tuple[str, ...] = ()
    variables: tuple[ClassVariable, ...] = ()
    kubernetes_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterClassEntry:
    """`catalog/clusterclasses/<name>/`: a ClusterClass with its templates, copied to `cluster-api/classes/<name>/`."""

    info: ClusterClassInfo
    origin: str
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
