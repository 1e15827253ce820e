"""The seed use case: load spec and catalog, render, compare with the branch, commit atomically."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gitops_engine import __version__
from gitops_engine.adapters import fs, git
from gitops_engine.adapters.targets import LocalTarget, parse_target
from gitops_engine.app.reseed import CONFLICT_BRANCH, MergeConflictError, reseed_tree
from gitops_engine.app.seed_secrets import AgeKey, PendingSecret, encrypt_secrets, resolve_age_key, secret_inputs
from gitops_engine.catalog.loader import CatalogSource, load_catalog
from gitops_engine.core.errors import InputError
from gitops_engine.core.hashing import git_blob_ids, sha256_hex
from gitops_engine.core.urls import redacted
from gitops_engine.model.catalog import Catalog
from gitops_engine.model.tree import compare_trees
from gitops_engine.render.checks import check_spec_against_catalog
from gitops_engine.render.fleet import STATE_PATH, RenderInputs, finish, input_digest, render
from gitops_engine.render.phases import PHASES, Phase, phase_of
from gitops_engine.render.placement import Placement, place_apps
from gitops_engine.render.secrets import needed_secrets
from gitops_engine.reseed.decide import Decision, Status
from gitops_engine.secrets.creation_rules import render_config
from gitops_engine.spec.loader import LoadedSpec, load_platform

# A fixed, recognisable time for the first commit when no clock is asked for: commits stay reproducible.
DETERMINISTIC_EPOCH = 946684800  # 2000-01-01T00:00:00Z
DEFAULT_AUTHOR = ("gitops-engine", "gitops-engine@localhost")
_INPUT_DIGEST = re.compile(rb"^inputDigest: ([0-9a-f]{64})$", re.M)

Progress = Callable[[str], None]
RENDER_MESSAGE = "gitops-engine render\n\nThe pure render of this seed: the base of the next 3-way merge.\n"
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
    commit_time: int | None = None
    author: tuple[str, str] = DEFAULT_AUTHOR
    force: bool = False
    restore: bool = False  # bring back managed files a human deleted
    age_key_file: Path | None = None  # default: outside the repository, see seed_secrets.default_key_file


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
    # the pure render, committed beside the branch when the tree lacks some of it (the next merge's base)
    render_files: Mapping[str, bytes] | None = field(repr=False, default=None)
    age_key: AgeKey | None = None

    @property
    def empty(self) -> bool:
        """True when the branch already holds exactly this render."""
        return not any(p.added or p.changed or p.removed for p in self.phases)

    @property
    def conflicts(self) -> tuple[str, ...]:
        """Files changed by hand and by the render on the same lines."""
        return tuple(d.path for p in self.phases for d in p.files if d.status is Status.CONFLICT)


@dataclass(frozen=True)
class SeedResult:
    """What seeding did."""

    plan: SeedPlan
    commit: str | None
    tree: str


def builtin_catalog_dir() -> Path:
    """The catalog shipped with the engine (GITOPS_ENGINE_CATALOG overrides it)."""
    override = os.environ.get("GITOPS_ENGINE_CATALOG")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "catalog", package / "data" / "catalog"):
        if candidate.is_dir():
            return candidate
    raise InputError("the built-in catalog is missing; set GITOPS_ENGINE_CATALOG to a catalog directory")


@dataclass(frozen=True)
class LoadedInputs:
    """The validated spec, the catalog, and digests of both for provenance."""

    spec: LoadedSpec
    catalog: Catalog
    spec_digest: str
    catalog_digest: str
    placements: Mapping[str, list[Placement]]


def load_spec_and_catalog(spec_path: Path) -> LoadedInputs:
    """Parse and cross-check the spec against the catalogs it names."""
    text = fs.read_bytes(spec_path, "platform spec")
    loaded = load_platform(text, spec_path.name if spec_path.parent == Path() else str(spec_path))
    base = spec_path.parent
    sources = [CatalogSource("catalog", fs.read_directory(builtin_catalog_dir()))]
    for index, extra in enumerate(loaded.platform.catalog_paths):
        directory = (base / extra).resolve()
        if not directory.is_dir():
            line = loaded.document.line_of(("catalog", "paths", index))
            raise InputError(f"{loaded.filename}:{line}: catalog.paths[{index}]: {extra!r} is not a directory")
        sources.append(CatalogSource(extra, fs.read_directory(directory)))
    catalog = load_catalog(sources)
    placements = place_apps(loaded.platform, catalog)
    problems = check_spec_against_catalog(loaded, catalog, placements)
    if problems:
        raise InputError(problems)
    digest = sha256_hex(
        b"".join(sha256_hex(p.encode() + b"\0" + d).encode() for s in sources for p, d in sorted(s.files.items()))
    )
    return LoadedInputs(loaded, catalog, sha256_hex(text), digest, placements)


def plan_seed(request: SeedRequest, progress: Progress = _quiet, *, create_key: bool = False) -> SeedPlan:
    """Render and compare with the branch; writes nothing (but the age key, when `create_key`)."""
    progress("loading platform spec and catalog")
    loaded = load_spec_and_catalog(request.spec_path)
    platform = loaded.spec.platform
    repo_path = _repository_path(request, loaded.spec)
    branch = request.branch or platform.git.branch
    progress("reading the branch")
    head, current, state = _branch_state(repo_path, branch)
    key = resolve_age_key(platform, request.age_key_file, create=create_key)
    render_inputs = RenderInputs(
        platform=platform,
        catalog=loaded.catalog,
        engine_version=__version__,
        spec_digest=loaded.spec_digest,
        catalog_digest=loaded.catalog_digest,
        age_recipients=key.recipients,
    )
    # values read from the environment or files are not part of the input digest (their hashes would leak)
    reads_values = bool(platform.secrets or platform.git.credentials)
    unchanged = state is not None and recorded_input_digest(state) == input_digest(render_inputs)
    if unchanged and not (request.force or request.restore or reads_values):
        # render is pure: the same inputs give the same files, so there is nothing to do
        return SeedPlan(str(repo_path), branch, head, tuple(PhasePlan(p) for p in PHASES), (), age_key=key)
    placements = loaded.placements
    needs = needed_secrets(platform, placements)
    secrets, pending = secret_inputs(platform, needs, current, request.spec_path, key)
    progress("rendering")
    rendered = render(replace(render_inputs, secrets=secrets), placements)
    progress("encrypting secrets")
    existing_secrets = _read_existing(repo_path, {p: current[p] for p in secrets if p in current})
    rendered_files = dict(rendered.tree)
    rendered_files.update(encrypt_secrets(secrets, existing_secrets, key))
    if key.recipients:
        rendered_files[".sops.yaml"] = render_config(key.recipients, secret_paths=(r"\.sops\.ya?ml$",))
    full_render = finish(render_inputs, rendered_files)
    progress("merging with the branch")
    next_tree = reseed_tree(repo_path, current, state, full_render, state_path=STATE_PATH, restore=request.restore)
    final = {**next_tree.existing, **git_blob_ids(next_tree.files)}
    change = compare_trees(current, final)
    state_status = Status.UNCHANGED if current.get(STATE_PATH) == final[STATE_PATH] else Status.REPLACED
    state_status = Status.ADDED if STATE_PATH not in current else state_status
    decisions = (*next_tree.decisions, Decision(STATE_PATH, state_status, final[STATE_PATH]))
    # keyed by phase number: hashing the Phase dataclass for every path of a big tree showed in profiles
    by_phase: dict[int, tuple[list[str], list[str], list[str]]] = {p.number: ([], [], []) for p in PHASES}
    for index, paths in enumerate((change.added, change.changed, change.removed)):
        for path in paths:
            by_phase[phase_of(path).number][index].append(path)
    statuses: dict[int, list[Decision]] = {p.number: [] for p in PHASES}
    for decision in sorted(decisions, key=lambda d: d.path):
        if decision.status is not Status.UNCHANGED:
            statuses[phase_of(decision.path).number].append(decision)
    phases: list[PhasePlan] = []
    for p in PHASES:
        added, changed, removed = by_phase[p.number]
        phases.append(PhasePlan(p, tuple(added), tuple(changed), tuple(removed), tuple(statuses[p.number])))
    render_files = full_render if next_tree.bases_outside_tree else None
    files, existing = next_tree.files, next_tree.existing
    return SeedPlan(
        str(repo_path), branch, head, tuple(phases), tuple(pending), files, existing, render_files, age_key=key
    )


def seed(request: SeedRequest, progress: Progress = _quiet) -> SeedResult:
    """Commit the render to the branch (one commit, ref moved by compare-and-swap); no change, no commit.

    Hand edits are kept or merged; when a merge conflicts, the result goes to CONFLICT_BRANCH instead and
    MergeConflictError names the files (the seeded branch is not touched).
    """
    plan = plan_seed(request, progress, create_key=True)
    if plan.empty and plan.base_commit is not None:
        return SeedResult(plan, None, _head_tree(Path(plan.repository), plan.branch))
    repo = git.open_repository(Path(plan.repository), create=True)
    progress("writing objects")
    tree_id = git.write_tree(repo, plan.new_files, existing=plan.kept_blobs)
    time = request.commit_time if request.commit_time is not None else _next_deterministic_time(repo, plan.base_commit)
    author = git.Signature(request.author[0], request.author[1], time)
    parents = [plan.base_commit] if plan.base_commit else []
    if plan.render_files is not None:
        # Kept, merged or deleted files leave part of this render out of the tree; a second parent holding the
        # whole render keeps those blobs reachable as the base of the next 3-way merge.
        render_tree = git.write_tree(repo, plan.render_files)
        parents.append(git.create_commit(repo, render_tree, [], RENDER_MESSAGE, author))
    commit = git.create_commit(repo, tree_id, parents, commit_message(plan), author)
    if plan.conflicts:
        _propose_conflicts(repo, plan, commit, tree_id)
    progress("moving the branch")
    git.move_branch(repo, plan.branch, commit, plan.base_commit, "gitops-engine seed")
    return SeedResult(plan, commit, tree_id)


def _propose_conflicts(repo: git.Repository, plan: SeedPlan, commit: str, tree_id: str) -> None:
    """Point CONFLICT_BRANCH at the merge with markers (unless it already holds that tree) and stop."""
    current = git.head_of(repo, CONFLICT_BRANCH)
    if current.tree == tree_id and current.commit is not None:
        commit = current.commit
    else:
        git.move_branch(repo, CONFLICT_BRANCH, commit, current.commit, "gitops-engine seed: merge conflicts")
    raise MergeConflictError(CONFLICT_BRANCH, commit, plan.conflicts, plan.repository)


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
    if plan.pending_secrets:
        lines += ["", "Pending secrets (not committed):"]
        lines += [f"- {s.namespace}/{s.name}: {s.purpose}" for s in plan.pending_secrets]
    return "\n".join(lines) + "\n"


def recorded_input_digest(state: bytes) -> str | None:
    """The input digest the last seed recorded (read without parsing the whole, large, file)."""
    match = _INPUT_DIGEST.search(state, 0, 4096)
    return match.group(1).decode() if match else None


def _repository_path(request: SeedRequest, loaded: LoadedSpec) -> Path:
    target = parse_target(
        request.repository or loaded.platform.git.repository,
        "--repo" if request.repository else f"{loaded.filename}:{loaded.document.line_of(('git', 'repository'))}",
    )
    if not isinstance(target, LocalTarget):
        raise InputError(
            f"{redacted(target.url)}: remote targets are pushed through `git`; this build seeds local repositories only"
        )
    path = target.path
    return path if path.is_absolute() or request.repository else request.spec_path.parent / path


def _branch_state(repo_path: Path, branch: str) -> tuple[str | None, dict[str, str], bytes | None]:
    """(head commit, path → blob id of its tree, provenance file) of the branch; empty when it doesn't exist."""
    if not repo_path.exists():
        return None, {}, None
    repo = git.open_repository(repo_path, create=False)
    head = git.head_of(repo, branch)
    return head.commit, git.list_blobs(repo, head.tree), git.read_file(repo, head.tree, STATE_PATH)


def _read_existing(repo_path: Path, blobs: Mapping[str, str]) -> dict[str, bytes]:
    if not blobs:
        return {}
    return git.read_blobs(git.open_repository(repo_path, create=False), blobs)


def _head_tree(repo_path: Path, branch: str) -> str:
    tree = git.head_of(git.open_repository(repo_path, create=False), branch).tree
    assert tree is not None
    return tree


def _next_deterministic_time(repo: git.Repository, parent: str | None) -> int:
    """One second after the parent (or the fixed epoch): reproducible, and still ordered in `git log`."""
    return DETERMINISTIC_EPOCH if parent is None else git.commit_time(repo, parent) + 1
