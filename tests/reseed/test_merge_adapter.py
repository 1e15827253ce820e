"""`git merge-file` through the command adapter: clean merges, diff3 markers with labels, many at once."""

from __future__ import annotations

from gitops_engine.adapters.merge import MergeInput, merge_all, merge_lines

BASE = b"a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n"


def test_changes_on_different_lines_merge_cleanly() -> None:
    result = merge_lines(MergeInput("f.yaml", BASE, BASE.replace(b"a: 1", b"a: 9"), BASE.replace(b"e: 5", b"e: 7")))
    assert result.conflicts == 0
    assert result.content == b"a: 9\nb: 2\nc: 3\nd: 4\ne: 7\n"


def test_same_line_conflicts_with_labelled_diff3_markers() -> None:
    job = MergeInput("f.yaml", BASE, BASE.replace(b"c: 3", b"c: ours"), BASE.replace(b"c: 3", b"c: theirs"), "old.yaml")
    result = merge_lines(job)
    assert result.conflicts == 1
    assert result.content == (
        b"a: 1\nb: 2\n"
        b"<<<<<<< ours (repository: f.yaml)\nc: ours\n"
        b"||||||| base (last seed: old.yaml)\nc: 3\n"
        b"=======\nc: theirs\n"
        b">>>>>>> theirs (new render)\n"
        b"d: 4\ne: 5\n"
    )


def test_no_common_base_conflicts_unless_identical() -> None:
    assert merge_lines(MergeInput("f", b"", b"x\n", b"y\n")).conflicts == 1
    assert merge_lines(MergeInput("f", b"", b"x\n", b"x\n")) == merge_lines(MergeInput("f", b"x\n", b"x\n", b"x\n"))


def test_merge_all_keeps_the_order_of_jobs() -> None:
    jobs = [MergeInput(f"f{i}", BASE, BASE, BASE.replace(b"a: 1", f"a: {i}".encode())) for i in range(6)]
    assert [r.content.split(b"\n")[0] for r in merge_all(jobs)] == [f"a: {i}".encode() for i in range(6)]
