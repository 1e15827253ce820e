"""The provenance file's codec: what it writes reads back equal, and a damaged file names its line and the fix."""

from __future__ import annotations

import pytest

from gitops_engine.core.errors import InputError
from gitops_engine.model.state import State, decode, encode

WHERE = ".gitops-engine/state.yaml"
A, B = "a" * 40, "b" * 40
STATE = State(
    input_digest="0" * 64,  # all digits: must come back as the same text, not a number
    engine_version="0.1.0",
    platform="example",
    spec_digest="1" * 64,
    catalog_digest="2" * 64,
    files={"two.yaml": B, "one.yaml": A},
)


def test_the_file_is_written_in_its_documented_layout() -> None:
    assert encode(STATE).decode() == (
        "# Managed by gitops-engine; `gitops-engine seed` rewrites it, keeping hand edits by 3-way merge.\n"
        "---\n"
        "apiVersion: gitops-engine.io/v1alpha1\n"
        "kind: State\n"
        f'inputDigest: "{"0" * 64}"\n'
        "engineVersion: 0.1.0\n"
        "platform: example\n"
        f'specDigest: "{"1" * 64}"\n'
        f'catalogDigest: "{"2" * 64}"\n'
        "files:\n"
        f"  one.yaml: {A}\n"
        f"  two.yaml: {B}\n"
    )


def test_what_is_written_reads_back_equal_with_and_without_deletions() -> None:
    assert decode(encode(STATE), WHERE) == STATE
    deleted = STATE.with_deleted({"two.yaml": B})
    assert deleted.files == {"one.yaml": A} and deleted.deleted == {"two.yaml": B}
    assert encode(deleted).endswith(f"files:\n  one.yaml: {A}\ndeletedByUser:\n  two.yaml: {B}\n".encode())
    assert decode(encode(deleted), WHERE) == deleted


def test_a_file_without_sections_is_an_empty_state() -> None:
    assert decode(b"kind: State\n", WHERE) == State()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b"files:\n  one.yaml: [unclosed\n", 3),
        (b"kind: State\nfiles:\n  one.yaml: not-a-blob-id\n", 2),
        (b"kind: State\ndeletedByUser: [one.yaml]\n", 2),
        (b"- a list\n", 1),
    ],
)
def test_a_damaged_file_names_the_line_and_the_fix(text: bytes, line: int) -> None:
    with pytest.raises(InputError) as raised:
        decode(text, WHERE)
    (message,) = raised.value.lines
    assert message.startswith(f"{WHERE}:{line}: ") and message.endswith(f"(git log -- {WHERE})")
