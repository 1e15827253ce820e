"""Tree: a value type of clean relative paths."""

from __future__ import annotations

import pytest

from gitops_engine.model.tree import Tree, compare_trees


@pytest.mark.parametrize(
    "path",
    ["", "/abs", "trailing/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../up", "a/../b"],
)
def test_unclean_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a clean relative POSIX path"):
        Tree({path: b""})


@pytest.mark.parametrize("path", [".sops.yaml", "a/.hidden/b", "a/..b", "a/b..", "...", "a/.../b", "x"])
def test_dot_names_that_are_not_dot_components_are_kept(path: str) -> None:
    assert list(Tree({path: b"1"})) == [path]


def test_paths_are_sorted_and_changes_listed() -> None:
    old = Tree({"b": b"1", "a/c": b"2", "d": b"3"})
    new = Tree({"a/c": b"2", "b": b"changed", "e": b"4"})
    assert list(old) == ["a/c", "b", "d"]
    change = compare_trees(old, new)
    assert (change.added, change.changed, change.removed) == (("e",), ("b",), ("d",))
