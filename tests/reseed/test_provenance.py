"""Reading the provenance file (precise errors for a damaged one) and recording user deletions."""

from __future__ import annotations

import pytest
import yaml

from gitops_engine.core.errors import InputError
from gitops_engine.reseed.provenance import read_recorded, restate

WHERE = ".gitops-engine/state.yaml"
A, B = "a" * 40, "b" * 40
STATE = f"""# Managed by gitops-engine.
---
apiVersion: gitops-engine.io/v1alpha1
kind: State
inputDigest: {"0" * 64}
files:
  one.yaml: {A}
  two.yaml: {B}
""".encode()


def test_reads_files_and_deletions() -> None:
    recorded = read_recorded(STATE, WHERE)
    assert recorded.files == {"one.yaml": A, "two.yaml": B} and recorded.deleted == {}
    assert read_recorded(None, WHERE).files == {}


def test_restate_moves_deleted_paths_and_keeps_the_header() -> None:
    assert restate(STATE, {}) is STATE
    text = restate(STATE, {"two.yaml": B})
    assert text.startswith(b"# Managed by gitops-engine.\n---\n")
    # edited as text: every other line stays byte for byte (a digest of digits is not turned into a number)
    assert b"\ninputDigest: " + b"0" * 64 + b"\n" in text
    assert yaml.safe_load(text)["files"] == {"one.yaml": A}
    again = read_recorded(text, WHERE)
    assert again.files == {"one.yaml": A} and again.deleted == {"two.yaml": B}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"files:\n  one.yaml: [unclosed\n", 3),
        (b"kind: State\nfiles:\n  one.yaml: not-a-blob-id\n", 2),
        (b"kind: State\ndeletedByUser: [one.yaml]\n", 2),
    ],
)
def test_damaged_provenance_names_the_line_and_the_fix(text: bytes, line: int) -> None:
    with pytest.raises(InputError) as raised:
        read_recorded(text, WHERE)
    (message,) = raised.value.lines
    assert message.startswith(f"{WHERE}:{line}: ") and "git log -- " in message
