"""Builds management repositories in the layout the seed engine writes (catalog sources, workspaces, projects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitops_engine.core.yamlio import emit_documents, load
from gitops_engine.model.tree import Tree

GITEA = "https://gitea-http.kommander.svc.cluster.local:3000"
TYPE = "kommander.d2iq.io/gitapps-gitrepository-type"
WS_DEFAULT = "kommander.d2iq.io/workspace-default-catalog-repository"
PROJECT_DEFAULT = "kommander.d2iq.io/project-default-catalog-repository"
FROM = "gitops-engine.io/propagated-from"


def source(name: str, labels: Mapping[str, str], url: str | None = None, tag: str = "v1.0.0") -> dict[str, Any]:
    """A catalog GitRepository as the seed's catalog loader commits it."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "kommander", "labels": {TYPE: "catalog", **labels}},
        "spec": {"interval": "1h", "url": url or f"{GITEA}/kommander/{name}.git", "ref": {"tag": tag}},
    }


def kustomization(resources: list[str]) -> bytes:
    """A kustomize Kustomization listing `resources`."""
    return emit_documents(
        [{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}]
    )


def namespace(name: str, labels: Mapping[str, str]) -> bytes:
    """A v1 Namespace."""
    return emit_documents([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])


def workspace(ws: str, labels: Mapping[str, str] | None = None, projects: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The seeded files of one workspace (namespace `<ws>-ns`) and its projects (`<ws>-<p>`)."""
    ws_labels = {"workspaces.kommander.mesosphere.io/workspace-name": ws, **(labels or {})}
    files = {
        f"workspaces/{ws}/namespace.yaml": namespace(f"{ws}-ns", ws_labels),
        f"workspaces/{ws}/kustomization.yaml": kustomization(
            ["namespace.yaml", "catalogs/", *(f"projects/{p}/" for p in projects)]
        ),
        f"workspaces/{ws}/catalogs/kustomization.yaml": kustomization([]),
    }
    for p in projects:
        project_labels = {
            "kommander.d2iq.io/managed-by-kind": "Project",
            "workspaces.kommander.mesosphere.io/workspace-name": ws,
            "kommander.d2iq.io/project-name": p,
        }
        files[f"workspaces/{ws}/projects/{p}/namespace.yaml"] = namespace(f"{ws}-{p}", project_labels)
        files[f"workspaces/{ws}/projects/{p}/kustomization.yaml"] = kustomization(["namespace.yaml"])
    return files


def fleet(
    sources: Mapping[str, dict[str, Any]], workspaces: Mapping[str, bytes], extra: Mapping[str, bytes] | None = None
) -> Tree:
    """A management repository: `common/catalog-repositories/<name>.yaml` per source plus the given files."""
    files = {f"common/catalog-repositories/{name}.yaml": emit_documents([doc]) for name, doc in sources.items()}
    files["common/catalog-repositories/kustomization.yaml"] = kustomization([f"{n}.yaml" for n in sorted(sources)])
    files["README.md"] = b"fleet\n"
    return Tree({**files, **workspaces, **(extra or {})})


def catalog_files(tree: Mapping[str, bytes]) -> dict[str, Any]:
    """Every file below a catalogs/ folder, parsed, keyed by path (what the assertions compare exactly)."""
    return {p: load(b)[0] if load(b) else None for p, b in tree.items() if "/catalogs/" in p}


def copy_of(doc: Mapping[str, Any], target_namespace: str, url: str | None = None) -> dict[str, Any]:
    """The copy we expect of source `doc` in `target_namespace`."""
    meta = doc["metadata"]
    spec = {**doc["spec"], **({"url": url} if url else {})}
    return {
        "apiVersion": doc["apiVersion"],
        "kind": "GitRepository",
        "metadata": {
            "name": meta["name"],
            "namespace": target_namespace,
            "labels": dict(sorted(meta["labels"].items())),
            "annotations": {FROM: f"{meta['namespace']}/{meta['name']}"},
        },
        "spec": spec,
    }


def index(resources: list[str]) -> dict[str, Any]:
    """The parsed catalogs/kustomization.yaml we expect."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
