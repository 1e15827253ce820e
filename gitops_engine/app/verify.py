"""Nothing broken is committed: the offline checks of `validate` run on the tree a command is about to commit.

Only errors the change introduces stop it: findings the base already had (a hand edit broke something last
week) are someone else's to fix and do not hold back a seed or a bump. Builds come from the kustomize build
cache by content, so the base and the new tree share every build their change does not touch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pygit2

from gitops_engine.adapters import git
from gitops_engine.adapters.kustomize import default_cache_dir, kustomize_builder
from gitops_engine.app.publish import Base
from gitops_engine.core.errors import GitopsError
from gitops_engine.model.finding import Finding
from gitops_engine.validate.engine import validate_tree

_Key = tuple[str, str, str]


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
    """Checks trees against their bases, remembering each tree's errors for the run (the bot's branches share
    one base)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self._errors: dict[str, dict[_Key, Finding]] = {}

    def __call__(self, base: Base, repo: pygit2.Repository, tree: str) -> None:
        """Raise VerificationError when `tree` has errors `base` does not have."""
        before = self._errors_of(repo, base.tree) if base.tree is not None else {}
        after = self._errors_of(repo, tree)
        introduced = [finding for key, finding in sorted(after.items()) if key not in before]
        if introduced:
            raise VerificationError(introduced)

    def _errors_of(self, repo: pygit2.Repository, tree: str) -> dict[_Key, Finding]:
        if tree not in self._errors:
            files = git.read_tree(repo, tree, links=False)
            with kustomize_builder(files, self.cache_dir) as builder:
                report = validate_tree(files, builder)
            # lines move when a file changes around the problem: the same problem is the same finding
            self._errors[tree] = {(f.file, f.rule, f.message): f for f in report.errors}
        return self._errors[tree]
