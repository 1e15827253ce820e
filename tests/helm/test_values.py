"""helm-controller's values and release rules, with expected results written from its documented behaviour
(the reference table of helm-controller v1.4 and fluxcd/pkg chartutil), not from our code."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_engine.helm.release import CrdPolicy, ReleaseSpecError, ValuesRef, release_spec, shorten_release_name
from gitops_engine.helm.values import ValuesError, compose_values, merge_maps, set_path


def _fetch(data: dict[tuple[str, str, str], str]) -> Any:
    return lambda ref: data.get((ref.kind, ref.name, ref.values_key))


def test_values_from_entries_merge_in_order_and_inline_values_win_last() -> None:
    refs = (ValuesRef("ConfigMap", "base"), ValuesRef("Secret", "override", "extra.yaml"))
    data = {
        ("ConfigMap", "base", "values.yaml"): "a: 1\nnested: {x: base, keep: kept}\nlist: [1, 2]\n",
        ("Secret", "override", "extra.yaml"): "nested: {x: secret}\nlist: [3]\n",
    }
    result = compose_values(refs, {"a": 9}, _fetch(data))
    assert result == {"a": 9, "nested": {"x": "secret", "keep": "kept"}, "list": [3]}


def test_an_optional_entry_that_is_missing_is_skipped_and_a_required_one_fails() -> None:
    refs = (ValuesRef("ConfigMap", "absent", optional=True), ValuesRef("ConfigMap", "present"))
    assert compose_values(refs, {}, _fetch({("ConfigMap", "present", "values.yaml"): "b: 2"})) == {"b": 2}
    with pytest.raises(ValuesError) as failure:
        compose_values((ValuesRef("Secret", "gone"),), {}, _fetch({}))
    assert failure.value.position == 0 and "Secret gone" in str(failure.value)


def test_empty_values_data_is_an_empty_map_and_a_bare_scalar_is_an_error() -> None:
    assert compose_values((ValuesRef("ConfigMap", "e"),), {}, _fetch({("ConfigMap", "e", "values.yaml"): ""})) == {}
    with pytest.raises(ValuesError, match="not a YAML map"):
        compose_values((ValuesRef("ConfigMap", "s"),), {}, _fetch({("ConfigMap", "s", "values.yaml"): "just text"}))


@pytest.mark.parametrize(
    ("inline", "entries", "expected_leaf"),
    [
        # the reference table "targetPath vs spec.values" row by row
        ({"tls": {"crt": "inline"}}, [("Secret", "tls.crt", "s")], "s"),
        ({"foo": "inline"}, [("Secret", "foo", "s")], "inline"),
        ({"tls": {"crt": "inline"}}, [("ConfigMap", "", "tls: {key: x}"), ("Secret", "tls.crt", "s")], "inline"),
        ({"tls": {"crt": "inline"}}, [("Secret", "tls.crt", "s"), ("ConfigMap", "", "tls: {crt: cm}")], "s"),
        ({}, [("Secret", "tls.crt", "s"), ("ConfigMap", "", "tls: {crt: cm}")], "cm"),
    ],
)
def test_target_path_precedence_follows_go_map_sharing(
    inline: dict[str, Any], entries: list[tuple[str, str, str]], expected_leaf: str
) -> None:
    refs = tuple(ValuesRef(kind, f"{kind}-{i}", target_path=path) for i, (kind, path, _) in enumerate(entries))
    data = {(kind, f"{kind}-{i}", "values.yaml"): text for i, (kind, _, text) in enumerate(entries)}
    result = compose_values(refs, inline, _fetch(data))
    leaf = result["foo"] if "foo" in inline else result["tls"]["crt"]
    assert leaf == expected_leaf


def test_a_target_path_into_an_inline_list_element_adds_to_that_element() -> None:
    inline = {"prometheus": {"remoteWrite": [{"basicAuth": {"username": "u"}}]}}
    refs = (ValuesRef("Secret", "rw", "url", "prometheus.remoteWrite[0].url"),)
    result = compose_values(refs, inline, _fetch({("Secret", "rw", "url"): "https://metrics.example"}))
    assert result == {
        "prometheus": {"remoteWrite": [{"basicAuth": {"username": "u"}, "url": "https://metrics.example"}]}
    }


def test_composing_never_writes_into_the_release_body() -> None:
    inline = {"tls": {"crt": "inline"}}
    compose_values((ValuesRef("Secret", "t", target_path="tls.crt"),), inline, lambda ref: "s")
    assert inline == {"tls": {"crt": "inline"}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("0123", "0123"),
        ("1e3", "1e3"),
        ("1.5", "1.5"),
        ('"true"', "true"),
        ("'42'", "42"),
        ("a\\,b", "a,b"),
        ("{a,2,null}", ["a", 2, None]),
        ("line\n", "line\n"),
    ],
)
def test_target_path_values_are_typed_like_helm_set(data: str, expected: Any) -> None:
    values: dict[str, Any] = {}
    set_path(values, "v", data)
    assert values == {"v": expected}


def test_target_path_syntax_escaped_dots_list_growth_and_errors() -> None:
    values: dict[str, Any] = {}
    set_path(values, "nodeSelector.kubernetes\\.io/role", "infra")
    set_path(values, "x[2]", "v")
    assert values == {"nodeSelector": {"kubernetes.io/role": "infra"}, "x": [None, None, "v"]}
    with pytest.raises(ValueError, match="has no value"):
        set_path({}, "a", "one,two")
    with pytest.raises(ValueError, match="not a dict"):
        set_path({"a": 1}, "a.b", "x")
    with pytest.raises(ValueError, match="over the limit"):
        set_path({}, "a[99999]", "x")


def test_merge_maps_replaces_lists_and_keeps_null() -> None:
    assert merge_maps({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "d": None}) == {
        "a": {"b": 1, "c": [2]},
        "d": None,
    }


def _release(spec: dict[str, Any], name: str = "podinfo", namespace: str = "apps") -> dict[str, Any]:
    chart = {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "r"}}}}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {**chart, **spec}}


def test_release_name_and_namespaces_follow_helm_controller() -> None:
    plain = release_spec(_release({}))
    assert (plain.release_name, plain.release_namespace, plain.storage_namespace) == ("podinfo", "apps", "apps")
    targeted = release_spec(_release({"targetNamespace": "web", "storageNamespace": "store"}))
    assert (targeted.release_name, targeted.release_namespace, targeted.storage_namespace) == (
        "web-podinfo",
        "web",
        "store",
    )
    named = release_spec(_release({"targetNamespace": "web", "releaseName": "custom"}))
    assert named.release_name == "custom"


def test_long_release_names_are_shortened_like_helm_controller() -> None:
    # the vector from helm-controller's name_test.go
    long_name = "release-name-with-very-long-name-which-is-longer-than-53-characters"
    assert shorten_release_name(long_name) == "release-name-with-very-long-name-which-i-788ca0d0d7b0"
    assert shorten_release_name("short") == "short"


def test_crd_policies_default_to_create_for_install_and_upgrade() -> None:
    default = release_spec(_release({}))
    assert (default.install_crds, default.upgrade_crds) == (CrdPolicy.CREATE, CrdPolicy.CREATE)
    explicit = release_spec(_release({"install": {"crds": "Skip"}, "upgrade": {"crds": "CreateReplace"}}))
    assert (explicit.install_crds, explicit.upgrade_crds) == (CrdPolicy.SKIP, CrdPolicy.CREATE_REPLACE)
    with pytest.raises(ReleaseSpecError, match="Skip, Create or CreateReplace"):
        release_spec(_release({"upgrade": {"crds": "Always"}}))
