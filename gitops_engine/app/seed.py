"""The seed use case: load spec and catalog, render, 3-way merge with the branch, publish one commit.

Every target (a local bare repository, a git remote, a Gitea server) takes the same path: `publish` reads the
branch, the plan is computed on exactly that head (hand edits kept or merged against the last render), and the
commit lands on the branch or in a pull request. `plan` and `--dry-run` compute the same plan and write nothing.
The pure render is kept reachable under its own ref (publish.RENDER_REFS), never as a parent in the branch's
history, so the next re-seed finds its merge base.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import NoReturn

from gitops_engine.adapters import fs, git
from gitops_engine.adapters.build_id import engine_build
from gitops_engine.adapters.forge.base import PullRequest
from gitops_engine.adapters.targets import LocalTarget, Target, gitea_target, parse_target
from gitops_engine.app.publish import Base, Change, PublishMode, Review, Session, fixed, open_target, preview, publish
from gitops_engine.app.repo_template import workflow_templates
from gitops_engine.app.reseed import CONFLICT_BRANCH, MergeConflictError, reseed_tree
from gitops_engine.app.seed_secrets import (
    AgeKey,
    PendingSecret,
    RecipientReport,
    encrypt_secrets,
    follow_recipients,
    keep_new_key,
    resolve_age_key,
    secret_inputs,
    stale_recipients,
)
from gitops_engine.app.verify import Verifier
from gitops_engine.catalog.loader import CatalogSource, load_catalog
from gitops_engine.core.errors import InputError
from gitops_engine.core.hashing import git_blob_ids, sha256_hex
from gitops_engine.model.catalog import Catalog
from gitops_engine.model.state import STATE_PATH, decode
from gitops_engine.model.tree import compare_trees
from gitops_engine.render.checks import check_spec_against_catalog
from gitops_engine.render.fleet import RenderInputs, finish, input_digest, render
from gitops_engine.render.phases import PHASES, Phase, phase_of
from gitops_engine.render.placement import Placement, place_apps
from gitops_engine.render.secrets import needed_secrets
from gitops_engine.render.versions import choose_kubernetes, choose_versions, with_kubernetes
from gitops_engine.reseed.decide import Decision, Status
from gitops_engine.secrets.creation_rules import render_config
from gitops_engine.spec.loader import LoadedSpec, load_platform

DEFAULT_AUTHOR = ("gitops-engine", "gitops-engine@localhost")
# the head branch a seed proposes its commit on when the target reviews changes (Gitea's default mode)
SEED_BRANCH = "gitops-engine/seed"
# where a fleet repository may hold its own platform spec, changed by pull request like everything else
SPEC_PATH = ".gitops-engine/platform.yaml"

Progress = Callable[[str], None]
_HAND_STATUSES = frozenset(
    {Status.KEPT, Status.MERGED, Status.CONFLICT, Status.DELETED_BY_USER, Status.RESTORED, Status.KEPT_UNMANAGED}
)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class SeedRequest:
    """What the user asked for on the command line."""

    spec_path: Path
    repository: str | None = None
    branch: str | None = None
    commit_time: int | None = None  # default: SOURCE_DATE_EPOCH when set, else now
    author: tuple[str, str] = DEFAULT_AUTHOR
    force: bool = False
    restore: bool = False  # bring back managed files a human deleted
    age_key_file: Path | None = None  # default: outside the repository, see seed_secrets.default_key_file
    create: bool = False  # a --repo path that does not exist may be created
    spec_ref: str | None = None  # read the spec from the --repo repository at this ref instead of spec_path
    target: Target | None = None  # an already parsed target (wins over `repository`)
    verify: bool = True  # refuse a commit that introduces errors `validate` reports (git's --no-verify)
    cache_root: Path | None = None  # where remotes' object stores live (default: the user's cache)
    # a scheduled pass (reconcile), possibly where no secret value is at hand (the cluster): a Secret whose values
    # cannot be read keeps its encrypted file, and an --age-key file that is missing is an error, not a new key
    scheduled: bool = False


@dataclass(frozen=True)
class PhasePlan:
    """Files one installer phase adds, changes and removes, and what happens to each file (hand edits included)."""

    phase: Phase
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    files: tuple[Decision, ...] = ()


@dataclass(frozen=True)
class SeedPlan:
    """What seeding would do to the branch."""

    repository: str
    branch: str
    base_commit: str | None
    phases: tuple[PhasePlan, ...]
    pending_secrets: tuple[PendingSecret, ...]
    new_files: Mapping[str, bytes] = field(repr=False, default_factory=dict)
    kept_blobs: Mapping[str, str] = field(repr=False, default_factory=dict)
    # the pure render (the next merge's base) and whether the branch's tree holds all of it
    render_files: Mapping[str, bytes] | None = field(repr=False, default=None)
    render_in_tree: bool = True
    age_key: AgeKey | None = None
    # encrypted files the branch holds for other recipients than `.sops.yaml` names: re-wrapped, or why not
    recipients: RecipientReport = field(default_factory=RecipientReport)
    # one line per deployment whose spec pin replaces a merged bump (the spec wins), and per managed cluster whose
    # spec and merged Kubernetes bump disagree
    version_notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the branch already holds exactly this render."""
        return not any(p.added or p.changed or p.removed for p in self.phases)

    @property
    def conflicts(self) -> tuple[str, ...]:
        """Files changed by hand and by the render on the same lines."""
        return tuple(d.path for p in self.phases for d in p.files if d.status is Status.CONFLICT)

    @property
    def changed_files(self) -> int:
        """How many files the plan adds, changes or removes."""
        return sum(len(p.added) + len(p.changed) + len(p.removed) for p in self.phases)


@dataclass(frozen=True)
class SeedResult:
    """What seeding did: the plan, the commit (None when nothing changed), where it went and the PR."""

    plan: SeedPlan
    commit: str | None
    tree: str | None = None
    ref: str | None = None
    pull_request: PullRequest | None = None


def builtin_catalog_dir() -> Path:
    """The catalog shipped with the engine as package data (GITOPS_ENGINE_CATALOG overrides it)."""
    override = os.environ.get("GITOPS_ENGINE_CATALOG")
    if override:
        return Path(override)
    shipped = resources.files("gitops_engine").joinpath("data", "catalog")
    # Catalogs are read as folders on disk; an install that is not unpacked (a zip import) has none.
    if isinstance(shipped, Path) and shipped.is_dir():
        return shipped
    raise InputError(
        "the built-in catalog is missing from this installation of gitops-engine; reinstall it from a wheel "
        "or set GITOPS_ENGINE_CATALOG to a catalog directory"
    )


@dataclass(frozen=True)
class LoadedInputs:
    """The validated spec, the catalog, and digests of both for provenance."""

    spec: LoadedSpec
    catalog: Catalog
    spec_digest: str
    catalog_digest: str
    placements: Mapping[str, list[Placement]]
    files: SpecFiles


@dataclass(frozen=True)
class SpecFiles:
    """Where a spec is read from: a file on disk, or `.gitops-engine/platform.yaml` at a ref of the repository.

    Relative `catalog.paths` are folders beside the spec in either case (in the repository's tree for a spec
    read from it); relative `file:` values are read beside a spec on disk, and from the working directory for a
    spec in the repository (secret values never live in it).
    """

    name: str
    text: bytes
    folder: Path
    tree: Mapping[str, bytes] | None = field(default=None, repr=False)
    tree_folder: str = ""

    def catalog(self, relative: str) -> dict[str, bytes] | None:
        """The files of a catalog folder the spec names (None when there is no such folder)."""
        if self.tree is None:
            directory = self.folder / relative  # not resolved: messages name the files as the user reaches them
            return fs.read_directory(directory) if directory.is_dir() else None
        prefix = posixpath.normpath(posixpath.join(self.tree_folder, relative))
        if prefix == ".." or prefix.startswith("../"):
            return None
        inside = {p[len(prefix) + 1 :]: d for p, d in self.tree.items() if p.startswith(prefix + "/")}
        return inside or None


def local_spec(path: Path) -> SpecFiles:
    """The spec file at `path`."""
    name = path.name if path.parent == Path() else str(path)
    return SpecFiles(name, fs.read_bytes(path, "platform spec"), path.parent)


def repository_spec(tree: Mapping[str, bytes], ref: str) -> SpecFiles:
    """The spec a repository holds at `ref` (SPEC_PATH), with its tree for the catalog folders it names."""
    text = tree.get(SPEC_PATH)
    if text is None:
        raise InputError(f"{SPEC_PATH}@{ref}: the repository holds no platform spec at this ref (commit one there)")
    return SpecFiles(f"{SPEC_PATH}@{ref}", text, Path.cwd(), tree, posixpath.dirname(SPEC_PATH))


def load_spec_and_catalog(spec: SpecFiles | Path) -> LoadedInputs:
    """Parse and cross-check the spec against the catalogs it names."""
    spec = local_spec(spec) if isinstance(spec, Path) else spec
    loaded = load_platform(spec.text, spec.name)
    sources = [CatalogSource("catalog", fs.read_directory(builtin_catalog_dir()))]
    for index, extra in enumerate(loaded.platform.catalog_paths):
        line = loaded.document.line_of(("catalog", "paths", index))
        try:
            files = spec.catalog(extra)
        except fs.FolderTooLargeError as exc:
            raise InputError(
                f"{loaded.filename}:{line}: catalog.paths[{index}]: {extra!r} {exc.reason}, more than a catalog "
                "folder may (point it at a folder of <app>/<version>/ folders)"
            ) from exc
        if files is None:
            raise InputError(f"{loaded.filename}:{line}: catalog.paths[{index}]: {extra!r} is not a directory")
        sources.append(CatalogSource(extra, files))
    catalog = load_catalog(sources)
    placements = place_apps(loaded.platform, catalog)
    problems = check_spec_against_catalog(loaded, catalog, placements)
    if problems:
        raise InputError(problems)
    digest = sha256_hex(
        b"".join(sha256_hex(p.encode() + b"\0" + d).encode() for s in sources for p, d in sorted(s.files.items()))
    )
    return LoadedInputs(loaded, catalog, sha256_hex(spec.text), digest, placements, spec)


@dataclass(frozen=True)
class _Job:
    """One seed run: its inputs, where it goes and with which key."""

    request: SeedRequest
    inputs: LoadedInputs
    branch: str
    key: AgeKey
    progress: Progress


@contextmanager
def _opened(request: SeedRequest, progress: Progress, *, create_key: bool) -> Iterator[tuple[_Job, Session]]:
    """Load and check every input, then open the target (created on the first write where that is allowed).

    A spec on disk names its target (unless --repo does); a spec read from the repository (`spec_ref`) is read
    from the --repo target itself.
    """
    progress("loading platform spec and catalog")
    if request.spec_ref is None:
        inputs = load_spec_and_catalog(local_spec(request.spec_path))
        target, creatable = _target(request, inputs.spec)
        _check_creatable(target, creatable)
        with open_target(target, create=creatable, cache_root=request.cache_root) as session:
            yield _job(request, inputs, progress, create_key), session
        return
    if request.target is not None:
        target = request.target
    elif request.repository:
        target = parse_target(request.repository, "--repo")
    else:
        raise InputError(f"--ref {request.spec_ref}: reading the spec from a repository needs --repo")
    _check_creatable(target, False)
    with open_target(target, cache_root=request.cache_root) as session:
        tree = session.read_files(request.spec_ref)
        inputs = load_spec_and_catalog(repository_spec(tree, request.spec_ref))
        yield _job(request, inputs, progress, create_key), session


def _job(request: SeedRequest, inputs: LoadedInputs, progress: Progress, create_key: bool) -> _Job:
    platform = inputs.spec.platform
    named = request.age_key_file
    if request.scheduled and named is not None and not named.exists():
        # a new key here would re-wrap the fleet's Secrets for an identity no cluster holds
        raise InputError(f"--age-key {named}: no such file (mount the fleet's key there, e.g. the sops-age Secret)")
    key = resolve_age_key(platform, named, create=create_key)
    return _Job(request, inputs, request.branch or platform.git.branch, key, progress)


def _target(request: SeedRequest, loaded: LoadedSpec) -> tuple[Target, bool]:
    """Where the seed goes (--repo, else the spec's gitea block, else git.repository) and whether a missing
    repository there may be created: the spec's own target may, a --repo path only with --create."""
    platform = loaded.platform
    if request.target is not None:
        return request.target, request.create
    if request.repository:
        return parse_target(request.repository, "--repo"), request.create
    if platform.git.gitea is not None:
        return gitea_target(platform.git.gitea.raw, f"{loaded.filename}:{platform.git.gitea.line}"), True
    origin = f"{loaded.filename}:{loaded.document.line_of(('git', 'repository'))}"
    target = parse_target(platform.git.repository, origin)
    if isinstance(target, LocalTarget) and not target.path.is_absolute():
        target = LocalTarget(request.spec_path.parent / target.path)
    return target, True


def _check_creatable(target: Target, creatable: bool) -> None:
    if isinstance(target, LocalTarget) and not target.path.exists() and not creatable:
        raise InputError(
            f"--repo {target.path}: no repository there (check the path, or pass --create to start a new one)"
        )


def plan_seed(request: SeedRequest, progress: Progress = _quiet) -> SeedPlan:
    """Render and compare with the branch of any target; writes nothing."""
    with _opened(request, progress, create_key=False) as (job, session):
        progress("reading the branch")
        base, _ = preview(session, job.branch, lambda _base: None)
        return _plan(job, session, base)


def seed(request: SeedRequest, progress: Progress = _quiet) -> SeedResult:
    """Commit the render to the branch (one commit; none when nothing changed), or propose it for review.

    Hand edits are kept or merged; when a merge conflicts, the result goes to CONFLICT_BRANCH instead and
    MergeConflictError names the files (the seeded branch is not touched).
    """
    plans: list[SeedPlan] = []
    with _opened(request, progress, create_key=True) as (job, session):
        platform = job.inputs.spec.platform

        def compute(base: Base) -> Change | None:
            plan = _plan(job, session, base)
            plans.append(plan)
            if plan.empty and base.commit is not None:
                return None
            if plan.conflicts:
                raise _ConflictedError(plan)
            keep_new_key(job.key)  # every input was good: the new key may now be written
            progress("writing objects")
            return _change(plan)

        mode = PublishMode(platform.git.mode)
        review = Review(
            head=SEED_BRANCH,
            title=f"gitops-engine seed: {platform.name}",
            body="Rendered by `gitops-engine seed`; `gitops-engine plan` shows the installer phases it touches.",
            labels=("gitops-engine",),
        )
        try:
            published = publish(
                session,
                job.branch,
                compute,
                "gitops-engine seed\n",
                author=fixed(_author(request)),
                mode=mode,
                review=review if mode is not PublishMode.PUSH else None,
                verify=Verifier() if request.verify else None,
            )
        except _ConflictedError as conflicted:
            _propose_conflicts(session, job, conflicted.plan)
    commit = published.commit if published.changed else None
    return SeedResult(plans[-1], commit, published.tree, published.ref, published.pull_request)


def _author(request: SeedRequest) -> git.Signature:
    """The seed's author, stamped with --commit-time, else SOURCE_DATE_EPOCH (reproducible builds), else now."""
    when = request.commit_time
    if when is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if epoch and not epoch.isdigit():
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r}: must be whole seconds since 1970-01-01 (or unset)")
        when = int(epoch) if epoch else int(time.time())
    return git.Signature(request.author[0], request.author[1], when)


def _change(plan: SeedPlan) -> Change:
    return Change(
        written=plan.new_files,
        kept=plan.kept_blobs,
        complete=True,
        render=plan.render_files,
        render_in_tree=plan.render_in_tree,
        message=commit_message(plan),
    )


class _ConflictedError(Exception):
    """Raised out of a publish attempt: the merge has conflicts, so nothing may reach the seeded branch."""

    def __init__(self, plan: SeedPlan) -> None:
        super().__init__("merge conflicts")
        self.plan = plan


def _propose_conflicts(session: Session, job: _Job, plan: SeedPlan) -> NoReturn:
    """Publish the merge with conflict markers on CONFLICT_BRANCH (a PR where the forge has them), then stop."""
    listing = "\n".join(f"- `{p}`" for p in plan.conflicts)
    review = Review(
        head=CONFLICT_BRANCH,
        title="gitops-engine seed: resolve merge conflicts",
        body=f"Hand edits and the new render changed the same lines. Resolve the markers in:\n\n{listing}\n",
        labels=("gitops-engine",),
    )

    def compute(base: Base) -> Change | None:
        again = _plan(job, session, base)
        return _change(again) if again.conflicts else None

    proposed = publish(
        session,
        job.branch,
        compute,
        "gitops-engine seed: merge with conflicts\n",
        author=fixed(_author(job.request)),
        mode=PublishMode.PR,
        review=review,
    )
    raise MergeConflictError(CONFLICT_BRANCH, proposed.commit or "", plan.conflicts, session.display)


def _plan(job: _Job, session: Session, base: Base) -> SeedPlan:
    """The plan on `base`: render, merge with the branch's files against the last render, sort into phases."""
    request, inputs, key = job.request, job.inputs, job.key
    platform = inputs.spec.platform
    repo = base.repo
    current = git.list_blobs(repo, base.tree) if repo is not None else {}
    state = git.read_file(repo, base.tree, STATE_PATH) if repo is not None else None
    recorded = decode(state, STATE_PATH) if state is not None else None
    chosen = choose_versions(platform, inputs.catalog, recorded.apps if recorded is not None else {})
    kubernetes = choose_kubernetes(platform, recorded.clusters if recorded is not None else {})
    platform = with_kubernetes(platform, kubernetes)
    placements = place_apps(platform, inputs.catalog, {key: c.app for key, c in chosen.items()})
    notes = tuple(note for note in (*(c.note for c in chosen.values()), *(c.note for c in kubernetes.values())) if note)
    render_inputs = RenderInputs(
        platform=platform,
        catalog=inputs.catalog,
        engine_version=engine_build(),
        spec_digest=inputs.spec_digest,
        catalog_digest=inputs.catalog_digest,
        age_recipients=key.recipients,
        records={key: c.record for key, c in chosen.items()},
        templates=workflow_templates(),
        cluster_records={name: c.record for name, c in kubernetes.items()},
    )
    # values read from the environment or files are not part of the input digest (their hashes would leak)
    reads_values = bool(platform.secrets or platform.git.credentials)
    unchanged = recorded is not None and recorded.input_digest == input_digest(render_inputs)
    if unchanged and not (request.force or request.restore or reads_values or stale_recipients(repo, current)):
        # render is pure: the same inputs give the same files, so there is nothing to do
        return SeedPlan(session.display, job.branch, base.commit, tuple(PhasePlan(p) for p in PHASES), (), age_key=key)
    needs = needed_secrets(platform, placements)
    secrets, pending = secret_inputs(
        platform, needs, current, inputs.files.name, inputs.files.folder, key, scheduled=request.scheduled
    )
    job.progress("rendering")
    rendered = render(replace(render_inputs, secrets=secrets), placements)
    job.progress("encrypting secrets")
    existing = {p: current[p] for p in secrets if p in current}
    existing_secrets = git.read_blobs(repo, existing) if repo is not None and existing else {}
    rendered_files = dict(rendered.tree)
    rendered_files.update(encrypt_secrets(secrets, existing_secrets, key))
    if key.recipients:
        rendered_files[".sops.yaml"] = render_config(key.recipients, secret_paths=(r"\.sops\.ya?ml$",))
    full_render = finish(render_inputs, rendered_files)
    job.progress("merging with the branch")
    next_tree = reseed_tree(repo, current, state, full_render, state_path=STATE_PATH, restore=request.restore)
    keys = follow_recipients(repo, current, next_tree.files, next_tree.existing, key)
    final = {**keys.existing, **git_blob_ids(keys.files)}
    return SeedPlan(
        session.display,
        job.branch,
        base.commit,
        _phases(current, final, next_tree.decisions),
        tuple(pending),
        keys.files,
        keys.existing,
        full_render,
        not next_tree.bases_outside_tree,
        age_key=key,
        recipients=keys.report,
        version_notes=notes,
    )


def _phases(
    current: Mapping[str, str], final: Mapping[str, str], decisions: tuple[Decision, ...]
) -> tuple[PhasePlan, ...]:
    """Files added, changed and removed, and every decision that is not 'unchanged', per installer phase."""
    change = compare_trees(current, final)
    state_status = Status.UNCHANGED if current.get(STATE_PATH) == final[STATE_PATH] else Status.REPLACED
    state_status = Status.ADDED if STATE_PATH not in current else state_status
    everything = (*decisions, Decision(STATE_PATH, state_status, final[STATE_PATH]))
    by_phase: dict[int, tuple[list[str], list[str], list[str]]] = {p.number: ([], [], []) for p in PHASES}
    for index, paths in enumerate((change.added, change.changed, change.removed)):
        for path in paths:
            by_phase[phase_of(path).number][index].append(path)
    statuses: dict[int, list[Decision]] = {p.number: [] for p in PHASES}
    for decision in sorted(everything, key=lambda d: d.path):
        if decision.status is not Status.UNCHANGED:
            statuses[phase_of(decision.path).number].append(decision)
    phases: list[PhasePlan] = []
    for p in PHASES:
        added, changed, removed = by_phase[p.number]
        phases.append(PhasePlan(p, tuple(added), tuple(changed), tuple(removed), tuple(statuses[p.number])))
    return tuple(phases)


def commit_message(plan: SeedPlan) -> str:
    """Subject plus one line per phase that changed files, and what happened to hand edits."""
    lines = ["gitops-engine seed", ""]
    for p in plan.phases:
        if p.added or p.changed or p.removed:
            lines.append(f"{p.phase.number:2d}. {p.phase.title}: +{len(p.added)} ~{len(p.changed)} -{len(p.removed)}")
    hand = [d for p in plan.phases for d in p.files if d.status in _HAND_STATUSES]
    if hand:
        lines += ["", "Hand edits:"]
        lines += [f"- {d.status.value}: {d.path}" for d in hand]
    if plan.recipients.lines():
        lines += ["", "Recipients of .sops.yaml:"]
        lines += [f"- {line}" for line in plan.recipients.lines()]
    if plan.pending_secrets:
        lines += ["", "Pending secrets (not committed):"]
        lines += [f"- {s.namespace}/{s.name}: {s.purpose}" for s in plan.pending_secrets]
    return "\n".join(lines) + "\n"
