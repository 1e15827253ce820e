"""Seed any target: a local bare repository directly, a git remote or a Gitea server through `publish`.

For a remote, the branch is fetched into a local object store and the same plan as for a local repository runs
against the fetched head, so hand edits are merged the same way; `publish` pushes the result (or proposes it as
a pull request) and re-runs the plan on the new head when someone pushed in between.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import NoReturn

from gitops_engine.adapters import fs, git, transport
from gitops_engine.adapters.targets import GiteaTarget, LocalTarget, RemoteTarget, gitea_target, parse_target
from gitops_engine.app.publish import PublishMode, PublishResult, Review, publish
from gitops_engine.app.reseed import CONFLICT_BRANCH, MergeConflictError
from gitops_engine.app.seed import Progress, SeedPlan, SeedRequest, SeedResult, plan_seed, seed
from gitops_engine.model.platform import Platform
from gitops_engine.model.tree import Tree
from gitops_engine.spec.loader import load_platform

SEED_BRANCH = "gitops-engine/seed"


@dataclass(frozen=True)
class RemoteSeedResult:
    """What seeding a remote did: the last plan (None when nothing changed) and what was pushed or proposed."""

    plan: SeedPlan | None
    published: PublishResult
    target: str


def target_of(request: SeedRequest) -> tuple[LocalTarget | RemoteTarget | GiteaTarget, Platform]:
    """Where `request` seeds: --repo, else the spec's git.gitea block, else git.repository."""
    loaded = load_platform(fs.read_bytes(request.spec_path, "platform spec"), str(request.spec_path))
    platform = loaded.platform
    if request.repository:
        return parse_target(request.repository, "--repo"), platform
    if platform.git.gitea is not None:
        origin = f"{request.spec_path}:{platform.git.gitea.line}"
        return gitea_target(platform.git.gitea.raw, origin), platform
    line = loaded.document.line_of(("git", "repository"))
    return parse_target(platform.git.repository, f"{request.spec_path}:{line}"), platform


def seed_anywhere(request: SeedRequest, progress: Progress | None = None) -> SeedResult | RemoteSeedResult:
    """Seed the target the request or spec names."""
    progress = progress or (lambda _step: None)
    target, platform = target_of(request)
    if isinstance(target, LocalTarget):
        relative_to_spec = not target.path.is_absolute() and not request.repository
        path = request.spec_path.parent / target.path if relative_to_spec else target.path
        return seed(replace(request, repository=str(path)), progress)
    return _seed_remote(request, target, platform, progress)


def _seed_remote(
    request: SeedRequest, target: RemoteTarget | GiteaTarget, platform: Platform, progress: Progress
) -> RemoteSeedResult:
    url = target.clone_url if isinstance(target, GiteaTarget) else target.url
    store = transport.store_for(url)
    branch = request.branch or platform.git.branch
    plans: list[SeedPlan] = []
    author = git.Signature(request.author[0], request.author[1], request.commit_time or int(time.time()))

    def change(_base: Tree) -> Tree | None:
        # publish has fetched the branch into `store`; plan against exactly that head
        local = replace(request, repository=str(store), branch=transport.fetched_ref(branch))
        plan = plan_seed(local, progress, create_key=True)
        plans.append(plan)
        if plan.empty and plan.base_commit is not None:
            return None
        files = dict(plan.new_files)
        files.update(git.read_blobs(git.open_repository(store, create=False), plan.kept_blobs))
        if plan.conflicts:
            raise _ConflictedError(plan, Tree(files))
        return Tree(files)

    mode = PublishMode(platform.git.mode)
    review = Review(
        head=SEED_BRANCH,
        title=f"gitops-engine seed: {platform.name}",
        body="Rendered by `gitops-engine seed`; run `gitops-engine plan` to see the installer phases it touches.",
        labels=("gitops-engine",),
    )
    progress("publishing")
    try:
        published = publish(
            target,
            branch,
            change,
            "gitops-engine seed\n",
            author=author,
            mode=mode,
            review=review if mode is not PublishMode.PUSH else None,
        )
    except _ConflictedError as conflicted:
        _propose_conflicts(target, branch, conflicted, author, url)
    return RemoteSeedResult(plans[-1] if plans and published.changed else None, published, transport.scrub_url(url))


class _ConflictedError(Exception):
    """Raised out of a publish attempt: the merge has conflicts, so nothing may reach the seeded branch."""

    def __init__(self, plan: SeedPlan, tree: Tree) -> None:
        super().__init__("merge conflicts")
        self.plan, self.tree = plan, tree


def _propose_conflicts(
    target: RemoteTarget | GiteaTarget, branch: str, conflicted: _ConflictedError, author: git.Signature, url: str
) -> NoReturn:
    """Push the merge with conflict markers to CONFLICT_BRANCH (a PR where the forge has them), then stop."""
    paths = conflicted.plan.conflicts
    listing = "\n".join(f"- `{p}`" for p in paths)
    review = Review(
        head=CONFLICT_BRANCH,
        title="gitops-engine seed: resolve merge conflicts",
        body=f"Hand edits and the new render changed the same lines. Resolve the markers in:\n\n{listing}\n",
        labels=("gitops-engine",),
    )
    proposed = publish(
        target,
        branch,
        lambda _base: conflicted.tree,
        "gitops-engine seed: merge with conflicts\n",
        author=author,
        mode=PublishMode.PR,
        review=review,
    )
    raise MergeConflictError(CONFLICT_BRANCH, proposed.commit or "", paths, transport.scrub_url(url))
