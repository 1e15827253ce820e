"""Per-file re-seed decisions from three blob ids: base (last render), ours (repository now), theirs (new render)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from gitops_engine.model.state import State
from gitops_engine.reseed.moves import version_moves

# The files `.sops.yaml` asks to encrypt (see render.fleet.sops_config) plus any *.sops.* file: their bytes are
# ciphertext, so a line merge would mix two encryptions into a file nobody can decrypt.
_ENCRYPTED = re.compile(r"(^|/)(secrets/.+|[^/]+\.sops\.(ya?ml|json))$")


class Status(StrEnum):
    """What a re-seed does with one file."""

    UNCHANGED = "unchanged"  # the repository already holds what the engine renders
    ADDED = "added"  # new in the render, written as rendered
    REPLACED = "replaced"  # untouched by humans, rewritten with the new render
    KEPT = "kept"  # changed only by humans: their version stays
    MERGED = "merged"  # changed by both, merged cleanly line by line
    CONFLICT = "conflict"  # changed by both on the same lines: written with conflict markers
    DELETED_BY_USER = "deleted-by-user"  # a human deleted it: it stays deleted
    RESTORED = "restored"  # a human deleted it and --restore brings it back
    REMOVED = "removed"  # the engine no longer renders it and no human touched it
    KEPT_UNMANAGED = "kept-unmanaged"  # no longer rendered but edited by hand: kept, and now the humans' file


class MergeKind(StrEnum):
    """How a file changed on both sides is reconciled."""

    LINES = "lines"  # git's line-level 3-way merge
    ENCRYPTED = "encrypted"  # compare plaintexts; never merged as ciphertext


class Decision(NamedTuple):
    """The fate of one path; `engine_blob` is what the engine renders there now (the next base).

    A named tuple rather than a frozen dataclass: a seed makes one per file, and building ten thousand frozen
    dataclasses was a tenth of a fresh seed's time.
    """

    path: str
    status: Status
    engine_blob: str | None = None
    base_blob: str | None = None
    ours_blob: str | None = None
    moved_from: str | None = None
    note: str = ""
    content: bytes | None = None

    def __repr__(self) -> str:
        # the merged bytes can be large: left out, as the dataclass did
        return f"Decision(path={self.path!r}, status={self.status.value!r}, note={self.note!r})"


@dataclass(frozen=True)
class MergeJob:
    """A file changed by both sides; `base_blob` is None when the two sides share no ancestor."""

    path: str
    kind: MergeKind
    base_blob: str | None
    ours_blob: str
    theirs_blob: str
    moved_from: str | None = None


@dataclass(frozen=True)
class LineMerge:
    """The result of a line-level merge: the merged bytes and how many conflict hunks they carry."""

    content: bytes
    conflicts: int


@dataclass(frozen=True)
class SecretComparison:
    """Whether the repository's encrypted file holds the same plaintext as the new render."""

    same_plaintext: bool


Outcome = LineMerge | SecretComparison


@dataclass(frozen=True)
class Classification:
    """Decisions made from blob ids alone, and the merges still to run."""

    decisions: tuple[Decision, ...]
    jobs: tuple[MergeJob, ...]


def is_encrypted(path: str) -> bool:
    """True for files that hold SOPS ciphertext in a generated repository."""
    return bool(_ENCRYPTED.search(path))


def classify(
    recorded: State, ours: Mapping[str, str], theirs: Mapping[str, str], *, restore: bool = False
) -> Classification:
    """Decide every managed or rendered path (maps are path → blob id; the provenance file is not included)."""
    bases = {**recorded.deleted, **recorded.files}
    moves = {
        new: old
        for new, old in version_moves(bases, theirs).items()
        if new not in bases and new not in ours and old not in theirs
    }
    decisions: list[Decision] = []
    jobs: list[MergeJob] = []
    for path, blob in theirs.items():
        source = moves.get(path, path)
        item = _rendered(path, source, bases.get(source), ours.get(source), blob, restore)
        if isinstance(item, MergeJob):
            jobs.append(item)
        else:
            decisions.append(item)
    sources = set(moves.values())
    for path, base in bases.items():
        if path in theirs or path not in ours:
            continue
        if path in sources:
            decisions.append(Decision(path, Status.REMOVED, base_blob=base, note="hand edits carried to new version"))
        elif ours[path] == base:
            decisions.append(Decision(path, Status.REMOVED, base_blob=base))
        else:
            note = "no longer rendered; edited by hand, so kept and no longer managed"
            decisions.append(Decision(path, Status.KEPT_UNMANAGED, base_blob=base, ours_blob=ours[path], note=note))
    return Classification(tuple(decisions), tuple(jobs))


def _rendered(
    path: str, source: str, base: str | None, ours: str | None, theirs: str, restore: bool
) -> Decision | MergeJob:
    """One rendered path; `source` differs from `path` when the file moved to a new version folder."""
    moved = source if source != path else None
    if ours is None:
        if base is None:
            return Decision(path, Status.ADDED, theirs, moved_from=moved)
        if restore:
            return Decision(path, Status.RESTORED, theirs, base, moved_from=moved)
        return Decision(path, Status.DELETED_BY_USER, theirs, base, moved_from=moved, note="pass --restore to recreate")
    if ours == theirs and not moved:
        return Decision(path, Status.UNCHANGED, theirs, base, ours)
    if ours == base:
        return Decision(path, Status.ADDED if moved else Status.REPLACED, theirs, base, moved_from=moved)
    if theirs == base and not moved:
        return Decision(path, Status.KEPT, theirs, base, ours)
    kind = MergeKind.ENCRYPTED if is_encrypted(path) else MergeKind.LINES
    return MergeJob(path, kind, base, ours, theirs, moved)


def settle(classification: Classification, outcomes: Mapping[str, Outcome]) -> tuple[Decision, ...]:
    """All decisions, with each merge job turned into merged / conflict (lines) or kept / replaced (encrypted)."""
    settled = list(classification.decisions)
    settled.extend(_settled(job, outcomes[job.path]) for job in classification.jobs)
    return tuple(sorted(settled, key=lambda d: d.path))


def _settled(job: MergeJob, outcome: Outcome) -> Decision:
    status, note, content, ours = Status.MERGED, "", None, None
    if isinstance(outcome, SecretComparison):
        if outcome.same_plaintext:
            status, note, ours = Status.KEPT, "same plaintext as the new render", job.ours_blob
        else:
            status = Status.REPLACED
            note = "encrypted and changed on both sides: re-rendered (the hand version stays in history)"
    elif outcome.conflicts:
        status, note, content = Status.CONFLICT, f"{outcome.conflicts} conflicting hunk(s)", outcome.content
    else:
        content = outcome.content
    return Decision(job.path, status, job.theirs_blob, job.base_blob, ours, job.moved_from, note, content)
