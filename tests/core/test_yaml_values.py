"""A value YAML can write but no reader should build (an unknown tag, a date that does not exist, a number of
thousands of digits, a control character) is a YamlError at its line, the same through every reader and whether
or not the text goes through yaml_rs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gitops_engine.core.yamlio import YamlError, load, load_located

# an anchor sends a text to PyYAML; without one, a text that yaml_rs can read goes there
ANCHOR = "first: &a 1\n"
READERS: list[Callable[[str], Any]] = [load, load_located]


@pytest.mark.parametrize("prefix", ["", ANCHOR], ids=["plain", "with-an-anchor"])
@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "!!python/object/apply:os.system [id]",
            "unknown tag !!python/object/apply:os.system (remove it)",
        ),
        ("!custom x", "unknown tag !custom (remove it)"),
        (
            "2026-02-30",
            "2026-02-30 cannot be read as a date: day is out of range for month (quote it to keep it text)",
        ),
        (
            "9" * 5000,
            "9999999999999999999999999999999999999999… (4960 more characters) cannot be read as a number: "
            "it has more than 4,300 digits (quote it to keep it text)",
        ),
        (
            "0x" + "f" * 4000,
            "0xffffffffffffffffffffffffffffffffffffff… (3962 more characters) cannot be read as a number: "
            "it has more than 4,300 digits (quote it to keep it text)",
        ),
        (
            "settings\x1b[2J",
            "control character U+001B is not allowed (remove it, or write it escaped in double quotes)",
        ),
        (
            '"caf\xe9\x9b"',
            "control character U+009B is not allowed (remove it, or write it escaped in double quotes)",
        ),
        ("a\x00b", "control character U+0000 is not allowed (remove it, or write it escaped in double quotes)"),
    ],
    ids=["python-tag", "local-tag", "date", "decimal", "hexadecimal", "escape", "c1-control", "nul"],
)
def test_a_value_no_reader_should_build_is_refused_at_its_line(
    value: str, problem: str, read: Callable[[str], Any], prefix: str
) -> None:
    text = f"{prefix}name: demo\nvalue: {value}\nlast: x\n"
    with pytest.raises(YamlError) as refused:
        read(text)
    assert (refused.value.line, refused.value.problem) == (2 + prefix.count("\n"), problem)


def test_bytes_that_are_not_utf_8_are_refused_at_their_line() -> None:
    with pytest.raises(YamlError) as refused:
        load(b"name: demo\nvalue: caf\xe9\n")
    assert refused.value.line == 2
    assert refused.value.problem.startswith("not UTF-8 text: ")
    assert refused.value.problem.endswith(" (save the file as UTF-8)")


@pytest.mark.parametrize("prefix", ["", ANCHOR], ids=["plain", "with-an-anchor"])
def test_a_plain_equals_sign_is_text_through_either_parser(prefix: str) -> None:
    # PyYAML's resolver tags `=` as !!value, which its own safe constructor cannot build
    assert load(f"{prefix}op: =\n")[0]["op"] == "="


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}", "? - a\n  - b\n"], ids=["flow-list", "flow-map", "block-list"])
def test_a_list_or_mapping_used_as_a_key_is_refused_where_keys_are_located(key: str) -> None:
    with pytest.raises(YamlError) as refused:
        load_located(f"name: demo\n{key}: x\n")
    expected = "a mapping or a list is used as a key (write a plain key)"
    assert (refused.value.line, refused.value.problem) == (2, expected)


def test_an_unknown_tag_on_a_mapping_is_refused_where_keys_are_located() -> None:
    with pytest.raises(YamlError) as refused:
        load_located("name: demo\nspec: !Ref\n  a: 1\n")
    assert (refused.value.line, refused.value.problem) == (2, "unknown tag !Ref (remove it)")


def test_sets_ordered_maps_and_binary_still_read() -> None:
    (doc,) = load("s: !!set {a, b}\no: !!omap [{x: 1}, {y: 2}]\nb: !!binary aGk=\n")
    assert doc == {"s": {"a", "b"}, "o": [("x", 1), ("y", 2)], "b": b"hi"}
