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
        "",
    ],
)
def test_divergent_and_tricky_streams(text: str) -> None:
    _same(text.encode())
