"""`load` gives PyYAML's data exactly, through yaml_rs or not: on corpus files, kustomize output, tricky streams."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters.kustomize import kustomize_builder, read_directory
from gitops_engine.core.yamlio import YamlError, load
from tests.conftest import DATA

CORPORA = DATA / "flux-local" / "testdata"
# the repositories validate reads (Helm indexes are read by adapters/chartindex, not by this reader)
YAML_FILES = sorted(p for p in CORPORA.rglob("*") if p.suffix in (".yaml", ".yml") and "/templates/" not in str(p))


def _same(text: bytes) -> None:
    try:
        expected = [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc is not None]
    except yaml.YAMLError:
        with pytest.raises(YamlError):
            load(text)
        return
    actual = load(text)
    assert actual == expected
    assert [type(d) for d in actual] == [type(d) for d in expected]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(CORPORA)))
def test_corpus_files_read_the_same(path: Path) -> None:
    _same(path.read_bytes())


def test_kustomize_output_of_the_corpora_reads_the_same(tmp_path: Path) -> None:
    files = read_directory(CORPORA / "cluster")
    folders = sorted({p.rsplit("/", 1)[0] for p in files if p.endswith("kustomization.yaml")})
    with kustomize_builder(files, cache_dir=tmp_path) as builder:
        built = [o for o in builder(folders) if o.error is None]
    # the build cache holds kustomize's stdout byte for byte
    outputs = sorted(tmp_path.rglob("*.yaml"))
    assert len(outputs) == len(built) >= 5
    for output in outputs:
        _same(output.read_bytes())


@pytest.mark.parametrize(
    "text",
    [
        "enabled: on\nmode: 0777\nwhen: 1:20\nscale: 1e3\nday: 2024-01-01\n",  # YAML 1.1 readings
        "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",  # merge key
        "data: !!binary aGVsbG8=\n",  # tag
        "- a: 1\n- b: 2\n",  # one list document, not two documents
        "---\n- a\n- b\n",  # the same after a document marker
        "# notes\n---\n- a\n---\n- b\n",  # two list documents
        "a: 1\n---\nb: 2\n---\n",  # several documents and an empty one
        "version: 6.5.4\nport: 8080\nratio: 0.5\nname: 'on'\n",  # agreeing scalars
        ".sops.yaml: e9ee9a64\n1:20: x\n.5: y\n",  # keys that start like numbers
        "a: [1\n",  # broken
        "a: 'x\n  [!NOTE] y'\nb: \"p\n  & q\"\n",  # look-alikes inside quoted scalars over two lines
        "- a: it 'x\n  b: !custom y\n",  # a real tag after an apostrophe that opens nothing
        "root:\n  a: |\n    'unclosed\n  b: !custom x\n  c: 'y'\n",  # a quote in a block scalar opens nothing
        "root:\n  a: |\n    - [!x] &y\n  c: 1\n",  # look-alikes inside a block scalar
        "# it's [!x] &y\na: 'it''s [!x]'\n",  # in a comment, in an escaped single-quoted scalar
        "",
    ],
)
def test_divergent_and_tricky_streams(text: str) -> None:
    _same(text.encode())


def test_markdown_in_a_helm_index_description_does_not_send_it_to_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    # grafana's index quotes `[!NOTE]` over several lines; PyYAML takes seconds on 4 MB, so yaml_rs must read it
    text = (
        "apiVersion: v1\nentries:\n  probe:\n  - version: 1.0.0\n"
        "    description: 'Grafana''s agent.  >\n      [!NOTE] > not supported & free'\n"
    )

    def refuse(*_: object) -> None:
        raise AssertionError("PyYAML was asked")

    monkeypatch.setattr("gitops_engine.core.yamlio._compose", refuse)
    assert load(text, yaml12_types=True) == [
        {
            "apiVersion": "v1",
            "entries": {
                "probe": [{"version": "1.0.0", "description": "Grafana's agent.  > [!NOTE] > not supported & free"}]
            },
        }
    ]
