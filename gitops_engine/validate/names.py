"""Object names the API server would refuse (a chart URL with a port once gave `metadata.name: 127.0.0.1:18765`)."""

from __future__ import annotations

from gitops_engine.flux.names import name_problem
from gitops_engine.model.finding import Finding
from gitops_engine.validate.objects import RenderedObject


def name_findings(obj: RenderedObject) -> list[Finding]:
    """A finding when `obj`'s metadata.name is not a valid name for its kind (nothing for a generated name)."""
    meta = obj.body.get("metadata")
    if not isinstance(meta, dict) or ("generateName" in meta and not meta.get("name")):
        return []
    name = meta.get("name")
    problem = name_problem(obj.id.kind, str(name)) if name is not None else None
    if problem is None:
        return []
    return [
        Finding(
            obj.file,
            obj.line_of(("metadata", "name")),
            "object-name",
            f"{obj.id}: metadata.name {str(name)!r} {problem}; the API server refuses the object",
            "rename it (and every reference to it)",
        )
    ]
