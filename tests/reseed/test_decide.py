"""The per-file decision table, version moves and settling merge outcomes (pure, blob ids as short names)."""

from __future__ import annotations

import pytest

from gitops_engine.model.state import State
from gitops_engine.reseed.assemble import assemble
from gitops_engine.reseed.decide import (
    Classification,
    Decision,
    LineMerge,
    MergeKind,
    Outcome,
    SecretComparison,
    Status,
    classify,
    is_encrypted,
    settle,
)
from gitops_engine.reseed.moves import version_moves


def one(base: str | None, ours: str | None, theirs: str | None, restore: bool = False) -> Decision | str:
    """Classify a single path `f`; returns the decision, or "merge" when a merge job was planned."""
    recorded = State(files={"f": base} if base else {})
    result = classify(recorded, {"f": ours} if ours else {}, {"f": theirs} if theirs else {}, restore=restore)
    if result.jobs:
        return "merge"
    (decision,) = result.decisions
    return decision


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        (None, None, "t", Status.ADDED),
        ("b", "b", "t", Status.REPLACED),
        ("b", "b", "b", Status.UNCHANGED),
        ("b", "o", "b", Status.KEPT),
        ("b", "t", "t", Status.UNCHANGED),  # both made the same change
        ("b", None, "t", Status.DELETED_BY_USER),
        ("b", None, "b", Status.DELETED_BY_USER),
        ("b", "b", None, Status.REMOVED),
        ("b", "o", None, Status.KEPT_UNMANAGED),
        (None, "t", "t", Status.UNCHANGED),
    ],
)
def test_decision_table(base: str | None, ours: str | None, theirs: str | None, expected: Status) -> None:
    decision = one(base, ours, theirs)
    assert isinstance(decision, Decision) and decision.status is expected


def test_changed_on_both_sides_or_without_common_base_needs_a_merge() -> None:
    assert one("b", "o", "t") == "merge"
    assert one(None, "o", "t") == "merge"  # a human file where the engine now renders one


def test_restore_brings_back_a_deleted_file() -> None:
    decision = one("b", None, "t", restore=True)
    assert isinstance(decision, Decision) and decision.status is Status.RESTORED


def test_files_already_gone_and_human_files_get_no_decision() -> None:
    result = classify(State(files={"gone": "b"}), {"mine.md": "m"}, {})
    assert result == Classification((), ())


def test_user_deletions_recorded_earlier_stay_deleted() -> None:
    result = classify(State(deleted={"f": "b"}), {}, {"f": "t"})
    assert [d.status for d in result.decisions] == [Status.DELETED_BY_USER]


def test_encrypted_files_are_compared_not_line_merged() -> None:
    result = classify(State(files={"clusters/c/secrets/a.sops.yaml": "b"}), {"clusters/c/secrets/a.sops.yaml": "o"},
                      {"clusters/c/secrets/a.sops.yaml": "t"})  # fmt: skip
    assert [job.kind for job in result.jobs] == [MergeKind.ENCRYPTED]
    assert is_encrypted("x/y.sops.json") and is_encrypted("clusters/c/secrets/kustomization.yaml")
    assert not is_encrypted(".sops.yaml") and not is_encrypted("clusters/c/kommander-vars.yaml")


def test_settle_turns_outcomes_into_statuses() -> None:
    paths = {"clean": "lines", "conflict": "lines", "same.sops.yaml": "secret", "other.sops.yaml": "secret"}
    classification = classify(
        State(files=dict.fromkeys(paths, "b")), dict.fromkeys(paths, "o"), dict.fromkeys(paths, "t")
    )
    outcomes: dict[str, Outcome] = {
        "clean": LineMerge(b"merged\n", 0),
        "conflict": LineMerge(b"<<<<<<<\n", 2),
        "same.sops.yaml": SecretComparison(True),
        "other.sops.yaml": SecretComparison(False),
    }
    settled = {d.path: d for d in settle(classification, outcomes)}
    assert settled["clean"].status is Status.MERGED and settled["clean"].content == b"merged\n"
    assert settled["conflict"].status is Status.CONFLICT and "2 conflicting" in settled["conflict"].note
    assert settled["same.sops.yaml"].status is Status.KEPT and settled["same.sops.yaml"].ours_blob == "o"
    assert settled["other.sops.yaml"].status is Status.REPLACED and "re-rendered" in settled["other.sops.yaml"].note
    assert all(d.engine_blob == "t" for d in settled.values())


def test_assembly_keeps_human_files_and_records_the_engine_render() -> None:
    recorded = State(files={"kept": "b1", "replaced": "b2", "deleted": "b3", "removed": "b4", "merged": "b5"})
    ours = {"kept": "o1", "replaced": "b2", "removed": "b4", "merged": "o5", "mine.md": "m"}
    theirs = {"kept": "b1", "replaced": "t2", "deleted": "t3", "merged": "t5", "new": "t6"}
    classification = classify(recorded, ours, theirs)
    decisions = settle(classification, {"merged": LineMerge(b"m5", 0)})
    rendered = {p: p.encode() for p in theirs}
    result = assemble(decisions, ours, rendered)
    assert result.files == {"replaced": b"replaced", "merged": b"m5", "new": b"new"}
    assert result.existing == {"kept": "o1", "mine.md": "m"}
    assert result.recorded == {"kept": "b1", "replaced": "t2", "merged": "t5", "new": "t6"}
    assert result.deleted == {"deleted": "t3"}
    assert result.bases_outside_tree  # t5 (merged) and t3 (deleted) are not in the tree


def test_assembly_without_new_bases_outside_the_tree() -> None:
    classification = classify(State(files={"kept": "b1"}), {"kept": "o1"}, {"kept": "b1", "new": "t"})
    assert not assemble(settle(classification, {}), {"kept": "o1"}, {"kept": b"", "new": b"t"}).bases_outside_tree


def test_version_moves_pair_files_of_the_replaced_folder() -> None:
    old = ["applications/a/1.9.0/x.yaml", "applications/a/1.10.0/x.yaml", "applications/a/1.10.0/y.yaml"]
    new = ["applications/a/2.0.0/x.yaml", "applications/a/2.0.0/z.yaml", "clusters/c/a.yaml"]
    # two versions went away: 1.10.0 is newer than 1.9.0 (numeric, not string order)
    assert version_moves(old, new) == {"applications/a/2.0.0/x.yaml": "applications/a/1.10.0/x.yaml"}


def test_no_move_while_the_old_version_is_still_rendered() -> None:
    old = ["applications/a/1.0.0/x.yaml"]
    assert version_moves(old, [*old, "applications/a/1.1.0/x.yaml"]) == {}


def test_moved_file_merges_the_old_folder_edits_into_the_new_one() -> None:
    old, new = "applications/a/1.0.0/values.yaml", "applications/a/1.1.0/values.yaml"
    edited = classify(State(files={old: "b"}), {old: "o"}, {new: "t"})
    (job,) = edited.jobs
    assert (job.path, job.moved_from, job.base_blob, job.ours_blob, job.theirs_blob) == (new, old, "b", "o", "t")
    assert [(d.path, d.status) for d in edited.decisions] == [(old, Status.REMOVED)]
    untouched = classify(State(files={old: "b"}), {old: "b"}, {new: "t"})
    assert {(d.path, d.status) for d in untouched.decisions} == {(new, Status.ADDED), (old, Status.REMOVED)}
    deleted = classify(State(files={old: "b"}), {}, {new: "t"})
    assert [(d.path, d.status) for d in deleted.decisions] == [(new, Status.DELETED_BY_USER)]
