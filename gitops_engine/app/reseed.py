"""Re-seed onto a branch humans edit: 3-way decisions per file, merges run through git, conflicts on a branch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gitops_engine.adapters import agekeys, git, merge
from gitops_engine.core.errors import GitopsError
from gitops_engine.core.hashing import git_blob_ids
from gitops_engine.model.state import State, decode, encode
from gitops_engine.model.tree import Tree
from gitops_engine.reseed.assemble import assemble
from gitops_engine.reseed.decide import (
    Decision,
    MergeJob,
    MergeKind,
    Outcome,
    SecretComparison,
    Status,
    classify,
    settle,
)
from gitops_engine.secrets.sopsfile import open_encrypted
from gitops_engine.secrets.stores import Format

CONFLICT_BRANCH = "gitops-engine/reseed-conflicts"


class MergeConflictError(GitopsError):
    """Hand edits and the new render touch the same lines; the merge result waits on a branch, main is untouched."""

    def __init__(self, branch: str, commit: str, paths: Sequence[str], target: str) -> None:
        self.branch, self.commit, self.paths = branch, commit, tuple(paths)
        listing = "\n".join(f"  {p}" for p in self.paths)
        super().__init__(
            f"{len(self.paths)} file(s) changed by hand and by the new render on the same lines; nothing was "
            f"committed to the seeded branch. The merge with conflict markers is on branch {branch!r} "
            f"({commit[:12]}): resolve the markers there and merge it into the seeded branch, then seed again.\n"
            f"{listing}\n(look: git --git-dir={target} diff HEAD {branch})"
        )


@dataclass(frozen=True)
class ReseedTree:
    """The next tree of the branch: bytes to write (provenance included) and blob ids kept as they are."""

    decisions: tuple[Decision, ...]
    files: Mapping[str, bytes] = field(repr=False)
    existing: Mapping[str, str]
    bases_outside_tree: bool

    @property
    def conflicts(self) -> tuple[str, ...]:
        """Paths written with conflict markers."""
        return tuple(d.path for d in self.decisions if d.status is Status.CONFLICT)


def reseed_tree(
    repo: git.Repository | None,
    current: Mapping[str, str],
    state: bytes | None,
    rendered: Tree,
    *,
    state_path: str,
    restore: bool = False,
) -> ReseedTree:
    """Decide every file against the last seed's provenance `state`, run the merges, and assemble the next tree."""
    ours = {p: b for p, b in current.items() if p != state_path}
    theirs = git_blob_ids(rendered)
    theirs.pop(state_path, None)
    recorded = decode(state, state_path) if state is not None else State()
    classification = classify(recorded, ours, theirs, restore=restore)
    decisions = settle(classification, _outcomes(repo, classification.jobs, rendered))
    assembly = assemble(decisions, ours, rendered)
    next_state = rendered[state_path]
    if assembly.deleted:
        next_state = encode(decode(next_state, state_path).with_deleted(assembly.deleted))
    files = {**assembly.files, state_path: next_state}
    return ReseedTree(decisions, files, assembly.existing, assembly.bases_outside_tree)


def _outcomes(repo: git.Repository | None, jobs: Sequence[MergeJob], rendered: Tree) -> dict[str, Outcome]:
    """Run each job: line merges through `git merge-file`, encrypted files compared on their plaintext."""
    if not jobs:
        return {}
    assert repo is not None  # jobs exist only where the branch has files
    line_jobs = [job for job in jobs if job.kind is MergeKind.LINES]
    inputs = [
        merge.MergeInput(
            job.path, _base_bytes(repo, job.base_blob), _blob(repo, job.ours_blob), rendered[job.path], job.moved_from
        )
        for job in line_jobs
    ]
    outcomes: dict[str, Outcome] = dict(zip((j.path for j in line_jobs), merge.merge_all(inputs), strict=True))
    identities = agekeys.all_identities() if len(outcomes) < len(jobs) else []
    for job in jobs:
        if job.kind is MergeKind.ENCRYPTED:
            same = _same_plaintext(_blob(repo, job.ours_blob), rendered[job.path], identities, job.path)
            outcomes[job.path] = SecretComparison(same)
    return outcomes


def _blob(repo: git.Repository, blob_id: str) -> bytes:
    return git.read_blobs(repo, {"": blob_id})[""]


def _base_bytes(repo: git.Repository, blob_id: str | None) -> bytes:
    """The last render of a file; empty when there is none (or history lost it): then any difference conflicts."""
    if blob_id is None:
        return b""
    try:
        return _blob(repo, blob_id)
    except KeyError:
        return b""


def _same_plaintext(ours: bytes, theirs: bytes, identities: Sequence[str], path: str) -> bool:
    """True only when both files decrypt (MAC verified) to the same documents; any failure counts as different."""
    fmt = Format.for_path(path)
    try:
        mine = open_encrypted(ours, fmt, identities, path).documents
        return mine == open_encrypted(theirs, fmt, identities, path).documents
    except GitopsError:
        return False
