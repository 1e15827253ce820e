"""The fast emitter writes YAML that PyYAML reads back as exactly the same data."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from gitops_engine.core.yamlio import emit

TRICKY_STRINGS = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "OFF",
    "null",
    "~",
    "true",
    "1",
    "1.0",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    "1:20",
    ".inf",
    "-.nan",
    "2024-04-01",
    "2001-12-14t21:59:43.10-05:00",
    "a: b",
    "a:b",
    "ends:",
    "#x",
    "a #b",
    "a# b",
    "-",
    "- x",
    "-x",
    "?x",
    "*.agekey",
    "&a",
    "!tag",
    "|",
    ">",
    "'q'",
    '"q"',
    "%x",
    "@x",
    "`x",
    "{a}",
    "[a]",
    "a, b",
    "${releaseName}",
    "${helmMirrorURL:=https://charts.jetstack.io}",
    "$${escaped}",
    "^(data|stringData)$",
    "x\ny",
    "x\n",
    "x\n\n",
    "\nx",
    " x\ny",
    "x \ny",
    "tab\there",
    "é ✓ 日本",
    "\u2028",
    "a\\b",
    "=",
    "<<",
    "key: [1]",
]


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(8 if depth < 4 else 4)
    if choice == 0:
        return rng.choice(TRICKY_STRINGS)
    if choice == 1:
        return rng.choice([0, -7, 12345678901234567890, 1.5, -0.25, 1e-9, True, False, None])
    if choice == 2:
        return "".join(rng.choice("ab:# -\n\t'\"{}[],.&*!|>%@`~=") for _ in range(rng.randrange(12)))
    if choice == 3:
        return rng.choice(TRICKY_STRINGS) + rng.choice(TRICKY_STRINGS)
    if choice in (4, 5):
        return {rng.choice(TRICKY_STRINGS) + str(i): _random_value(rng, depth + 1) for i in range(rng.randrange(4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


@pytest.mark.parametrize("value", TRICKY_STRINGS)
def test_tricky_strings_round_trip(value: str) -> None:
    doc = {"key": value, value or "empty": [value, {"nested": value}]}
    assert yaml.safe_load(emit(doc)) == doc


def test_random_documents_round_trip() -> None:
    rng = random.Random(20261122)
    for _ in range(3000):
        doc = _random_value(rng, 0)
        text = emit(doc)
        assert yaml.safe_load(text) == doc, text


def test_block_style_matches_kubernetes_conventions() -> None:
    doc = {"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"items": [{"name": "a", "v": 1}, "s"], "e": []}}
    assert emit(doc) == (
        "metadata:\n  name: x\n  labels:\n    a: b\nspec:\n  items:\n  - name: a\n    v: 1\n  - s\n  e: []\n"
    )


def test_no_implicit_yaml_type_contains_a_slash() -> None:
    # scalar_text skips the resolver for strings with "/"; this holds only while no implicit type can match one
    resolver = yaml.resolver.Resolver()
    rng = random.Random(11)
    alphabet = "0123456789.:-+_eExXbBoOtTrRuUfFaAlLsSyYnN~=<!&*/ "
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if "/" in text:
            assert resolver.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str", text  # type: ignore[no-untyped-call]
    for text in ("1/2", "2024-01-01/x", "0x1/", "/", "y/n", "true/false", "null/", ".inf/", "<</"):
        assert resolver.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"  # type: ignore[no-untyped-call]
        assert yaml.safe_load(emit({"k": text})) == {"k": text}
