"""A spec pull request's plan as one comment on it: posted once, edited when the plan changes, never repeated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters.targets import Target
from gitops_engine.app.publish import open_target
from gitops_engine.core.errors import InputError

# how the engine finds its own comment again among the review's
PLAN_MARKER = "<!-- gitops-engine:plan -->"


@dataclass(frozen=True)
class PlanComment:
    """The pull request commented on and what was done: created, updated or unchanged."""

    number: int
    url: str
    action: str


def comment_plan(target: Target, head: str, base: str, markdown: str, cache_root: Path | None = None) -> PlanComment:
    """Post `markdown` on the open pull request from `head` into `base`, or update the engine's comment there."""
    with open_target(target, cache_root=cache_root) as session:
        forge = session.forge
        if forge is None:
            raise InputError("--comment: pull request comments need a Gitea repository (--gitea-token-env VAR)")
        pull = forge.find_open_pull_request(head, base)
        if pull is None:
            raise InputError(f"--comment: {session.display} has no open pull request from {head!r} into {base!r}")
        body = f"{PLAN_MARKER}\n{markdown}"
        ours = next((c for c in forge.comments_of(pull.number) if PLAN_MARKER in c.body), None)
        if ours is None:
            forge.comment(pull.number, body)
            return PlanComment(pull.number, pull.url, "created")
        if ours.body == body:
            return PlanComment(pull.number, pull.url, "unchanged")
        forge.edit_comment(ours.id, body)
        return PlanComment(pull.number, pull.url, "updated")
