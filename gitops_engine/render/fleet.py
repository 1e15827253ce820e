"""render(inputs) → the whole fleet repository as a Tree. Pure: no I/O, no clock, no randomness."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from gitops_engine.core.hashing import git_blob_ids, sha256_hex
from gitops_engine.core.yamlio import emit, emit_documents
from gitops_engine.model.catalog import AppVersion, Catalog, helm_repository_name
from gitops_engine.model.platform import Cluster, Platform
from gitops_engine.model.state import HEADER, STATE_PATH, AppRecord, State, encode
from gitops_engine.model.tree import Tree
from gitops_engine.render import objects as o
from gitops_engine.render.clusterapi import CLASSES_DIR, classes_used, cluster_api_documents, management_resources
from gitops_engine.render.placement import Placement, place_apps
from gitops_engine.render.reconciler import reconciler_documents, runs_in_cluster
from gitops_engine.render.workflows import workflow_files

PRIORITY_CLASSES = (("dkp-critical-priority", 100002000), ("dkp-high-priority", 100001000))
PROJECT_LABEL = "kommander.d2iq.io/project-name"
MANAGED_BY_KIND = "kommander.d2iq.io/managed-by-kind"


@dataclass(frozen=True)
class RenderInputs:
    """Everything render needs; digests identify the spec and catalog for provenance."""

    platform: Platform
    catalog: Catalog
    engine_version: str
    spec_digest: str
    catalog_digest: str
    age_recipients: tuple[str, ...] = ()
    # path → plaintext Secret manifest to encrypt, or None to keep the encrypted file already there
    secrets: Mapping[str, bytes | None] = field(default_factory=dict)
    # the version of record of every deployment (render/versions): the render's own choice, so not an input
    # the digest covers, kept in the state file for the next seed and the bot
    records: Mapping[str, AppRecord] = field(default_factory=dict)
    # the engine's repository template (path → bytes): the workflows seeded into the fleet repository
    templates: Mapping[str, bytes] = field(default_factory=dict)
    # the same for the Kubernetes version of every managed cluster (render/versions.choose_kubernetes)
    cluster_records: Mapping[str, AppRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """The rendered files (no provenance file yet) and the Secrets the app layer must encrypt into them."""

    tree: Tree
    secrets: Mapping[str, bytes | None]


def render(inputs: RenderInputs, placements: Mapping[str, list[Placement]] | None = None) -> Rendered:
    """Render the fleet repository following the installer flow (finish() adds the provenance file).

    `placements` may be passed when the caller already computed them with place_apps for these inputs.
    """
    platform = inputs.platform
    placements = placements if placements is not None else place_apps(platform, inputs.catalog)
    files: dict[str, bytes] = {}
    files.update(_base())
    files.update(_helm_repositories(placements))
    files.update(_pki(platform))
    files.update(_applications(placements))
    files.update(_workspaces(platform))
    files.update(_catalog_repositories(platform))
    files.update({path: _yaml(*docs) for path, docs in reconciler_documents(platform).items()})
    files.update(workflow_files(platform, inputs.templates))
    files.update(_cluster_api(platform, inputs.catalog))
    for cluster in platform.clusters:
        secrets = sorted(p for p in inputs.secrets if p.startswith(f"clusters/{cluster.name}/secrets/"))
        files.update(_cluster(platform, cluster, placements[cluster.name], secrets))
    return Rendered(Tree(files), dict(inputs.secrets))


def finish(inputs: RenderInputs, files: Mapping[str, bytes]) -> Tree:
    """The final tree: `files` plus the provenance file describing exactly them."""
    return Tree({**files, STATE_PATH: _state(inputs, files)})


def _yaml(*docs: Any) -> bytes:
    return emit_documents(list(docs), header=HEADER)


def _kustomization(resources: Iterable[str]) -> bytes:
    return _kustomization_of(tuple(sorted(resources)))


@lru_cache(maxsize=4096)
def _kustomization_of(resources: tuple[str, ...]) -> bytes:
    """Shared between renders and clusters: most clusters list the same resources."""
    return _yaml(o.kustomization_file(list(resources)))


def _base() -> dict[str, bytes]:
    classes = [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": o.meta(name),
            "value": value,
            "globalDefault": False,
            "description": "Platform services managed by gitops-engine.",
        }
        for name, value in PRIORITY_CLASSES
    ]
    return {
        "common/base/kustomization.yaml": _kustomization(["namespaces.yaml", "priority-classes.yaml"]),
        "common/base/namespaces.yaml": _yaml(
            o.namespace(o.KOMMANDER_NAMESPACE, {o.MANAGED_LABEL: o.MANAGER}),
            o.namespace(o.FLUX_NAMESPACE, {o.MANAGED_LABEL: o.MANAGER}),
        ),
        "common/base/priority-classes.yaml": _yaml(*classes),
    }


def _helm_repositories(placements: Mapping[str, list[Placement]]) -> dict[str, bytes]:
    urls = {o.FLUX_CHART[2]}
    for cluster_placements in placements.values():
        urls.update(p.app.chart.repository for p in cluster_placements if not p.app.chart.is_oci)
    files = {
        f"common/helm-repositories/{helm_repository_name(url)}.yaml": _yaml(
            o.helm_repository(helm_repository_name(url), url)
        )
        for url in urls
    }
    files["common/helm-repositories/kustomization.yaml"] = _kustomization(p.rsplit("/", 1)[1] for p in files)
    return files


def _pki(platform: Platform) -> dict[str, bytes]:
    issuers: list[Any] = [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": o.meta("kommander-selfsigned"),
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": o.meta("kommander-ca", "${caNamespace}"),
            "spec": {
                "isCA": True,
                "commonName": "kommander-ca",
                "secretName": "kommander-ca",
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": "kommander-selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": o.meta("kommander-ca"),
            "spec": {"ca": {"secretName": "kommander-ca"}},
        },
    ]
    resources = ["root-ca.yaml"]
    files = {"common/pki/root-ca.yaml": _yaml(*issuers)}
    if platform.ingress.issuer == "acme":
        acme = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": o.meta("kommander-acme"),
            "spec": {
                "acme": {
                    "email": platform.ingress.acme_email,
                    "server": platform.ingress.acme_server,
                    "privateKeySecretRef": {"name": "kommander-acme-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": "traefik"}}}],
                }
            },
        }
        files["common/pki/acme-issuer.yaml"] = _yaml(acme)
        resources.append("acme-issuer.yaml")
    files["common/pki/kustomization.yaml"] = _kustomization(resources)
    return files


def _applications(placements: Mapping[str, list[Placement]]) -> dict[str, bytes]:
    apps: dict[tuple[str, str], AppVersion] = {}
    for cluster_placements in placements.values():
        for p in cluster_placements:
            apps[(p.app.app, p.app.version)] = p.app
    files: dict[str, bytes] = {}
    for (name, version), app in sorted(apps.items()):
        for rel, data in app.files.items():
            files[f"applications/{name}/{version}/{rel}"] = _stamp(rel, data, app.origin)
    return files


def _stamp(rel: str, data: bytes, origin: str) -> bytes:
    """Catalog files are copied byte for byte, below a header naming where they came from."""
    if not rel.endswith((".yaml", ".yml")):
        return data
    return f"# Managed by gitops-engine, copied from {origin}/{rel}.\n".encode() + data


def _cluster_api(platform: Platform, catalog: Catalog) -> dict[str, bytes]:
    """The managed clusters' Cluster API objects and their Flux delivery, and the ClusterClasses they use."""
    files = {path: _yaml(*docs) for path, docs in cluster_api_documents(platform).items()}
    for name in classes_used(platform):
        entry = catalog.cluster_classes[name]
        for rel, data in entry.files.items():
            files[f"{CLASSES_DIR}/{name}/{rel}"] = _stamp(rel, data, entry.origin)
    return files


def _workspaces(platform: Platform) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    empty = _kustomization([])
    for ws in platform.workspaces:
        base = f"workspaces/{ws.name}"
        labels = {**ws.labels, o.WORKSPACE_LABEL: ws.name, o.MANAGED_LABEL: o.MANAGER}
        files[f"{base}/namespace.yaml"] = _yaml(o.namespace(ws.namespace, labels))
        files[f"{base}/catalogs/kustomization.yaml"] = empty
        # Projects are not listed here: each cluster lists the projects placed on it.
        files[f"{base}/kustomization.yaml"] = _kustomization(["namespace.yaml", "catalogs"])
    for project in platform.projects:
        base = f"workspaces/{project.workspace}/projects/{project.name}"
        labels = {
            **project.labels,
            o.WORKSPACE_LABEL: project.workspace,
            PROJECT_LABEL: project.name,
            MANAGED_BY_KIND: "Project",
            o.MANAGED_LABEL: o.MANAGER,
        }
        files[f"{base}/namespace.yaml"] = _yaml(o.namespace(project.namespace, labels))
        files[f"{base}/catalogs/kustomization.yaml"] = empty
        files[f"{base}/kustomization.yaml"] = _kustomization(["namespace.yaml", "catalogs"])
    return files


def _catalog_repositories(platform: Platform) -> dict[str, bytes]:
    if not platform.catalog_repositories:
        return {}
    files: dict[str, bytes] = {}
    for repo in platform.catalog_repositories:
        obj = o.git_repository(repo.name, o.KOMMANDER_NAMESPACE, repo.url, repo.ref, repo.interval)
        obj["metadata"]["labels"] = dict(sorted(repo.labels.items()))
        files[f"common/catalog-repositories/{repo.name}.yaml"] = _yaml(obj)
    files["common/catalog-repositories/kustomization.yaml"] = _kustomization(p.rsplit("/", 1)[1] for p in files)
    return files


def _cluster(
    platform: Platform,
    cluster: Cluster,
    placements: Sequence[Placement],
    secrets: list[str],
) -> dict[str, bytes]:
    base = f"clusters/{cluster.name}"
    files: dict[str, bytes] = {}
    resources = [
        "flux-system",
        "kommander-vars.yaml",
        "apps.yaml",
        "../../common/base",
        "../../common/helm-repositories",
    ]
    resources.append(f"../../workspaces/{cluster.workspace}")
    resources.extend(
        f"../../workspaces/{p.workspace}/projects/{p.name}"
        for p in platform.projects
        if p.workspace == cluster.workspace and p.cluster_selector.matches(cluster.selector_labels())
    )
    if cluster.role == "management" and platform.catalog_repositories:
        resources.append("../../common/catalog-repositories")
    if cluster.role == "management" and runs_in_cluster(platform):
        resources.append("reconciler")
    if cluster.role == "management":
        resources.extend(management_resources(platform, cluster))
    if secrets:
        files[f"{base}/secrets/kustomization.yaml"] = _kustomization(p.rsplit("/", 1)[1] for p in secrets)
        resources.append("secrets")
    cert_manager = next((p for p in placements if p.app.app == "cert-manager"), None)
    if cert_manager is not None:
        files[f"{base}/pki.yaml"] = _pki_kustomization(cert_manager.namespace)
        resources.append("pki.yaml")
    files[f"{base}/kustomization.yaml"] = _kustomization(resources)
    files.update(_flux_system(platform, cluster, decrypt=bool(secrets)))
    files[f"{base}/kommander-vars.yaml"] = _kommander_vars(platform, cluster, placements)
    apps = o.flux_kustomization("apps-kommander", o.FLUX_NAMESPACE, f"./{base}/apps", interval="10m", wait=False)
    files[f"{base}/apps.yaml"] = _yaml(apps)
    files.update(_app_kustomizations(platform, cluster, placements))
    return files


@lru_cache(maxsize=4096)
def _pki_kustomization(namespace: str) -> bytes:
    """Shared between clusters (and renders) whose cert-manager runs in the same namespace."""
    kustomization = o.flux_kustomization(
        "kommander-pki",
        o.FLUX_NAMESPACE,
        "./common/pki",
        depends_on=[("cert-manager", namespace)],
        substitute={"caNamespace": namespace},
        substitute_from_vars=False,
    )
    return _yaml(kustomization)


def _flux_system(platform: Platform, cluster: Cluster, decrypt: bool) -> dict[str, bytes]:
    base = f"clusters/{cluster.name}/flux-system"
    git = platform.git
    extra: dict[str, Any] = {"secretRef": {"name": git.secret_name}} if git.secret_name else {}
    source = o.git_repository(
        o.SYNC_SOURCE, o.FLUX_NAMESPACE, git.clone_url, {"branch": git.branch}, git.interval, **extra
    )
    sync = o.flux_kustomization(
        o.SYNC_SOURCE,
        o.FLUX_NAMESPACE,
        f"./clusters/{cluster.name}",
        interval="10m",
        substitute={"clusterName": cluster.name},
        decrypt=decrypt,
        wait=False,
    )
    if cluster.managed:
        # the management cluster installs and upgrades Flux in a cluster it manages (render.clusterapi)
        return {
            f"{base}/kustomization.yaml": _kustomization(["gotk-sync.yaml"]),
            f"{base}/gotk-sync.yaml": _yaml(source, sync),
        }
    return {
        f"{base}/kustomization.yaml": _kustomization(["gotk-sync.yaml", "flux.yaml"]),
        f"{base}/gotk-sync.yaml": _yaml(source, sync),
        f"{base}/flux.yaml": _flux_release(),
    }


@cache
def _flux_release() -> bytes:
    """Flux's self-managing HelmRelease: the same bytes on every cluster, so emitted once."""
    return _yaml(o.flux_release("kommander-flux", o.FLUX_NAMESPACE, helm_repository_name(o.FLUX_CHART[2])))


def _kommander_vars(platform: Platform, cluster: Cluster, placements: Sequence[Placement]) -> bytes:
    namespaces = sorted({o.FLUX_NAMESPACE} | {p.namespace for p in placements})
    data = {
        "clusterName": cluster.name,
        "clusterRole": cluster.role,
        "kommanderFluxNamespace": o.FLUX_NAMESPACE,
        "ageEncryptionSecretName": o.SOPS_SECRET,
        "ageEncryptionSecretKey": o.SOPS_SECRET_KEY,
        "caSecretName": "kommander-ca",
        "certificatesIssuerName": "kommander-acme" if platform.ingress.issuer == "acme" else "kommander-ca",
        "airgappedEnabled": "true" if platform.airgapped else "false",
    }
    if platform.git.secret_name:
        data["kommanderGitCredentialsSecretName"] = platform.git.secret_name
    if platform.ingress.domain:
        data["ingressDomain"] = platform.ingress.domain
    if cluster.kubernetes_version:
        # read by the currency bot: no chart is proposed whose kubeVersion this cluster does not satisfy
        data["kubernetesVersion"] = cluster.kubernetes_version
    data.update(platform.variables)
    return _yaml(*(o.config_map(o.VARS_CONFIGMAP, ns, data, {o.MANAGED_LABEL: o.MANAGER}) for ns in namespaces))


@lru_cache(maxsize=4096)
def _app_kustomization(
    app: str, version: str, path: str, namespace: str, workspace_namespace: str, depends_on: tuple[tuple[str, str], ...]
) -> bytes:
    """The Flux Kustomization deploying one app version; every cluster of a workspace shares it."""
    kustomization = o.flux_kustomization(
        app,
        namespace,
        path,
        depends_on=depends_on,
        substitute={
            "appVersion": version,
            "releaseName": app,
            "releaseNamespace": namespace,
            "workspaceNamespace": workspace_namespace,
        },
        labels=_app_labels(app, version),
    )
    return _yaml(kustomization)


def _app_labels(app: str, version: str) -> dict[str, str]:
    return {"gitops-engine.io/app": app, "gitops-engine.io/app-version": version, o.MANAGED_LABEL: o.MANAGER}


def _app_kustomizations(platform: Platform, cluster: Cluster, placements: Sequence[Placement]) -> dict[str, bytes]:
    base = f"clusters/{cluster.name}/apps"
    files: dict[str, bytes] = {}
    folders: dict[str, list[str]] = {}
    for p in placements:
        deployment = p.deployment
        folder = deployment.workspace
        if deployment.project:
            folder = f"{platform.project(deployment.project).workspace}/{deployment.project}"
        files[f"{base}/{folder}/{p.app.app}.yaml"] = _app_kustomization(
            p.app.app, p.app.version, f"./{p.folder}", p.namespace, p.workspace_namespace, p.depends_on
        )
        entries = folders.setdefault(folder, [])
        entries.append(f"{p.app.app}.yaml")
        if p.values:
            labels = _app_labels(p.app.app, p.app.version)
            overrides = o.config_map(
                f"{p.app.app}-overrides", p.namespace, {"values.yaml": emit(dict(p.values))}, labels
            )
            files[f"{base}/{folder}/{p.app.app}-overrides.yaml"] = _yaml(overrides)
            entries.append(f"{p.app.app}-overrides.yaml")
    for folder in [f for f in folders if "/" in f]:
        parent, child = folder.split("/", 1)
        folders.setdefault(parent, []).append(child)
    for folder, entries in folders.items():
        files[f"{base}/{folder}/kustomization.yaml"] = _kustomization(entries)
    top = [f for f in folders if "/" not in f]
    files[f"{base}/kustomization.yaml"] = _kustomization(top)
    return files


def input_digest(inputs: RenderInputs) -> str:
    """One digest of everything render reads: same digest, same tree (render is pure)."""
    parts = [inputs.engine_version, inputs.spec_digest, inputs.catalog_digest, *inputs.age_recipients]
    return sha256_hex("\0".join(parts).encode())


def _state(inputs: RenderInputs, files: Mapping[str, bytes]) -> bytes:
    # git blob ids: comparable with a tree listing without reading files, and the base of a 3-way merge
    state = State(
        input_digest=input_digest(inputs),
        engine_version=inputs.engine_version,
        platform=inputs.platform.name,
        spec_digest=inputs.spec_digest,
        catalog_digest=inputs.catalog_digest,
        apps=dict(inputs.records),
        clusters=dict(inputs.cluster_records),
        files=git_blob_ids(files),
    )
    return encode(state)
