"""The platform spec as frozen values: what the user asked for, already validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from gitops_engine.model.selector import SELECT_ALL, LabelSelector

Role = Literal["management", "workload"]
IssuerKind = Literal["selfsigned", "acme"]


def _frozen_map() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ValueSource:
    """Where a secret value comes from: an environment variable or a file, never the spec itself."""

    kind: Literal["env", "file"]
    ref: str
    line: int


@dataclass(frozen=True)
class SecretSpec:
    """A Secret the seed encrypts into the repository for the clusters of a workspace or project."""

    name: str
    workspace: str
    project: str | None
    cluster_selector: LabelSelector
    data: Mapping[str, ValueSource]
    line: int


@dataclass(frozen=True)
class GiteaSpec:
    """A Gitea server holding the repository; tokens are named by variable or file, never written here."""

    url: str
    owner: str
    repository: str
    raw: Mapping[str, Any]
    line: int


@dataclass(frozen=True)
class GitTarget:
    """Where the fleet repository lives and the URL clusters pull it from."""

    repository: str = "./fleet.git"
    branch: str = "main"
    clone_url: str = ""
    secret_name: str = ""
    interval: str = "1m"
    credentials: Mapping[str, ValueSource] = field(default_factory=lambda: MappingProxyType({}))
    gitea: GiteaSpec | None = None
    mode: Literal["push", "pr", "agit"] = "push"


@dataclass(frozen=True)
class Workspace:
    """A tenant: a namespace on every attached cluster, with labels."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=_frozen_map)


@dataclass(frozen=True)
class MachineDeploymentTopology:
    """One pool of worker machines of a managed cluster: a machine deployment class of its ClusterClass."""

    name: str
    machine_class: str
    replicas: int | None = None  # None: something else (an autoscaler) owns the count
    failure_domain: str | None = None
    variables: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ClusterTopology:
    """How the management cluster creates a workload cluster with Cluster API: the ClusterClass it is made from
    (the provider lives there), the control plane's size, the worker pools and the class's variables."""

    cluster_class: str
    control_plane_replicas: int | None = None
    machine_deployments: tuple[MachineDeploymentTopology, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Cluster:
    """A Kubernetes cluster driven from this repository: attached (created elsewhere) or, with a `topology`,
    managed (created and upgraded by the management cluster through Cluster API)."""

    name: str
    role: Role
    workspace: str
    labels: Mapping[str, str] = field(default_factory=_frozen_map)
    # the Kubernetes version the cluster runs (e.g. 1.29.4); the bot proposes no chart whose kubeVersion excludes it
    kubernetes_version: str | None = None
    topology: ClusterTopology | None = None

    @property
    def managed(self) -> bool:
        """True when the management cluster creates this cluster (Cluster API), False when it is attached."""
        return self.topology is not None

    def selector_labels(self) -> Mapping[str, str]:
        """Labels selectors see: the cluster's own plus its name, as Kommander labels KommanderClusters."""
        return {**self.labels, "kommander.d2iq.io/cluster-name": self.name}


@dataclass(frozen=True)
class Project:
    """A namespace inside a workspace, placed on the workspace's clusters its selector matches."""

    name: str
    workspace: str
    namespace: str
    cluster_selector: LabelSelector = SELECT_ALL
    labels: Mapping[str, str] = field(default_factory=_frozen_map)


@dataclass(frozen=True)
class ClusterOverride:
    """Values merged over an app's overrides on the clusters the selector matches."""

    cluster_selector: LabelSelector
    values: Mapping[str, Any]


@dataclass(frozen=True)
class AppDeployment:
    """An app enabled in a workspace or a project (Kommander's AppDeployment)."""

    app: str
    version: str | None
    workspace: str
    project: str | None = None
    cluster_selector: LabelSelector = SELECT_ALL
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cluster_overrides: tuple[ClusterOverride, ...] = ()

    @property
    def scope(self) -> Literal["workspace", "project"]:
        """Whether this deployment lives in a workspace or a project."""
        return "project" if self.project else "workspace"


@dataclass(frozen=True)
class CatalogRepository:
    """A catalog GitRepository the catalog loader commits (Kommander's catalog.repositories[])."""

    name: str
    url: str
    ref: Mapping[str, str]
    labels: Mapping[str, str] = field(default_factory=_frozen_map)
    interval: str = "1h"


@dataclass(frozen=True)
class Ingress:
    """Ingress certificate issuer: self-signed (kommander-ca) or ACME."""

    issuer: IssuerKind = "selfsigned"
    acme_email: str = ""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    domain: str = ""


ReconcilerRunner = Literal["cronjob", "workflow"]
DEFAULT_RECONCILER_RESOURCES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "requests": MappingProxyType({"cpu": "100m", "memory": "256Mi"}),
        "limits": MappingProxyType({"cpu": "1", "memory": "1Gi"}),
    }
)


@dataclass(frozen=True)
class Reconciler:
    """`gitops-engine reconcile` on a schedule: a CronJob on the management cluster, or the fleet repository's
    scheduled workflow.

    `repository` is what a pass reconciles (default: the URL Flux clones); `repositories` and `shards` spread the
    passes over many fleet repositories, one shard per index of a Kubernetes Indexed Job.
    """

    schedule: str
    image: str
    repository: str
    runner: ReconcilerRunner = "cronjob"
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_RECONCILER_RESOURCES)
    gitea_token_secret: str = ""  # a Secret in kommander-flux holding the Gitea token under `token`
    gitea_token: ValueSource | None = None  # where seed reads the token it encrypts into that Secret
    repositories: tuple[str, ...] = ()
    shards: int = 1


@dataclass(frozen=True)
class Platform:
    """Everything `seed` needs to know, validated."""

    name: str
    git: GitTarget
    workspaces: tuple[Workspace, ...]
    clusters: tuple[Cluster, ...]
    projects: tuple[Project, ...] = ()
    apps: tuple[AppDeployment, ...] = ()
    catalog_paths: tuple[str, ...] = ()
    catalog_repositories: tuple[CatalogRepository, ...] = ()
    variables: Mapping[str, str] = field(default_factory=_frozen_map)
    ingress: Ingress = Ingress()
    age_recipients: tuple[str, ...] = ()
    airgapped: bool = False
    secrets: tuple[SecretSpec, ...] = ()
    reconciler: Reconciler | None = None

    def workspace(self, name: str) -> Workspace:
        """The workspace called `name` (the spec loader guarantees it exists)."""
        return next(w for w in self.workspaces if w.name == name)

    def project(self, name: str) -> Project:
        """The project called `name`."""
        return next(p for p in self.projects if p.name == name)
