"""Custom resources checked against the CRDs a run sees (validate --render-helm): a CRD of any shape, from the
repository or a chart, is read without a traceback, and one that is well formed still checks its objects."""

from __future__ import annotations

from typing import Any

from gitops_engine.validate.objects import RenderedObject, object_id
from gitops_engine.validate.schemas import CrdSchemas

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                    }
                },
            }
        ],
    },
}
MALFORMED: list[dict[str, Any]] = [
    {"spec": 5},
    {"spec": {"group": "example.com", "names": ["Widget"], "versions": []}},
    {"spec": {"group": "example.com", "names": {"kind": "Gadget"}, "versions": "v1"}},
    {"spec": {"group": "example.com", "names": {"kind": "Gadget"}, "versions": ["v1", {"name": "v2", "schema": 7}]}},
]


def _widget(size: object) -> RenderedObject:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns"}}
    body["spec"] = {"size": size}
    return RenderedObject(object_id(body), "example.com/v1", body, "apps/widget.yaml")


def test_malformed_crds_are_left_out_and_a_good_one_beside_them_still_checks() -> None:
    check = CrdSchemas([*MALFORMED, WIDGET_CRD])

    assert check(_widget(3)) == []
    (finding,) = check(_widget("three"))
    assert finding.file == "apps/widget.yaml"
    assert "'three' is not of type 'integer'" in finding.message
