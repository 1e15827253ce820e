"""What a change does to each HelmRelease's rendered objects, and which of those changes are risky.

Risky: CRD changes (with what the release's `upgrade.crds` policy does about them), removed objects, changes
to fields Kubernetes will not change in place (Deployment and StatefulSet selectors, StatefulSet volume claim
templates, a Service's clusterIP, a PersistentVolumeClaim's storage class) and new cluster-scoped RBAC. A release
whose name or namespace changes is uninstalled and installed anew by helm-controller, which is risky too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_engine.helm.release import CrdPolicy
from gitops_engine.validate.diff import Change, masked_pair, unified
from gitops_engine.validate.helmrendered import RenderedRelease, TemplateObject
from gitops_engine.validate.objects import ObjectId

# kind → fields that cannot change in place, as (path, words)
_IMMUTABLE: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Deployment": ((("spec", "selector"), "spec.selector"),),
    "StatefulSet": (
        (("spec", "selector"), "spec.selector"),
        (("spec", "volumeClaimTemplates"), "spec.volumeClaimTemplates"),
    ),
    "Service": ((("spec", "clusterIP"), "spec.clusterIP"),),
    "PersistentVolumeClaim": ((("spec", "storageClassName"), "spec.storageClassName"),),
}
_CLUSTER_RBAC = frozenset({"ClusterRole", "ClusterRoleBinding"})


@dataclass(frozen=True, order=True)
class RenderedChange:
    """One rendered object's change, the template it comes from, and its unified diff (Secret values masked)."""

    object: ObjectId
    change: Change
    template: str
    diff: str


@dataclass(frozen=True)
class ReleaseDiff:
    """One HelmRelease's rendered change from base to head.

    `unrendered` says why one side could not be rendered (then there are no changes to show); `risks` are
    sentences a reviewer should read first.
    """

    cluster: str
    release: str
    file: str
    line: int
    changes: tuple[RenderedChange, ...] = ()
    risks: tuple[str, ...] = ()
    unrendered: str = ""

    def count(self, change: Change) -> int:
        """How many objects had this kind of change."""
        return sum(1 for c in self.changes if c.change is change)


def diff_releases(before: Iterable[RenderedRelease], after: Iterable[RenderedRelease]) -> tuple[ReleaseDiff, ...]:
    """Every release whose rendered objects differ (or that could not be rendered), sorted by cluster and name."""
    old = {r.key: r for r in before}
    new = {r.key: r for r in after}
    diffs: list[ReleaseDiff] = []
    for key in sorted(old.keys() | new.keys()):
        diff = _release_diff(old.get(key), new.get(key))
        if diff is not None:
            diffs.append(diff)
    return tuple(diffs)


def _release_diff(base: RenderedRelease | None, head: RenderedRelease | None) -> ReleaseDiff | None:
    shown = head or base
    assert shown is not None
    release = shown.job.release
    where = (shown.job.cluster, str(release.id), release.file, release.line_of())
    problem = _unrendered(base, head)
    if problem:
        return ReleaseDiff(*where, unrendered=problem)
    old = _by_id(base.objects if base else ())
    new = _by_id(head.objects if head else ())
    changes: list[RenderedChange] = []
    risks: list[str] = []
    policy = head.job.spec.upgrade_crds if head is not None and head.job.spec is not None else CrdPolicy.CREATE
    for oid in sorted(old.keys() | new.keys()):
        before_item, after_item = old.get(oid), new.get(oid)
        before_body = before_item.object.body if before_item else None
        after_body = after_item.object.body if after_item else None
        masked_old, masked_new = masked_pair(before_body, after_body)
        if masked_old == masked_new:
            continue
        kind = Change.ADDED if before_item is None else Change.REMOVED if after_item is None else Change.CHANGED
        template = (after_item or before_item).template  # type: ignore[union-attr]
        changes.append(RenderedChange(oid, kind, template, unified(oid, masked_old, masked_new)))
        risks.extend(_risks(oid, kind, before_body, after_body, policy))
    risks.extend(_identity_risks(base, head))
    if not changes and not risks:
        return None
    return ReleaseDiff(*where, tuple(changes), tuple(risks))


def _unrendered(base: RenderedRelease | None, head: RenderedRelease | None) -> str:
    for side, rendered in (("base", base), ("head", head)):
        if rendered is not None and (rendered.unavailable or rendered.failure or rendered.job.finding):
            finding = rendered.job.finding
            reason = rendered.unavailable or rendered.failure or (finding.message if finding else "")
            return f"{side}: {reason}"
    return ""


def _by_id(items: Iterable[TemplateObject]) -> dict[ObjectId, TemplateObject]:
    return {item.object.id: item for item in items}


def _risks(
    oid: ObjectId,
    change: Change,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    policy: CrdPolicy,
) -> list[str]:
    risks: list[str] = []
    if oid.kind == "CustomResourceDefinition":
        effect = {
            CrdPolicy.SKIP: "not applied: upgrade.crds is Skip",
            CrdPolicy.CREATE: "a new CRD is created, an existing one is left as it is (upgrade.crds: Create)",
            CrdPolicy.CREATE_REPLACE: "applied on upgrade (upgrade.crds: CreateReplace)",
        }[policy]
        risks.append(f"CRD {oid.name} {change.value}: {effect}")
    elif change is Change.REMOVED:
        risks.append(f"{oid} is removed (Helm deletes it)")
    elif change is Change.ADDED and oid.kind in _CLUSTER_RBAC:
        risks.append(f"new cluster-scoped RBAC: {oid}")
    if change is Change.CHANGED and before is not None and after is not None:
        for path, words in _IMMUTABLE.get(oid.kind, ()):
            old_value, new_value = _dig(before, path), _dig(after, path)
            if old_value != new_value and not (oid.kind == "Service" and not old_value):
                risks.append(
                    f"{oid}: {words} changes ({_short(old_value)} → {_short(new_value)}); Kubernetes refuses to "
                    "change it in place, so the upgrade fails unless the object is replaced"
                )
    return risks


def _identity_risks(base: RenderedRelease | None, head: RenderedRelease | None) -> list[str]:
    if base is None or head is None or base.job.spec is None or head.job.spec is None:
        return []
    old, new = base.job.spec, head.job.spec
    moved = [
        f"{what} {a} → {b}"
        for what, a, b in (
            ("release name", old.release_name, new.release_name),
            ("release namespace", old.release_namespace, new.release_namespace),
            ("storage namespace", old.storage_namespace, new.storage_namespace),
        )
        if a != b
    ]
    if not moved:
        return []
    return [f"{'; '.join(moved)}: helm-controller uninstalls the old release and installs a new one"]


def _dig(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _short(value: Any) -> str:
    text = " ".join(repr(value).split()) if not isinstance(value, str) else value
    return f"`{text[:80]}`" if value is not None else "unset"
