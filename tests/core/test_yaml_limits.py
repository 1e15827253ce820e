"""Hostile YAML is refused in bounded time and memory, naming a line; what real repositories write still reads."""

from __future__ import annotations

import resource
import time

import pytest

from gitops_engine.core.yamlio import MAX_BYTES, YamlError, compose, load, load_located


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs" shape: each level a list of `width` aliases of the level before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


READERS = [load, load_located, compose]


@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
def test_an_alias_bomb_is_refused_at_the_line_that_repeats_too_much(read: object) -> None:
    text = laughs(10)  # 9**10 leaves from 365 bytes
    assert len(text) < 1024
    started = time.monotonic()
    with pytest.raises(YamlError) as refused:
        read(text)  # type: ignore[operator]
    assert time.monotonic() - started < 5
    assert refused.value.problem.startswith("aliases repeat more than 250,000 nodes and characters")
    assert 1 < refused.value.line <= 10


def test_a_long_string_repeated_through_aliases_counts_by_its_length() -> None:
    text = f"a: &a {'x' * 10_000}\nb: [{', '.join(['*a'] * 30)}]\n"
    with pytest.raises(YamlError, match="aliases repeat"):
        load(text)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlError, match="contains it") as refused:
        load("a: &a\n  - x\n  - *a\n")
    assert refused.value.line == 1


@pytest.mark.parametrize(
    "text",
    [
        "- " * 20_000 + "x\n",  # compact sequences: 40 KB, deep enough to crash a recursive parser
        "k: " + "[" * 150 + "]" * 150 + "\n",
        "".join(f"{' ' * i}k{i}:\n" for i in range(150)) + " " * 150 + "v\n",
        "a: &a {b: {c: {d: x}}}\n"
        + "".join(f"x{i}: &x{i} {{k: *{'a' if i == 0 else f'x{i - 1}'}}}\n" for i in range(120)),
    ],
    ids=["compact", "flow", "block", "through-aliases"],
)
@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
def test_nesting_deeper_than_the_limit_is_refused(text: str, read: object) -> None:
    with pytest.raises(YamlError) as refused:
        read(text)  # type: ignore[operator]
    assert refused.value.problem == "nested more than 100 levels deep (flatten it)"


def test_an_oversized_text_is_refused_before_it_is_parsed() -> None:
    text = "a: " + "x" * MAX_BYTES + "\n"
    with pytest.raises(YamlError, match="at most 33,554,432 are read") as refused:
        load(text)
    assert refused.value.line == 1


def test_anchors_that_share_defaults_and_merge_keys_still_read() -> None:
    text = "defaults: &defaults {image: app, replicas: 2, env: [{name: A, value: '1'}]}\n" + "".join(
        f"svc{i}:\n  <<: *defaults\n  name: svc{i}\n" for i in range(100)
    )
    (doc,) = load(text)
    assert doc["svc99"] == {"image": "app", "replicas": 2, "env": [{"name": "A", "value": "1"}], "name": "svc99"}
    assert load_located(text)[0].line_of(("svc99", "name")) == 301


def test_a_large_helm_index_reads_within_the_limits() -> None:
    rows = "".join(
        f"  - name: chart{i % 50}\n    version: {i // 50}.{i % 7}.{i % 13}\n    created: '2024-01-01T00:00:00Z'\n"
        f"    digest: {i:064x}\n    description: A chart with a long enough description, line {i}\n"
        f"    urls: [https://charts.example/chart{i % 50}-{i}.tgz]\n    keywords: [a, b, c]\n"
        f"    annotations:\n      category: Infrastructure\n      licenses: Apache-2.0\n"
        for i in range(16_000)
    )
    text = f"apiVersion: v1\nentries:\n  all:\n{rows}generated: '2024-01-01T00:00:00Z'\n"
    assert len(text) > 4_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (doc,) = load(text, yaml12_types=True)
    assert len(doc["entries"]["all"]) == 16_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 400_000  # KiB
