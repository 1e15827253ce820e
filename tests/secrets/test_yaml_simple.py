"""The simple-subset YAML reader agrees with the composer on everything it accepts, and declines the rest."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import Branch, Comment, Node, Timestamp
from gitops_engine.secrets.yaml_emit import emit_documents
from gitops_engine.secrets.yaml_read import compose_documents, read_documents
from gitops_engine.secrets.yaml_simple import read_simple
from tests.conftest import DATA

SAMPLE_SETS = (DATA / "sops-vectors", DATA / "flux-sops")
SAMPLES = sorted(p for s in SAMPLE_SETS for p in s.rglob("*") if p.suffix in (".yaml", ".yml"))

SUBSET = {
    "flat secret": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  password: s3cr3t\n",
    "go-yaml typing": "a: 1\nb: 0x1F\nc: 1.5\nd: true\ne: ~\nf: 2001-12-14\ng: '12'\nh: \"yes\"\ni: .inf\n",
    "null and empty collections": "a:\nb: []\nc: {}\nd:\n",
    "indentless list": "a:\n- x\n- y\nb: z\n",
    "indented list of maps": "a:\n    - k: v\n      l:\n        - 1\n    - k: w\nb: 2\n",
    "literal block last": "sops:\n  age:\n    - enc: |\n        -----BEGIN\n        QUJD\n        -----END\n",
    "literal block mid": "a: |\n  one\n    two\nb: c\n",
    "blank line between keys": "a: b\n\nc: d\n",
    "keys that look typed": "1: a\ntrue: b\n.dockerconfigjson: c\ntls.crt: d\n",
}
OUTSIDE = {
    "comment": "a: b # c\n",
    "document marker": "---\na: b\n",
    "two documents": "a: b\n---\nc: d\n",
    "anchor and alias": "a: &x b\nc: *x\n",
    "flow map": "a: {b: c}\n",
    "folded block": "a: >\n  b\n",
    "strip block": "a: |-\n  b\n",
    "spaces in a value": "a: b c\n",
    "escape in double quotes": 'a: "b\\n"\n',
    "continuation line": "a: b\n  c\n",
    "tab": "a:\tb\n",
    "non-ASCII": "a: é\n",
    "no final newline": "a: b",
    "negative number": "a: -1\n",
    "blank line in a literal": "a: |\n  x\n\n  y\n",
}
BROKEN = {
    "duplicate key": ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'"),
    "misaligned key": ("a:\n    b: 1\n  c: 2\n", "invalid YAML"),
    "mapping after a scalar": ("a: b\n  c: d\n", "invalid YAML"),
    "top-level list": ("- a\n- b\n", "must be a map"),
}


@pytest.mark.parametrize("name", sorted(SUBSET))
def test_subset_documents_read_as_the_composer_reads_them(name: str) -> None:
    text = SUBSET[name]
    simple = read_simple(text)
    assert simple is not None
    assert (simple,) == compose_documents(text, name)


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_documents_outside_the_subset_are_declined_and_still_read(name: str) -> None:
    text = OUTSIDE[name]
    assert read_simple(text) is None
    assert read_documents(text, name) == compose_documents(text, name)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_documents_get_the_composer_error(name: str) -> None:
    text, message = BROKEN[name]
    assert read_simple(text) is None
    with pytest.raises(InputError, match=message):
        read_documents(text, "f.yaml")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(DATA)))
def test_real_files_agree_whenever_accepted(path: Path) -> None:
    text = path.read_text()
    simple = read_simple(text)
    if simple is not None:
        assert (simple,) == compose_documents(text, str(path))


def test_real_sops_files_and_our_own_output_take_the_fast_path(identity: tuple[str, str, Path]) -> None:
    accepted = {p.name for p in SAMPLES if read_simple(p.read_text()) is not None}
    assert {"algorithms_age.yaml", "global_secret.yaml", "secret.enc.yaml"} <= accepted
    written = sopsfile.encrypt_yaml(SUBSET["flat secret"].encode(), [identity[1]]).decode()
    assert read_simple(written) is not None
    assert read_simple(sopsfile.decrypt(written.encode(), Format.YAML, [identity[0]]).decode()) is not None


def _random_node(rng: random.Random, depth: int) -> Node:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(_VALUES)
    if roll < 0.8:
        keys = rng.sample(_KEYS, rng.randint(0, 4))
        return Branch(tuple((key, _random_node(rng, depth + 1)) for key in keys))
    return tuple(_random_node(rng, depth + 1) for _ in range(rng.randint(0, 3)))


_KEYS = ["a", "b", "tls.crt", ".docker", "x/y", "k-1", "1", "true", "a b"]
_VALUES: list[Node] = [
    "v", "x:y", "ENC[AES256_GCM,data:ab==,iv:c+/=,tag:d,type:str]", 1, 31, 1.5, float("inf"), None, True,
    "yes", Timestamp("2001-12-14T00:00:00Z"), "it's", "", "a: b", "-1", "[a]", "^(data|stringData)$", "@x",
    "a #b", "1:20", "3.10.2", "a b", "multi\nline\n", "-----BEGIN\nQUJD\n-----END\n", "x\n  y", "é",
]  # fmt: skip


def test_emitted_random_trees_agree_whenever_accepted() -> None:
    rng = random.Random(20261122)
    accepted = 0
    for _ in range(1500):
        node = _random_node(rng, 0)
        doc = node if isinstance(node, Branch) else Branch((("k", node),))
        text = emit_documents([doc], rng.choice([2, 4]))
        lines = text.split("\n")
        if rng.random() < 0.4 and len(lines) > 2:
            at = rng.randrange(len(lines) - 1)
            lines[at] = rng.choice([" " + lines[at], lines[at][1:], ""])
            text = "\n".join(lines)
        simple = read_simple(text)
        if simple is None:
            continue
        accepted += 1
        assert (simple,) == compose_documents(text, "random"), text
    assert accepted > 300


def test_comments_never_reach_the_fast_path() -> None:
    text = "a: b\n# note\nc: d\n"
    assert read_simple(text) is None
    assert read_documents(text, "f")[0].items[1] == Comment(" note")
