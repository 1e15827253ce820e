"""A seeded example fleet that tests edit by hand, re-seed and inspect."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitops_engine.adapters import git
from gitops_engine.app.seed import SeedRequest, builtin_catalog_dir, seed
from gitops_engine.core.hashing import git_blob_id
from gitops_engine.model.state import STATE_PATH, decode
from gitops_engine.reseed.decide import is_encrypted
from tests.seed.helpers import write_example

TRAEFIK_OLD, TRAEFIK_NEW = "33.2.1", "33.2.2"
_HUMAN = git.Signature("human", "human@example.invalid", 1_900_000_000)


@dataclass(frozen=True)
class Fleet:
    """The example spec in `root`, seeded into `root/fleet.git`."""

    root: Path

    @property
    def spec(self) -> Path:
        """The platform spec."""
        return self.root / "platform.yaml"

    @property
    def repo(self) -> git.Repository:
        """The seeded bare repository."""
        return git.open_repository(self.root / "fleet.git", create=False)

    def head(self, branch: str = "main") -> git.BranchHead:
        """Commit and tree of `branch`."""
        return git.head_of(self.repo, branch)

    def files(self, branch: str = "main") -> dict[str, bytes]:
        """Every file of `branch`."""
        return dict(git.read_tree(self.repo, self.head(branch).tree))

    def edit(self, change: Callable[[dict[str, bytes]], None], message: str = "hand edit") -> str:
        """Commit a hand edit of main's files the way an engineer would (one commit on top of main)."""
        repo, head = self.repo, self.head()
        files = self.files()
        change(files)
        tree = git.write_tree(repo, files)
        commit = git.create_commit(repo, tree, [head.commit or ""], message, _HUMAN)
        git.move_branch(repo, "main", commit, head.commit, "human")
        return commit

    def replace_in(self, path: str, old: str, new: str) -> None:
        """Hand-edit one file: replace `old` (which must be there) by `new`."""

        def change(files: dict[str, bytes]) -> None:
            text = files[path].decode()
            assert old in text, f"{old!r} not in {path}"
            files[path] = text.replace(old, new).encode()

        self.edit(change, f"hand edit of {path}")

    def change_spec(self, old: str, new: str) -> None:
        """Edit the platform spec text (`old` must be there)."""
        text = self.spec.read_text()
        assert old in text, old
        self.spec.write_text(text.replace(old, new))

    def bump_traefik(self) -> None:
        """Add traefik 33.2.2 in a user catalog (`catalog.paths`) and pin both workspaces to it."""
        target = self.root / "extra-catalog" / "traefik" / TRAEFIK_NEW
        target.parent.mkdir(parents=True)
        shutil.copytree(builtin_catalog_dir() / "traefik" / TRAEFIK_OLD, target)
        for item in target.iterdir():
            item.write_text(item.read_text().replace(TRAEFIK_OLD, TRAEFIK_NEW))
        self.change_spec("catalog:\n  repositories:", "catalog:\n  paths:\n    - ./extra-catalog\n  repositories:")
        for workspace in ("management", "team-a"):
            self.change_spec(
                f"{{app: traefik, workspace: {workspace}}}",
                f'{{app: traefik, workspace: {workspace}, version: "{TRAEFIK_NEW}"}}',
            )


def seeded_fleet(root: Path) -> Fleet:
    """Write the example spec in `root` and seed it."""
    root.mkdir(parents=True, exist_ok=True)
    write_example(root)
    fleet = Fleet(root)
    assert seed(SeedRequest(fleet.spec)).commit is not None
    return fleet


def recorded_state(files: Mapping[str, bytes]) -> dict[str, dict[str, str]]:
    """`files` and `deletedByUser` of the provenance file in `files`."""
    state = decode(files[STATE_PATH], STATE_PATH)
    return {"files": dict(state.files), "deleted": dict(state.deleted)}


def pure_render(fleet: Fleet, scratch: Path) -> dict[str, bytes]:
    """What the engine renders for the fleet's current spec, seeded alone into a fresh repository."""
    target = scratch / f"pure-{len(list(scratch.glob('pure-*')))}.git"
    result = seed(SeedRequest(fleet.spec, repository=str(target), create=True))
    return dict(git.read_tree(git.open_repository(target, create=False), result.tree))


def assert_provenance_matches(fleet: Fleet, scratch: Path, branch: str = "main") -> None:
    """Every rendered path is recorded (in files when in the tree, else as deleted) with the engine's blob id."""
    tree = fleet.files(branch)
    state = recorded_state(tree)
    render = pure_render(fleet, scratch)
    recorded = {**state["files"], **state["deleted"]}
    assert set(recorded) == set(render) - {STATE_PATH}
    # ciphertext differs between two encryptions of the same Secret, so encrypted files are compared in the tree
    for path, data in render.items():
        if path != STATE_PATH and not (is_encrypted(path) and path not in tree):
            expected = git_blob_id(tree[path] if is_encrypted(path) else data)
            assert recorded[path] == expected, path
    assert set(state["files"]) <= set(tree), "a recorded file is missing from the tree"
    assert not set(state["deleted"]) & set(tree), "a file recorded as deleted is in the tree"
