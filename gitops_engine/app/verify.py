"""Nothing broken is committed: the offline checks of `validate` run on the tree a command is about to commit.

Only errors the change introduces stop it: findings the base already had (a hand edit broke something last
week) are someone else's to fix and do not hold back a seed or a bump. A first commit is validated whole. A
change to a few files is validated where it can matter: the changed files, and every folder a change can reach
built and followed as `validate --path` does (the nearest kustomization above each changed file, and the folders
of files that still name a folder the change removed) — on the new tree and on its base, for the comparison.
Builds come from the kustomize cache by content, and each verdict is kept on disk by (code, base tree, tree), so
a scheduled rerun that proposes the same trees checks nothing again.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import pygit2

from gitops_engine.adapters import git, runcache
from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.publish import Base
from gitops_engine.core.errors import GitopsError
from gitops_engine.core.hashing import sha256_hex
from gitops_engine.flux.kustomization import built_paths
from gitops_engine.flux.tree import KUSTOMIZATION_FILES
from gitops_engine.model.finding import Finding, Severity
from gitops_engine.validate.engine import Report, validate_focus, validate_tree, with_artifacts
from gitops_engine.validate.filechecks import check_files
from gitops_engine.validate.locate import SourceIndex

_Key = tuple[str, str, str]
# past this many folders to follow, the change is most of the repository: validate it whole
_FOCUS_LIMIT = 200


class VerificationError(GitopsError):
    """The tree about to be committed has errors its base did not have; nothing was committed."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        listing = "\n".join(f"  {finding}" for finding in self.findings)
        super().__init__(
            f"refusing to commit: the change introduces {len(self.findings)} error(s) that `gitops-engine validate` "
            f"reports (fix them, or pass --no-verify to commit anyway):\n{listing}"
        )


class Verifier:
    """Checks trees against their bases; the bot's branches share one base, so its files are read once.

    `builds=False` is for changes that only rewrite scalars inside existing documents (the bot's version edits,
    each re-parsed and confirmed by the editor): such an edit changes no build and no schema, so the file
    checks of the changed files are all it can fail.
    """

    def __init__(self, cache_dir: Path | None = None, *, builds: bool = True) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.builds = builds
        self._files: dict[str, Mapping[str, bytes]] = {}

    def __call__(self, base: Base, repo: pygit2.Repository, tree: str) -> None:
        """Raise VerificationError when `tree` has errors `base` does not have."""
        key = sha256_hex(json.dumps(["verdict", self.builds, base.tree, tree]).encode())
        known = runcache.load_output(self.cache_dir, key)
        introduced = _decode(known) if known is not None else self._introduced(base.tree, repo, tree)
        if known is None:
            runcache.store_output(self.cache_dir, key, _encode(introduced))
        if introduced:
            raise VerificationError(introduced)

    def _introduced(self, base_tree: str | None, repo: pygit2.Repository, tree: str) -> list[Finding]:
        if not self.builds and base_tree is not None:
            return self._file_checks(base_tree, repo, tree)
        after = self._read(repo, tree)
        if base_tree is None:
            return sorted(self._report(after, None, ()).errors)
        before = self._read(repo, base_tree)
        changed = {p for p in after if before.get(p) != after[p]}
        removed = set(before) - set(after)
        focus: set[str] | None = _starts(after, changed, removed) if self.builds else set()
        # most of the tree is new (a first render): validate it whole, as `validate` would
        if focus is not None and (len(focus) > _FOCUS_LIMIT or 2 * len(changed) > len(after)):
            focus = None
        old = {_key(f): f for f in self._report(before, _present(before, focus), changed & set(before)).errors}
        return sorted(f for f in self._report(after, focus, changed).errors if _key(f) not in old)

    def _file_checks(self, base_tree: str, repo: pygit2.Repository, tree: str) -> list[Finding]:
        """The file checks of the changed files alone, read without reading the rest of either tree."""
        changed = git.changed_paths(repo, base_tree, tree)
        findings: list[list[Finding]] = []
        for tree_id in (base_tree, tree):
            blobs = git.list_blobs_at(repo, tree_id, changed)
            files = git.read_blobs(repo, blobs)
            errors = [f for f in check_files(SourceIndex(files)) if f.severity is Severity.ERROR]
            findings.append(sorted(errors))
        old = {_key(f) for f in findings[0]}
        return [f for f in findings[1] if _key(f) not in old]

    def _read(self, repo: pygit2.Repository, tree: str) -> Mapping[str, bytes]:
        if tree not in self._files:
            self._files[tree] = git.read_tree(repo, tree, links=False)
        return self._files[tree]

    def _report(self, files: Mapping[str, bytes], starts: Collection[str] | None, changed: Collection[str]) -> Report:
        mounted, artifacts = with_artifacts(files)
        with kustomize_builder(mounted, self.cache_dir) as builder:
            if starts is None:
                return validate_tree(files, builder, artifacts=artifacts)
            return validate_focus(files, builder, starts, changed, artifacts)


def _starts(files: Mapping[str, bytes], changed: Iterable[str], removed: Iterable[str]) -> set[str]:
    """The folders to build and follow: the nearest kustomization above each changed file, and that of every file
    still naming a folder the change removed — those a Flux Kustomization builds (files no Kustomization reaches,
    such as the state file, reach no cluster)."""
    folders = _folders(files)
    gone = {posixpath.dirname(p) for p in removed if posixpath.dirname(p) not in folders}
    needles = [folder.encode() for folder in gone if folder]
    mentioning = [p for p, data in files.items() if needles and any(n in data for n in needles)]
    built = built_paths(files)
    starts = {_nearest_kustomization(p, files) for p in (*changed, *mentioning)}
    return {start for start in starts if not built or any(_within(start, path) for path in built)}


def _within(folder: str, path: str) -> bool:
    return not path or folder == path or folder.startswith(path + "/")


def _folders(files: Mapping[str, bytes]) -> set[str]:
    found = {""}
    for path in files:
        parent = posixpath.dirname(path)
        while parent not in found:
            found.add(parent)
            parent = posixpath.dirname(parent)
    return found


def _nearest_kustomization(path: str, files: Mapping[str, bytes]) -> str:
    """The closest folder above `path` with a kustomization of its own (else the file's own folder)."""
    folder = posixpath.dirname(path)
    probe = folder
    while probe:
        if any(posixpath.join(probe, name) in files for name in KUSTOMIZATION_FILES):
            return probe
        probe = posixpath.dirname(probe)
    return folder


def _present(files: Mapping[str, bytes], starts: Collection[str] | None) -> Collection[str] | None:
    """The starts that exist in `files` (a folder the change adds has no base to compare with)."""
    if starts is None:
        return None
    folders = _folders(files)
    return {start for start in starts if start in folders}


def _key(finding: Finding) -> _Key:
    # lines move when a file changes around the problem: the same problem is the same finding
    return finding.file, finding.rule, finding.message


def _encode(findings: Sequence[Finding]) -> bytes:
    return json.dumps([[f.file, f.line, f.rule, f.message, f.hint] for f in findings]).encode()


def _decode(data: bytes) -> list[Finding]:
    return [Finding(file, line, rule, message, hint) for file, line, rule, message, hint in json.loads(data)]
