"""platform.yaml → Platform, reporting every mistake at once as `file:line: key.path: message`."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from gitops_engine.core.bech32 import checksum_ok
from gitops_engine.core.errors import InputError
from gitops_engine.core.yamlio import LocatedDocument
from gitops_engine.model.platform import (
    AppDeployment,
    CatalogRepository,
    Cluster,
    ClusterOverride,
    GiteaSpec,
    GitTarget,
    Ingress,
    Platform,
    Project,
    SecretSpec,
    ValueSource,
    Workspace,
)
from gitops_engine.spec.reader import SpecReader, read_config
from gitops_engine.spec.reconciler import read_reconciler
from gitops_engine.spec.topology import read_topology

API_VERSION = "gitops-engine.io/v1alpha1"
KIND = "Platform"
FLUX_VARIABLE = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
# what `kubectl version` shows as a server's gitVersion: v1.29.4, 1.29.4, v1.29.4-eks-036c24b, v1.29.4+k3s1
KUBERNETES_VERSION = re.compile(r"^v?\d{1,4}\.\d{1,4}\.\d{1,4}(?:[-+][0-9A-Za-z.+-]{1,64})?$")
RESERVED_NAMESPACES = ("kommander-flux", "kube-system", "default")

_TOP = (
    "apiVersion", "kind", "metadata", "git", "airgapped", "variables", "ingress", "age", "catalog",
    "workspaces", "clusters", "projects", "apps", "secrets", "reconciler",
)  # fmt: skip


@dataclass(frozen=True)
class LoadedSpec:
    """A validated platform plus the located document, for catalog checks that still need line numbers."""

    platform: Platform
    document: LocatedDocument
    filename: str


def load_platform(text: str | bytes, filename: str) -> LoadedSpec:
    """Parse and check a platform spec; raise InputError listing every problem."""
    reader = read_config(text, filename)
    if reader is None:
        raise InputError(f"{filename}:1: (document): the file is empty (write the platform, see `gitops-engine init`)")
    platform = _read_platform(reader, reader.doc.data)
    _check_references(reader, platform)
    reader.raise_errors()
    return LoadedSpec(platform, reader.doc, filename)


def _read_platform(r: SpecReader, raw: Any) -> Platform:
    top = r.mapping((), raw, _TOP, ("apiVersion", "kind", "workspaces", "clusters"))
    if top.get("apiVersion") is not None and top.get("apiVersion") != API_VERSION:
        r.error(("apiVersion",), f"must be {API_VERSION!r}")
    if top.get("kind") is not None and top.get("kind") != KIND:
        r.error(("kind",), f"must be {KIND!r}")
    meta = r.mapping(("metadata",), top.get("metadata") or {}, ("name",))
    git = _read_git(r, top.get("git") or {})
    return Platform(
        name=r.string(("metadata", "name"), meta.get("name"), dns=True, default="platform"),
        git=git,
        airgapped=r.boolean(("airgapped",), top.get("airgapped")),
        variables=_read_variables(r, top.get("variables")),
        ingress=_read_ingress(r, top.get("ingress") or {}),
        age_recipients=_read_age(r, top.get("age") or {}),
        catalog_paths=_read_catalog_paths(r, top.get("catalog") or {}),
        catalog_repositories=_read_catalog_repositories(r, top.get("catalog") or {}),
        workspaces=tuple(_read_workspaces(r, top.get("workspaces"))),
        clusters=tuple(_read_clusters(r, top.get("clusters"))),
        projects=tuple(_read_projects(r, top.get("projects"))),
        apps=tuple(_read_apps(r, top.get("apps"))),
        secrets=_read_secrets(r, top.get("secrets")),
        reconciler=read_reconciler(r, top.get("reconciler"), git, lambda path, raw: _read_source(r, path, raw)),
    )


def _read_git(r: SpecReader, raw: Any) -> GitTarget:
    allowed = ("repository", "branch", "url", "secretName", "interval", "credentials", "gitea", "mode")
    body = r.mapping(("git",), raw, allowed)
    gitea = _read_gitea(r, body.get("gitea"))
    default_repository = f"{gitea.url.rstrip('/')}/{gitea.owner}/{gitea.repository}.git" if gitea else "./fleet.git"
    repository = r.url(("git", "repository"), body.get("repository"), default=default_repository)
    is_remote = "://" in repository and not repository.startswith("file://")
    clone_url = r.url(("git", "url"), body.get("url"), default=repository if is_remote else "")
    if not clone_url:
        r.error(("git",), "missing required key 'url' (the URL Flux on every cluster clones the repository from)")
    credentials = _read_sources(r, ("git", "credentials"), body.get("credentials"))
    for key in credentials:
        if key not in ("username", "password", "bearerToken", "identity", "known_hosts"):
            r.error(("git", "credentials", key), "Flux reads username, password, bearerToken, identity, known_hosts")
    secret_name = r.string(("git", "secretName"), body.get("secretName"), dns=True)
    if credentials and not secret_name:
        r.error(("git", "credentials"), "give git.secretName too: the Secret these credentials are stored in")
    # a Gitea target proposes re-seeds as pull requests unless told otherwise
    mode = r.choice(("git", "mode"), body.get("mode"), ("push", "pr", "agit"), "pr" if gitea else "push")
    return GitTarget(
        repository=repository,
        branch=r.string(("git", "branch"), body.get("branch"), default="main"),
        clone_url=clone_url,
        secret_name=secret_name,
        interval=r.string(("git", "interval"), body.get("interval"), default="1m"),
        credentials=credentials,
        gitea=gitea,
        mode="pr" if mode == "pr" else "agit" if mode == "agit" else "push",
    )


def _read_gitea(r: SpecReader, raw: Any) -> GiteaSpec | None:
    if raw is None:
        return None
    path = ("git", "gitea")
    allowed = ("url", "owner", "repository", "tokenEnv", "tokenFile", "admin", "token")
    body = r.mapping(path, raw, allowed, ("url", "owner", "repository"))
    if "token" in body:
        r.error((*path, "token"), "never write a token in platform.yaml; use tokenEnv or tokenFile")
    return GiteaSpec(
        url=r.url((*path, "url"), body.get("url")),
        owner=r.string((*path, "owner"), body.get("owner")),
        repository=r.string((*path, "repository"), body.get("repository")),
        raw=dict(body),
        line=r.doc.line_of(path),
    )


def _read_sources(r: SpecReader, path: tuple[str | int, ...], raw: Any) -> dict[str, ValueSource]:
    """`key: {env: NAME}` or `key: {file: PATH}`; inline values are refused so no secret lives in the spec."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.error(path, "must be a mapping of key: {env: NAME} or key: {file: PATH}")
        return {}
    out: dict[str, ValueSource] = {}
    for key, value in raw.items():
        key_path = (*path, str(key))
        if not isinstance(value, dict):
            r.error(key_path, "secret values never go in platform.yaml; write {env: NAME} or {file: PATH}")
            continue
        body = r.mapping(key_path, value, ("env", "file"))
        if len(body) != 1:
            r.error(key_path, "give exactly one of env or file")
            continue
        kind, ref = next(iter(body.items()))
        text = r.string((*key_path, kind), ref)
        if text:
            out[str(key)] = ValueSource("env" if kind == "env" else "file", text, r.doc.line_of(key_path))
    return out


def _read_source(r: SpecReader, path: tuple[str | int, ...], raw: Any) -> ValueSource | None:
    """One `{env: NAME}` / `{file: PATH}` value at `path`."""
    return _read_sources(r, path[:-1], {str(path[-1]): raw}).get(str(path[-1]))


def _read_secrets(r: SpecReader, raw: Any) -> tuple[SecretSpec, ...]:
    out = []
    for index, item in r.records(("secrets",), raw):
        path = ("secrets", index)
        allowed = ("name", "workspace", "project", "clusterSelector", "data")
        body = r.mapping(path, item, allowed, ("name", "data"))
        if (body.get("workspace") in (None, "")) == (body.get("project") in (None, "")):
            r.error(path, "give exactly one of 'workspace' or 'project' (whose namespace gets the Secret)")
        out.append(
            SecretSpec(
                name=r.string((*path, "name"), body.get("name"), dns=True),
                workspace=r.string((*path, "workspace"), body.get("workspace")),
                project=r.string((*path, "project"), body.get("project")) or None,
                cluster_selector=r.selector((*path, "clusterSelector"), body.get("clusterSelector")),
                data=_read_sources(r, (*path, "data"), body.get("data")),
                line=r.doc.line_of(path),
            )
        )
    return tuple(out)


def _read_variables(r: SpecReader, raw: Any) -> dict[str, str]:
    variables = r.string_map(("variables",), raw)
    for name, value in variables.items():
        if not FLUX_VARIABLE.match(name):
            r.error(("variables", name), "not a valid Flux substitution variable name (letters, digits, '_')")
        r.url(("variables", name), value)  # variables are committed in kommander-vars
    return variables


def _read_ingress(r: SpecReader, raw: Any) -> Ingress:
    body = r.mapping(("ingress",), raw, ("issuer", "acme", "domain"))
    issuer = r.choice(("ingress", "issuer"), body.get("issuer"), ("selfsigned", "acme"), "selfsigned")
    acme = r.mapping(("ingress", "acme"), body.get("acme") or {}, ("email", "server"))
    email = r.string(("ingress", "acme", "email"), acme.get("email"))
    if issuer == "acme" and "@" not in email:
        r.error(("ingress", "acme", "email") if acme else ("ingress", "issuer"), "ACME needs acme.email (an address)")
    return Ingress(
        issuer="acme" if issuer == "acme" else "selfsigned",
        acme_email=email,
        acme_server=r.string(("ingress", "acme", "server"), acme.get("server"), default=Ingress().acme_server),
        domain=r.string(("ingress", "domain"), body.get("domain")),
    )


def _read_age(r: SpecReader, raw: Any) -> tuple[str, ...]:
    body = r.mapping(("age",), raw, ("recipients",))
    recipients = []
    for index, item in enumerate(r.sequence(("age", "recipients"), body.get("recipients"))):
        value = r.string(("age", "recipients", index), item)
        if value and not re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", value):
            r.error(("age", "recipients", index), "not an age recipient (age1… public key, 62 characters)")
        elif value and not checksum_ok(value):
            r.error(("age", "recipients", index), "the age recipient's checksum does not match (a typo? copy it again)")
        recipients.append(value)
    return tuple(recipients)


def _read_catalog_paths(r: SpecReader, raw: Any) -> tuple[str, ...]:
    body = r.mapping(("catalog",), raw, ("paths", "repositories"))
    return tuple(
        r.string(("catalog", "paths", i), p) for i, p in enumerate(r.sequence(("catalog", "paths"), body.get("paths")))
    )


def _read_catalog_repositories(r: SpecReader, raw: Any) -> tuple[CatalogRepository, ...]:
    items = r.records(("catalog", "repositories"), raw.get("repositories") if isinstance(raw, dict) else None)
    r.unique(("catalog", "repositories"), items, "name", "catalog repository")
    out = []
    for index, item in items:
        path = ("catalog", "repositories", index)
        body = r.mapping(path, item, ("name", "url", "ref", "labels", "interval"), ("name", "url", "ref"))
        ref = r.string_map((*path, "ref"), body.get("ref"))
        if (body.get("ref") is not None and len(ref) != 1) or any(
            k not in ("branch", "tag", "semver", "commit") for k in ref
        ):
            r.error((*path, "ref"), "must name exactly one of branch, tag, semver, commit")
        url = r.url((*path, "url"), body.get("url"))
        if url and not re.match(r"^(https?|ssh)://|^[\w.-]+@[\w.-]+:", url):
            r.error((*path, "url"), f"{url!r} is not a git URL Flux can clone (https://, http://, ssh://)")
        out.append(
            CatalogRepository(
                name=r.string((*path, "name"), body.get("name"), dns=True),
                url=url,
                ref=ref,
                labels=r.string_map((*path, "labels"), body.get("labels"), label_keys=True),
                interval=r.string((*path, "interval"), body.get("interval"), default="1h"),
            )
        )
    return tuple(out)


def _read_workspaces(r: SpecReader, raw: Any) -> list[Workspace]:
    items = r.records(("workspaces",), raw)
    r.unique(("workspaces",), items, "name", "workspace")
    r.unique(("workspaces",), items, "namespace", "namespace")
    out = []
    for index, item in items:
        path = ("workspaces", index)
        body = r.mapping(path, item, ("name", "namespace", "labels"), ("name",))
        name = r.string((*path, "name"), body.get("name"), dns=True)
        namespace = r.string((*path, "namespace"), body.get("namespace"), dns=True, default=name)
        if namespace in RESERVED_NAMESPACES:
            r.error((*path, "namespace"), f"{namespace!r} is reserved; pick another namespace")
        out.append(Workspace(name, namespace, r.string_map((*path, "labels"), body.get("labels"), label_keys=True)))
    return out


def _read_clusters(r: SpecReader, raw: Any) -> list[Cluster]:
    items = r.records(("clusters",), raw)
    r.unique(("clusters",), items, "name", "cluster")
    out = []
    for index, item in items:
        path = ("clusters", index)
        allowed = ("name", "role", "workspace", "labels", "kubernetesVersion", "topology")
        body = r.mapping(path, item, allowed, ("name", "workspace"))
        role = r.choice((*path, "role"), body.get("role"), ("management", "workload"), "workload")
        kubernetes = r.string((*path, "kubernetesVersion"), body.get("kubernetesVersion"))
        if kubernetes and not KUBERNETES_VERSION.match(kubernetes):
            r.error((*path, "kubernetesVersion"), f'{kubernetes!r} is not a Kubernetes version (write e.g. "1.29.4")')
            kubernetes = ""
        topology = read_topology(r, (*path, "topology"), body.get("topology"))
        if topology is not None and role == "management":
            r.error((*path, "topology"), "the management cluster runs Cluster API, it is not created by it; remove it")
        elif topology is not None and not kubernetes and body.get("kubernetesVersion") in (None, ""):
            r.error(path, 'a managed cluster needs kubernetesVersion (e.g. "1.31.4"), the version Cluster API installs')
        out.append(
            Cluster(
                name=r.string((*path, "name"), body.get("name"), dns=True),
                role="management" if role == "management" else "workload",
                workspace=r.string((*path, "workspace"), body.get("workspace")),
                labels=r.string_map((*path, "labels"), body.get("labels"), label_keys=True),
                kubernetes_version=kubernetes or None,
                topology=topology if role != "management" else None,
            )
        )
    managers = [i for i, c in enumerate(out) if c.role == "management"]
    if items and len(managers) != 1:
        where = ("clusters", managers[1]) if len(managers) > 1 else ("clusters",)
        r.error(where, f"exactly one cluster must have role: management (found {len(managers)})")
    elif managers:
        _check_managed_versions(r, out, managers[0])
    return out


def _check_managed_versions(r: SpecReader, clusters: list[Cluster], manager: int) -> None:
    """A managed cluster never runs a newer Kubernetes than the management cluster that creates it (the bot keeps
    it so): the management cluster's version must be known, and no managed one may be ahead of it."""
    management = clusters[manager]
    for index, cluster in enumerate(clusters):
        if not cluster.managed or not cluster.kubernetes_version:
            continue
        if not management.kubernetes_version:
            r.error(
                ("clusters", manager),
                f"give kubernetesVersion: managed cluster {cluster.name!r} may never run ahead of this cluster",
            )
            return
        if kubernetes_core(cluster.kubernetes_version) > kubernetes_core(management.kubernetes_version):
            r.error(
                ("clusters", index, "kubernetesVersion"),
                f"{cluster.kubernetes_version} is ahead of the management cluster's "
                f"{management.kubernetes_version}; upgrade {management.name!r} first",
            )


def kubernetes_core(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a version KUBERNETES_VERSION accepts."""
    major, minor, patch = version.lstrip("v").split("-", 1)[0].split("+", 1)[0].split(".")
    return int(major), int(minor), int(patch)


def _read_projects(r: SpecReader, raw: Any) -> list[Project]:
    items = r.records(("projects",), raw)
    r.unique(("projects",), items, "name", "project")
    r.unique(("projects",), items, "namespace", "namespace")
    out = []
    for index, item in items:
        path = ("projects", index)
        allowed = ("name", "workspace", "namespace", "clusterSelector", "labels")
        body = r.mapping(path, item, allowed, ("name", "workspace"))
        name = r.string((*path, "name"), body.get("name"), dns=True)
        out.append(
            Project(
                name=name,
                workspace=r.string((*path, "workspace"), body.get("workspace")),
                namespace=r.string((*path, "namespace"), body.get("namespace"), dns=True, default=name),
                cluster_selector=r.selector((*path, "clusterSelector"), body.get("clusterSelector")),
                labels=r.string_map((*path, "labels"), body.get("labels"), label_keys=True),
            )
        )
    return out


def _read_apps(r: SpecReader, raw: Any) -> list[AppDeployment]:
    out = []
    allowed = ("app", "version", "workspace", "project", "clusterSelector", "values", "clusterOverrides")
    for index, item in r.records(("apps",), raw):
        path = ("apps", index)
        body = r.mapping(path, item, allowed, ("app",))
        if (body.get("workspace") in (None, "")) == (body.get("project") in (None, "")):
            r.error(path, "give exactly one of 'workspace' or 'project' (where the app is enabled)")
        values = body.get("values") or {}
        if not isinstance(values, dict):
            r.error((*path, "values"), "must be a mapping of Helm values")
            values = {}
        overrides = []
        for o_index, o_raw in r.records((*path, "clusterOverrides"), body.get("clusterOverrides")):
            o_path = (*path, "clusterOverrides", o_index)
            o_body = r.mapping(o_path, o_raw, ("clusterSelector", "values"), ("clusterSelector", "values"))
            o_values = o_body.get("values")
            if o_values is not None and not isinstance(o_values, dict):
                r.error((*o_path, "values"), "must be a mapping of Helm values")
            overrides.append(
                ClusterOverride(
                    r.selector((*o_path, "clusterSelector"), o_body.get("clusterSelector")),
                    o_values if isinstance(o_values, dict) else {},
                )
            )
        version = body.get("version")
        out.append(
            AppDeployment(
                app=r.string((*path, "app"), body.get("app")),
                version=r.string((*path, "version"), version) if version is not None else None,
                workspace=r.string((*path, "workspace"), body.get("workspace")),
                project=r.string((*path, "project"), body.get("project")) or None,
                cluster_selector=r.selector((*path, "clusterSelector"), body.get("clusterSelector")),
                values=values,
                cluster_overrides=tuple(overrides),
            )
        )
    return out


def _check_references(r: SpecReader, platform: Platform) -> None:
    """Names that must point at something, and selectors that must select something."""
    workspaces = {w.name: w for w in platform.workspaces}
    taken = {w.namespace: f"workspace {w.name!r}" for w in platform.workspaces}
    for index, project in enumerate(platform.projects):
        if project.namespace in taken:
            r.error(
                ("projects", index, "namespace"), f"{project.namespace!r} is already used by {taken[project.namespace]}"
            )
    for index, cluster in enumerate(platform.clusters):
        if cluster.workspace and cluster.workspace not in workspaces:
            r.error(("clusters", index, "workspace"), _unknown("workspace", cluster.workspace, workspaces))
    for index, project in enumerate(platform.projects):
        if project.workspace not in workspaces:
            r.error(("projects", index, "workspace"), _unknown("workspace", project.workspace, workspaces))
        elif not [
            c
            for c in platform.clusters
            if c.workspace == project.workspace and project.cluster_selector.matches(c.selector_labels())
        ]:
            r.error(("projects", index, "clusterSelector"), f"selects no cluster of workspace {project.workspace!r}")
    _check_apps(r, platform)
    _check_secrets(r, platform)


def _check_secrets(r: SpecReader, platform: Platform) -> None:
    workspaces = {w.name for w in platform.workspaces}
    projects = {p.name: p for p in platform.projects}
    seen: set[tuple[str, str]] = set()
    for index, secret in enumerate(platform.secrets):
        path = ("secrets", index)
        if secret.project is not None:
            if secret.project not in projects:
                r.error((*path, "project"), _unknown("project", secret.project, projects))
                continue
            clusters = clusters_of_project(platform, projects[secret.project])
            scope = f"project:{secret.project}"
        else:
            if not secret.workspace:
                continue  # neither workspace nor project: reported where the secret is read
            if secret.workspace not in workspaces:
                r.error((*path, "workspace"), _unknown("workspace", secret.workspace, dict.fromkeys(workspaces)))
                continue
            clusters = [c for c in platform.clusters if c.workspace == secret.workspace]
            scope = f"workspace:{secret.workspace}"
        if (secret.name, scope) in seen:
            r.error((*path, "name"), f"duplicate secret {secret.name!r} in the same {scope.split(':')[0]}")
        seen.add((secret.name, scope))
        if clusters and not [c for c in clusters if secret.cluster_selector.matches(c.selector_labels())]:
            r.error((*path, "clusterSelector"), "selects no cluster")


def _check_apps(r: SpecReader, platform: Platform) -> None:
    workspaces = {w.name: w for w in platform.workspaces}
    projects = {p.name: p for p in platform.projects}
    seen: dict[tuple[str, str], int] = {}
    by_workspace: dict[str, list[Cluster]] = {}
    for cluster in platform.clusters:
        by_workspace.setdefault(cluster.workspace, []).append(cluster)
    for index, app in enumerate(platform.apps):
        path = ("apps", index)
        if app.project is not None:
            if app.project not in projects:
                r.error((*path, "project"), _unknown("project", app.project, projects))
                continue
            scope_name = f"project {app.project!r}"
            clusters = clusters_of_project(platform, projects[app.project])
            key = ("project", app.project)
        else:
            if app.workspace not in workspaces:
                r.error((*path, "workspace"), _unknown("workspace", app.workspace, workspaces))
                continue
            scope_name = f"workspace {app.workspace!r}"
            clusters = by_workspace.get(app.workspace, [])
            key = ("workspace", app.workspace)
        dup_key = (app.app, f"{key[0]}:{key[1]}")
        if dup_key in seen:
            r.error((*path, "app"), f"{app.app!r} is already enabled in {scope_name} (apps[{seen[dup_key]}])")
        seen.setdefault(dup_key, index)
        if not clusters:
            continue  # a scope without clusters deploys nothing; the cluster list's own errors say why
        if not any(app.cluster_selector.matches(c.selector_labels()) for c in clusters):
            r.error((*path, "clusterSelector"), f"selects no cluster of {scope_name}")
        for o_index, override in enumerate(app.cluster_overrides):
            if not any(override.cluster_selector.matches(c.selector_labels()) for c in clusters):
                r.error((*path, "clusterOverrides", o_index, "clusterSelector"), f"selects no cluster of {scope_name}")


def clusters_of_project(platform: Platform, project: Project) -> list[Cluster]:
    """The clusters of the project's workspace that its selector places it on."""
    return [
        c
        for c in platform.clusters
        if c.workspace == project.workspace and project.cluster_selector.matches(c.selector_labels())
    ]


def _unknown(what: str, name: str, known: dict[str, Any]) -> str:
    guess = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {what} {name!r}" + (
        f"; did you mean {guess[0]!r}?" if guess else f"; known: {', '.join(sorted(known)) or 'none'}"
    )
