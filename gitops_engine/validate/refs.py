"""Checks across one cluster's objects: references resolve, dependsOn is acyclic, nothing is applied twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.discovery import Cluster
from gitops_engine.validate.objects import FLUX_KS_GROUP, HELM_GROUP, SOURCE_GROUP, RenderedObject

Key = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True)
class _Reference:
    path: tuple[str | int, ...]
    kind: str
    namespace: str
    name: str
    rule: str
    optional: bool = False


def check_cluster(cluster: Cluster) -> list[Finding]:
    """Reference, cycle and duplicate findings for one cluster."""
    present: set[Key] = {(o.id.kind, o.id.namespace, o.id.name) for o in cluster.objects}
    findings: list[Finding] = []
    check_sources = cluster.root.source is not None
    for obj in cluster.objects:
        for ref in _references(obj):
            if ref.optional or (ref.kind, ref.namespace, ref.name) in present:
                continue
            if ref.rule == "ref-source" and obj.id.kind == "Kustomization" and not check_sources:
                continue
            findings.append(_missing(obj, ref))
    findings.extend(_cycles(cluster.objects, FLUX_KS_GROUP, "Kustomization"))
    findings.extend(_cycles(cluster.objects, HELM_GROUP, "HelmRelease"))
    findings.extend(_duplicates(cluster.objects))
    return findings


def _missing(obj: RenderedObject, ref: _Reference) -> Finding:
    target = f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"
    if ref.rule == "ref-decryption-secret":
        return Finding(
            obj.file,
            obj.line_of(ref.path),
            ref.rule,
            f"{obj.id} decrypts with {target}, which is not in the repository",
            f"create it out of band (kubectl -n {ref.namespace} create secret generic {ref.name} "
            "--from-file=age.agekey=...); it must never be committed",
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


def _references(obj: RenderedObject) -> Iterator[_Reference]:
    spec = _map(obj.body.get("spec"))
    namespace = obj.id.namespace
    if obj.id.group == HELM_GROUP and obj.id.kind == "HelmRelease":
        source = _map(_map(_map(spec.get("chart")).get("spec")).get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "chart", "spec", "sourceRef"), source, "HelmRepository", namespace, "ref-source")
        chart_ref = _map(spec.get("chartRef"))
        if chart_ref.get("name"):
            yield _ref(("spec", "chartRef"), chart_ref, "OCIRepository", namespace, "ref-source")
        for i, item in enumerate(_list(spec.get("valuesFrom"))):
            yield _ref(("spec", "valuesFrom", i), item, "ConfigMap", namespace, "ref-values-from", same_ns=True)
        for i, item in enumerate(_list(spec.get("dependsOn"))):
            yield _ref(("spec", "dependsOn", i), item, "HelmRelease", namespace, "ref-depends-on", forced_kind=True)
    elif obj.id.group == FLUX_KS_GROUP and obj.id.kind == "Kustomization":
        source = _map(spec.get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "sourceRef"), source, "GitRepository", namespace, "ref-source")
        for i, item in enumerate(_list(spec.get("dependsOn"))):
            yield _ref(("spec", "dependsOn", i), item, "Kustomization", namespace, "ref-depends-on", forced_kind=True)
        secret = _map(_map(spec.get("decryption")).get("secretRef"))
        if secret.get("name"):
            yield _Reference(
                ("spec", "decryption", "secretRef"), "Secret", namespace, str(secret["name"]), "ref-decryption-secret"
            )
    elif obj.id.group == SOURCE_GROUP and obj.id.kind == "HelmChart":
        source = _map(spec.get("sourceRef"))
        if source.get("name"):
            yield _ref(("spec", "sourceRef"), source, "HelmRepository", namespace, "ref-source", same_ns=True)


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
