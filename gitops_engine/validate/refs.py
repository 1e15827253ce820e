"""Checks across one cluster's objects: references resolve, dependsOn is acyclic, nothing is applied twice."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.flux.artifacts import artifact_names, is_generator
from gitops_engine.flux.kinds import (
    BUCKET,
    EXTERNAL_ARTIFACT,
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_GROUP,
    HELM_RELEASE,
    HELM_REPOSITORY,
    IMAGE_GROUP,
    KUSTOMIZATION,
    KUSTOMIZE_GROUP,
    NOTIFICATION_GROUP,
    OCI_REPOSITORY,
    SOURCE_GROUP,
)
from gitops_engine.flux.kustomization import Ref, clean_path
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.objects import RenderedObject

Key = tuple[str, str, str]  # kind, namespace, name
# Secrets a reference may name that are usually created out of band rather than committed: a missing one is a
# warning (it must exist in the cluster), not an error.
_OUT_OF_BAND = frozenset({"ref-decryption-secret", "ref-secret"})


@dataclass(frozen=True)
class _Reference:
    path: tuple[str | int, ...]
    kind: str
    namespace: str
    name: str
    rule: str
    optional: bool = False


def check_cluster(cluster: Cluster, files: Collection[str] = ()) -> list[Finding]:
    """Reference, cycle and duplicate findings for one cluster; `files` are the repository's paths (for charts a
    HelmRelease reads from this repository)."""
    present: set[Key] = {(o.id.kind, o.id.namespace, o.id.name) for o in cluster.objects}
    generated = set(_generated_artifacts(cluster.objects))
    present.update((EXTERNAL_ARTIFACT, namespace, name) for namespace, name in generated)
    findings: list[Finding] = []
    # a walk that starts at a folder cannot see the sources defined outside it, this repository's own included
    check_sources = cluster.root.source is not None
    for obj in cluster.objects:
        for ref in _references(obj):
            if ref.optional or (ref.kind, ref.namespace, ref.name) in present or ref.name in ("", "*"):
                continue
            if ref.kind == EXTERNAL_ARTIFACT and (ref.namespace, ref.name) not in generated:
                continue  # made by a controller from a source not in this tree (reported once as not checked)
            if (
                ref.rule == "ref-source"
                and not check_sources
                and (obj.id.kind == KUSTOMIZATION or _is_this_repository(cluster, ref))
            ):
                continue
            findings.append(_missing(obj, ref))
        findings.extend(_local_chart(cluster, obj, files))
    findings.extend(_cycles(cluster.objects, KUSTOMIZE_GROUP, KUSTOMIZATION))
    findings.extend(_cycles(cluster.objects, HELM_GROUP, HELM_RELEASE))
    findings.extend(_duplicates(cluster.objects))
    return findings


def _is_this_repository(cluster: Cluster, ref: _Reference) -> bool:
    """A source that stands for this repository: its object lives with the sync objects, wherever they are."""
    return cluster.sources.folder_of(Ref(ref.kind, ref.namespace, ref.name)) is not None


def _generated_artifacts(objects: tuple[RenderedObject, ...]) -> Iterator[tuple[str, str]]:
    """(namespace, name) of the ExternalArtifacts the cluster's ArtifactGenerators produce (they are never written
    as objects)."""
    for obj in objects:
        if is_generator(obj.body):
            yield from ((obj.id.namespace, name) for name in artifact_names(obj.body))


def _missing(obj: RenderedObject, ref: _Reference) -> Finding:
    target = f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"
    if ref.rule in _OUT_OF_BAND:
        verb = "decrypts with" if ref.rule == "ref-decryption-secret" else "reads"
        hint = (
            f"create it out of band (kubectl -n {ref.namespace} create secret generic {ref.name} "
            "--from-file=age.agekey=...); it must never be committed"
            if ref.rule == "ref-decryption-secret"
            else "commit it SOPS-encrypted or create it out of band before Flux needs it"
        )
        return Finding(
            obj.file,
            obj.line_of(ref.path),
            ref.rule,
            f"{obj.id} {verb} {target}, which is not in the repository",
            hint,
            Severity.WARNING,
        )
    return Finding(
        obj.file,
        obj.line_of(ref.path),
        ref.rule,
        f"{obj.id} refers to {target}, which no Kustomization of this cluster applies",
        "fix the name/namespace or add the missing object"
        + (" (or set optional: true)" if "values" in ref.rule else ""),
    )


def _local_chart(cluster: Cluster, obj: RenderedObject, files: Collection[str]) -> Iterator[Finding]:
    """A HelmRelease whose chart is a folder of this repository (`chart: ./charts/x` from a GitRepository)."""
    if obj.id.group != HELM_GROUP or obj.id.kind != HELM_RELEASE or not files:
        return
    chart_spec = _map(_map(_map(obj.body.get("spec")).get("chart")).get("spec"))
    source = _map(chart_spec.get("sourceRef"))
    if source.get("kind") not in (GIT_REPOSITORY, BUCKET) or not chart_spec.get("chart"):
        return
    ref = Ref(str(source["kind"]), str(source.get("namespace") or obj.id.namespace), str(source.get("name") or ""))
    base = cluster.sources.folder_of(ref)
    if base is None:
        return  # another repository: its charts are not here
    chart = str(chart_spec["chart"])
    folder = clean_path(posixpath.join(base, chart))
    if posixpath.join(folder, "Chart.yaml") in files:
        return
    yield Finding(
        obj.file,
        obj.line_of(("spec", "chart", "spec", "chart")),
        "helm-chart-missing",
        f"{obj.id} installs the chart at {chart} of {ref.kind} {ref.namespace}/{ref.name}, but ./{folder} holds no "
        "Chart.yaml",
        "point chart at the folder of a Helm chart (relative to the source root)",
    )


def _references(obj: RenderedObject) -> Iterator[_Reference]:
    spec = _map(obj.body.get("spec"))
    namespace = obj.id.namespace
    group, kind = obj.id.group, obj.id.kind
    if group == HELM_GROUP and kind == HELM_RELEASE:
        source = _map(_map(_map(spec.get("chart")).get("spec")).get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "chart", "spec", "sourceRef"), source, HELM_REPOSITORY, namespace, "ref-source")
        chart_ref = _map(spec.get("chartRef"))
        if chart_ref.get("name"):
            yield _ref(("spec", "chartRef"), chart_ref, OCI_REPOSITORY, namespace, "ref-source")
        for i, item in enumerate(_list(spec.get("valuesFrom"))):
            yield _ref(("spec", "valuesFrom", i), item, "ConfigMap", namespace, "ref-values-from", same_ns=True)
        for i, item in enumerate(_list(spec.get("dependsOn"))):
            yield _ref(("spec", "dependsOn", i), item, HELM_RELEASE, namespace, "ref-depends-on", forced_kind=True)
    elif group == KUSTOMIZE_GROUP and kind == KUSTOMIZATION:
        source = _map(spec.get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "sourceRef"), source, GIT_REPOSITORY, namespace, "ref-source")
        for i, item in enumerate(_list(spec.get("dependsOn"))):
            yield _ref(("spec", "dependsOn", i), item, KUSTOMIZATION, namespace, "ref-depends-on", forced_kind=True)
        yield from _secret(spec, ("decryption", "secretRef"), namespace, "ref-decryption-secret")
    elif group == SOURCE_GROUP and kind == HELM_CHART:
        source = _map(spec.get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "sourceRef"), source, HELM_REPOSITORY, namespace, "ref-source", same_ns=True)
    elif group == NOTIFICATION_GROUP:
        yield from _notification_references(kind, spec, namespace)
    elif group == IMAGE_GROUP:
        yield from _image_references(kind, spec, namespace)


def _notification_references(kind: str, spec: Mapping[str, Any], namespace: str) -> Iterator[_Reference]:
    if kind == "Alert":
        provider = _map(spec.get("providerRef"))
        name = str(provider.get("name") or "")
        yield _Reference(("spec", "providerRef"), "Provider", namespace, name, "ref-provider")
    if kind in ("Provider", "Receiver"):
        yield from _secret(spec, ("secretRef",), namespace, "ref-secret")
    if kind == "Provider":
        yield from _secret(spec, ("certSecretRef",), namespace, "ref-secret")


def _image_references(kind: str, spec: Mapping[str, Any], namespace: str) -> Iterator[_Reference]:
    if kind == "ImagePolicy":
        target = _map(spec.get("imageRepositoryRef"))
        if target.get("name"):
            yield _ref(("spec", "imageRepositoryRef"), target, "ImageRepository", namespace, "ref-image-repository",
                       forced_kind=True)  # fmt: skip
    elif kind == "ImageRepository":
        yield from _secret(spec, ("secretRef",), namespace, "ref-secret")
        yield from _secret(spec, ("certSecretRef",), namespace, "ref-secret")
    elif kind == "ImageUpdateAutomation":
        source = _map(spec.get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "sourceRef"), source, GIT_REPOSITORY, namespace, "ref-source")


def _secret(spec: Mapping[str, Any], keys: tuple[str, ...], namespace: str, rule: str) -> Iterator[_Reference]:
    value: Any = spec
    for key in keys:
        value = _map(value).get(key)
    name = _map(value).get("name")
    if name:
        yield _Reference(("spec", *keys), "Secret", namespace, str(name), rule)


def _ref(
    path: tuple[str | int, ...],
    item: Mapping[str, Any],
    default_kind: str,
    namespace: str,
    rule: str,
    *,
    same_ns: bool = False,
    forced_kind: bool = False,
) -> _Reference:
    kind = default_kind if forced_kind else str(item.get("kind") or default_kind)
    target_ns = namespace if same_ns else str(item.get("namespace") or namespace)
    return _Reference(path, kind, target_ns, str(item.get("name") or ""), rule, bool(item.get("optional")))


def _cycles(objects: tuple[RenderedObject, ...], group: str, kind: str) -> Iterator[Finding]:
    nodes = {(o.id.namespace, o.id.name): o for o in objects if o.id.group == group and o.id.kind == kind}
    edges: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key, obj in nodes.items():
        for item in _list(_map(obj.body.get("spec")).get("dependsOn")):
            target = (str(item.get("namespace") or key[0]), str(item.get("name") or ""))
            if target in nodes:
                edges[key].append(target)
    for component in _strongly_connected(list(nodes), edges):
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        first = min(component)
        obj = nodes[first]
        names = " -> ".join(f"{ns}/{name}" for ns, name in sorted(component))
        yield Finding(
            obj.file,
            obj.line_of(("spec", "dependsOn")),
            "depends-on-cycle",
            f"{kind} dependsOn forms a cycle ({names}); none of them will ever become ready",
            "remove one dependsOn entry of the cycle",
        )


def _strongly_connected(
    nodes: list[tuple[str, str]], edges: Mapping[tuple[str, str], list[tuple[str, str]]]
) -> list[list[tuple[str, str]]]:
    """Tarjan's algorithm, iterative so deep chains cannot hit the recursion limit."""
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []
    on_stack: set[tuple[str, str]] = set()
    result: list[list[tuple[str, str]]] = []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


def _duplicates(objects: tuple[RenderedObject, ...]) -> Iterator[Finding]:
    first_seen: dict[object, RenderedObject] = {}
    for obj in objects:
        earlier = first_seen.setdefault(obj.id, obj)
        if earlier is obj:
            continue
        by = f" (applied by {earlier.producer} and {obj.producer})" if earlier.producer != obj.producer else ""
        yield Finding(
            obj.file,
            obj.line_of(),
            "duplicate-object",
            f"{obj.id} is applied twice{by}; first at {earlier.file}:{earlier.line_of()}",
            "keep one definition; two owners fight over the object on every reconcile",
        )


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
