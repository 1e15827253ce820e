"""The sops YAML reader refuses what sops refuses, naming the line, and keeps comments where sops keeps them."""

from __future__ import annotations

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.secrets.values import Branch, Comment
from gitops_engine.secrets.yaml_read import read_documents

BROKEN = {
    "duplicate key": ("a: 1\nb: 2\na: 3\n", "f.yaml:3: duplicate key 'a'"),
    "misaligned key": ("a:\n    b: 1\n  c: 2\n", "f.yaml:3: invalid YAML"),
    "mapping after a scalar": ("a: b\n  c: d\n", "f.yaml:2: invalid YAML"),
    "top-level list": ("- a\n- b\n", "f.yaml:1: the top level of a sops YAML document must be a map"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_documents_are_refused_with_their_line(name: str) -> None:
    text, message = BROKEN[name]
    with pytest.raises(InputError) as raised:
        read_documents(text, "f.yaml")
    assert raised.value.lines[0].startswith(message)


def test_a_comment_line_becomes_an_item_before_the_next_key() -> None:
    assert read_documents("a: b\n# note\nc: d\n", "f") == (Branch((("a", "b"), Comment(" note"), ("c", "d"))),)
