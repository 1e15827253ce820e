"""Every value of the example spec replaced by a wrong kind (nothing, a number, a list, an empty string): `plan`
either accepts the spec or names each mistake at file:line with exit 2, and never stops with a traceback.

A probe of this kind found list items that were not mappings, required keys left empty (`name:`) and a managed
cluster's empty kubernetesVersion all ending in tracebacks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_engine.cli.main import main

EXAMPLE = yaml.safe_load(resources.files("gitops_engine").joinpath("data/example-platform.yaml").read_bytes())
WRONG_KINDS: list[Any] = [None, 5, [], ""]
LOCATED = re.compile(r"^error: mutated\.yaml:\d+: \S")


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _with(path: tuple[str | int, ...], value: Any) -> Any:
    spec = copy.deepcopy(EXAMPLE)
    node = spec
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return spec


@pytest.mark.parametrize("path", list(_paths(EXAMPLE)), ids=lambda p: ".".join(map(str, p)))
def test_a_wrong_kind_of_value_is_refused_at_its_line_or_accepted_never_a_traceback(
    path: tuple[str | int, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in WRONG_KINDS:
        (tmp_path / "mutated.yaml").write_text(yaml.safe_dump(_with(path, value), sort_keys=False))

        code = main(["plan", "-c", "mutated.yaml"])

        err = capsys.readouterr().err.splitlines()
        assert code in (0, 2), (value, err)
        if code == 2:
            assert err and all(LOCATED.match(line) for line in err), (value, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mutated.yaml"]  # plan writes nothing
