"""The seed use case: load spec and catalog, render, compare with the branch, commit atomically."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gitops_engine import __version__
from gitops_engine.adapters import fs, git
from gitops_engine.catalog.loader import CatalogSource, load_catalog
from gitops_engine.core.errors import InputError
from gitops_engine.core.hashing import git_blob_id, sha256_hex
from gitops_engine.model.catalog import Catalog
from gitops_engine.model.tree import compare_trees
from gitops_engine.render.checks import check_spec_against_catalog
from gitops_engine.render.fleet import STATE_PATH, PendingSecret, RenderInputs, input_digest, render
from gitops_engine.render.phases import PHASES, Phase, phase_of
from gitops_engine.spec.loader import LoadedSpec, load_platform

# A fixed, recognisable time for the first commit when no clock is asked for: commits stay reproducible.
DETERMINISTIC_EPOCH = 946684800  # 2000-01-01T00:00:00Z
DEFAULT_AUTHOR = ("gitops-engine", "gitops-engine@localhost")
_INPUT_DIGEST = re.compile(rb"^inputDigest: ([0-9a-f]{64})$", re.M)

Progress = Callable[[str], None]


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


@dataclass(frozen=True)
class PhasePlan:
    """Files one installer phase adds, changes and removes."""

    phase: Phase
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


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

    @property
    def empty(self) -> bool:
        """True when the branch already holds exactly this render."""
        return not any(p.added or p.changed or p.removed for p in self.phases)


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
    problems = check_spec_against_catalog(loaded, catalog)
    if problems:
        raise InputError(problems)
    digest = sha256_hex(
        b"".join(sha256_hex(p.encode() + b"\0" + d).encode() for s in sources for p, d in sorted(s.files.items()))
    )
    return LoadedInputs(loaded, catalog, sha256_hex(text), digest)


def plan_seed(request: SeedRequest, progress: Progress = _quiet) -> SeedPlan:
    """Render and compare with the branch; writes nothing."""
    progress("loading platform spec and catalog")
    loaded = load_spec_and_catalog(request.spec_path)
    platform = loaded.spec.platform
    repo_path = _repository_path(request, loaded.spec)
    branch = request.branch or platform.git.branch
    render_inputs = RenderInputs(
        platform=platform,
        catalog=loaded.catalog,
        engine_version=__version__,
        spec_digest=loaded.spec_digest,
        catalog_digest=loaded.catalog_digest,
        age_recipients=platform.age_recipients,
    )
    progress("reading the branch")
    head, current, state = _branch_state(repo_path, branch)
    if state is not None and recorded_input_digest(state) == input_digest(render_inputs) and not request.force:
        # render is pure: the same inputs give the same files, so there is nothing to do
        return SeedPlan(str(repo_path), branch, head, tuple(PhasePlan(p) for p in PHASES), ())
    progress("rendering")
    rendered = render(render_inputs)
    managed = managed_paths(state)
    kept = {p: blob for p, blob in current.items() if p not in managed and p not in rendered.tree}
    final = {**kept, **{p: git_blob_id(d) for p, d in rendered.tree.items()}}
    change = compare_trees(current, final)
    by_phase: dict[Phase, tuple[list[str], list[str], list[str]]] = {p: ([], [], []) for p in PHASES}
    for index, paths in enumerate((change.added, change.changed, change.removed)):
        for path in paths:
            by_phase[phase_of(path)][index].append(path)
    phases = tuple(PhasePlan(p, tuple(a), tuple(c), tuple(r)) for p, (a, c, r) in by_phase.items())
    return SeedPlan(str(repo_path), branch, head, phases, rendered.pending_secrets, rendered.tree, kept)


def seed(request: SeedRequest, progress: Progress = _quiet) -> SeedResult:
    """Commit the render to the branch (one commit, ref moved by compare-and-swap); no change, no commit."""
    plan = plan_seed(request, progress)
    if plan.empty and plan.base_commit is not None:
        return SeedResult(plan, None, _head_tree(Path(plan.repository), plan.branch))
    repo = git.open_repository(Path(plan.repository), create=True)
    progress("writing objects")
    tree_id = git.write_tree(repo, plan.new_files, existing=plan.kept_blobs)
    time = request.commit_time if request.commit_time is not None else _next_deterministic_time(repo, plan.base_commit)
    author = git.Signature(request.author[0], request.author[1], time)
    parents = [plan.base_commit] if plan.base_commit else []
    commit = git.create_commit(repo, tree_id, parents, commit_message(plan), author)
    progress("moving the branch")
    git.move_branch(repo, plan.branch, commit, plan.base_commit, "gitops-engine seed")
    return SeedResult(plan, commit, tree_id)


def commit_message(plan: SeedPlan) -> str:
    """Subject plus one line per phase that changed files."""
    lines = ["gitops-engine seed", ""]
    for p in plan.phases:
        if p.added or p.changed or p.removed:
            lines.append(f"{p.phase.number:2d}. {p.phase.title}: +{len(p.added)} ~{len(p.changed)} -{len(p.removed)}")
    if plan.pending_secrets:
        lines += ["", "Pending secrets (not committed):"]
        lines += [f"- {s.namespace}/{s.name}: {s.purpose}" for s in plan.pending_secrets]
    return "\n".join(lines) + "\n"


def managed_paths(state: bytes | None) -> frozenset[str]:
    """Paths the engine wrote last time, from the provenance file (empty for a repository it never seeded)."""
    if state is None:
        return frozenset()
    try:
        parsed = yaml.load(state, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return frozenset({STATE_PATH})
    files = parsed.get("files") if isinstance(parsed, dict) else None
    return frozenset(files) | {STATE_PATH} if isinstance(files, dict) else frozenset({STATE_PATH})


def recorded_input_digest(state: bytes) -> str | None:
    """The input digest the last seed recorded (read without parsing the whole, large, file)."""
    match = _INPUT_DIGEST.search(state, 0, 4096)
    return match.group(1).decode() if match else None


def _repository_path(request: SeedRequest, loaded: LoadedSpec) -> Path:
    target = request.repository or loaded.platform.git.repository
    if target.startswith("file://"):
        return Path(target.removeprefix("file://"))
    if "://" in target or ("@" in target and ":" in target):
        raise InputError(f"{target}: remote targets are pushed through `git`; this build seeds local repositories only")
    path = Path(target)
    return path if path.is_absolute() or request.repository else request.spec_path.parent / path


def _branch_state(repo_path: Path, branch: str) -> tuple[str | None, dict[str, str], bytes | None]:
    """(head commit, path → blob id of its tree, provenance file) of the branch; empty when it doesn't exist."""
    if not repo_path.exists():
        return None, {}, None
    repo = git.open_repository(repo_path, create=False)
    head = git.head_of(repo, branch)
    return head.commit, git.list_blobs(repo, head.tree), git.read_file(repo, head.tree, STATE_PATH)


def _head_tree(repo_path: Path, branch: str) -> str:
    tree = git.head_of(git.open_repository(repo_path, create=False), branch).tree
    assert tree is not None
    return tree


def _next_deterministic_time(repo: git.Repository, parent: str | None) -> int:
    """One second after the parent (or the fixed epoch): reproducible, and still ordered in `git log`."""
    return DETERMINISTIC_EPOCH if parent is None else git.commit_time(repo, parent) + 1
