"""Flux postBuild substitution rules."""

from __future__ import annotations

import pytest

from gitops_engine.adapters.kustomize import kustomize_builder
from gitops_engine.flux.substitute import SubstitutionSyntaxError, invalid_names, sole_default, substitute
from gitops_engine.updates.scan import scan_tree
from gitops_engine.validate.engine import validate_tree
from tests.validate.fixtures import BASE

VARS = {"name": "podinfo", "domain": "example.com", "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${name}", "podinfo"),
        ("${missing:=fallback}", "fallback"),
        ("${missing:-fallback}", "fallback"),
        ("${empty:=fallback}", "fallback"),
        ("${name:=fallback}", "podinfo"),
        ("${missing:=${name}-x}", "podinfo-x"),
        ("$${name}", "${name}"),
        ("$name and $HOME stay", "$name and $HOME stay"),
        ("${domain/./-}", "example-com"),
        ("${name^^}", "PODINFO"),
        ("${name:0:3}", "pod"),
        ("${#name}", "7"),
        ("${domain%.com}", "example"),
        ("${domain#example.}", "com"),
    ],
)
def test_flux_substitution_forms(text: str, expected: str) -> None:
    result = substitute(text, VARS)
    assert (result.text, result.unset) == (expected, ())


def test_strict_mode_reports_each_unset_variable_once() -> None:
    result = substitute("${a} ${b:=ok} ${a} ${c^}", VARS)
    assert result.unset == ("a", "c")
    assert substitute("${a}", VARS, strict=False).unset == ()


def test_unterminated_expression_is_a_syntax_error() -> None:
    with pytest.raises(SubstitutionSyntaxError):
        substitute("host: ${name", VARS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${version:=6.5.0}", "6.5.0"),
        ("${version:-6.5.0}", "6.5.0"),
        ("${version=6.5.0}", "6.5.0"),
        # `-` alone is none of drone/envsubst's operators (substitute refuses it): no default to edit
        ("${version-6.5.0}", None),
        ("${version}", None),
        ("${version:=${base}}", None),
        ("v${version:=6.5.0}", None),
        ("${version:=6.5.0}-${suffix:=x}", None),
        ("${version^^}", None),
        ("6.5.0", None),
    ],
)
def test_sole_default_is_the_default_of_a_text_that_is_one_defaulting_expression(
    text: str, expected: str | None
) -> None:
    assert sole_default(text) == expected


def test_invalid_variable_names() -> None:
    assert invalid_names({"ok_1": "", "1bad": "", "with-dash": ""}) == ["1bad", "with-dash"]


def test_validate_and_the_bot_substitute_alike() -> None:
    """One implementation: before, the bot's own regex knew `:=` and `:-` only and left `${region/./-}` as text."""
    files = {path: text.encode() for path, text in BASE.items()}
    files["clusters/dev/apps.yaml"] = files["clusters/dev/apps.yaml"].replace(
        b"      env: dev\n", b"      env: dev\n      region: eu.west\n"
    )
    files["apps/repository.yaml"] = files["apps/repository.yaml"].replace(
        b"url: https://stefanprodan.github.io/podinfo", b"url: https://${region/./-}.${domain%.com}.invalid/${env^^}"
    )
    with kustomize_builder(files, cache_dir=None) as builder:
        report = validate_tree(files, builder)
    assert report.findings == ()
    (cluster,) = report.discovery.clusters
    repository = next(o for o in cluster.objects if o.id.kind == "HelmRepository")
    expected = "https://eu-west.example.invalid/DEV"
    assert repository.body["spec"]["url"] == expected
    (use,) = scan_tree(files).uses
    assert use.source is not None and use.source.url == expected
