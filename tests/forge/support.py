"""Publishing whole trees in tests: the change is a function of the branch's files, as a reader thinks of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_engine.adapters import git
from gitops_engine.adapters.targets import Target
from gitops_engine.app.publish import Base, Change, PublishResult, fixed, open_target, publish
from gitops_engine.model.tree import Tree


def publish_tree(
    target: Target,
    branch: str,
    change: Callable[[Tree], Tree | None],
    message: str,
    *,
    author: git.Signature,
    cache_root: Path | None = None,
    **options: Any,
) -> PublishResult:
    """Publish `change(files of the branch)` as the branch's new tree (None: nothing to do)."""
    with open_target(target, create=True, cache_root=cache_root) as session:

        def compute(base: Base) -> Change | None:
            files = git.read_tree(base.repo, base.tree) if base.repo is not None else Tree()
            after = change(files)
            return None if after is None else Change(written=dict(after), complete=True)

        return publish(session, branch, compute, message, author=fixed(author), **options)
