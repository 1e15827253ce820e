"""Flux postBuild substitution rules."""

from __future__ import annotations

import pytest

from gitops_engine.flux.substitute import SubstitutionSyntaxError, invalid_names, substitute

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


def test_invalid_variable_names() -> None:
    assert invalid_names({"ok_1": "", "1bad": "", "with-dash": ""}) == ["1bad", "with-dash"]
