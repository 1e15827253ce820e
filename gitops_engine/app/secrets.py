"""Secrets use cases: keygen, and encrypt/decrypt/updatekeys/rotate for one file or a whole repository branch."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from gitops_engine.adapters.agekeys import all_identities, find_config, write_identity
from gitops_engine.adapters.git import (
    Signature,
    create_commit,
    head_of,
    move_branch,
    open_repository,
    read_tree,
    write_tree,
)
from gitops_engine.core.errors import InputError
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.creation_rules import SopsConfig, parse_config
from gitops_engine.secrets.guard import plaintext_violations
from gitops_engine.secrets.recipients import rewrap
from gitops_engine.secrets.selection import Selection
from gitops_engine.secrets.stores import Format


class Action(StrEnum):
    """What to do to each file."""

    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    UPDATEKEYS = "updatekeys"
    ROTATE = "rotate"


@dataclass(frozen=True)
class RepoResult:
    """The outcome of a whole-repository run: the files changed, the new commit (None if nothing changed) and
    the files that could not be changed, with why."""

    changed: tuple[str, ...]
    commit: str | None
    failures: Mapping[str, str] = field(default_factory=dict)


def keygen(path: Path) -> str:
    """Write a new identity to `path` (mode 0600) and return only its recipient."""
    return write_identity(path)


def _config_near(path: Path) -> tuple[SopsConfig, str] | None:
    found = find_config(path.parent if not path.is_dir() else path)
    if found is None:
        return None
    relative = path.resolve().relative_to(found.parent.resolve()).as_posix()
    return parse_config(found.read_bytes(), str(found)), relative


def _transform(
    action: Action,
    data: bytes,
    path: str,
    rule_source: tuple[SopsConfig, str] | None,
    recipients: tuple[str, ...],
    age_key: Path | None,
) -> bytes:
    fmt = Format.for_path(path)
    if action is Action.DECRYPT:
        return sopsfile.decrypt(data, fmt, all_identities(key_file=age_key), path)
    rule = rule_source[0].rule_for(rule_source[1]) if rule_source else None
    targets = recipients or (rule.age if rule else ())
    indent = rule_source[0].yaml_indent if rule_source else 4
    if action is Action.ENCRYPT:
        if not targets:
            raise InputError(f"{path}: no recipients: pass --age age1… or add a matching rule to .sops.yaml")
        selection = rule.selection if rule else Selection()
        return sopsfile.encrypt(data, fmt, targets, selection, indent=indent, where=path)
    if action is Action.UPDATEKEYS:
        if not targets:
            raise InputError(f"{path}: no creation rule in .sops.yaml matches it (add one, or pass --age)")
        return sopsfile.updatekeys(data, fmt, all_identities(key_file=age_key), targets, path)
    return sopsfile.rotate(data, fmt, all_identities(key_file=age_key), targets or None, where=path)


def run_file(action: Action, path: Path, recipients: tuple[str, ...] = (), age_key: Path | None = None) -> bytes:
    """The transformed bytes of one file (the caller decides where they go; plaintext is never written here).

    `age_key` is tried first, then the identities adapters.agekeys discovers."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return _transform(action, path.read_bytes(), str(path), _config_near(path), recipients, age_key)


def run_repo(
    action: Action,
    repo_path: Path,
    branch: str,
    recipients: tuple[str, ...] = (),
    message: str | None = None,
    clock: Callable[[], float] = time.time,
    age_key: Path | None = None,
) -> RepoResult:
    """Apply `action` to every file the root `.sops.yaml` covers and commit the result as one commit."""
    if action is Action.DECRYPT:
        raise InputError("--repo decrypt would commit plaintext; decrypt single files instead")
    repo = open_repository(repo_path, create=False)
    head = head_of(repo, branch)
    if head.commit is None:
        raise InputError(f"{repo_path}: branch {branch!r} does not exist")
    tree = read_tree(repo, head.tree)
    raw_config = tree.get(".sops.yaml")
    if raw_config is None:
        raise InputError(f"{repo_path}: no .sops.yaml at the root of {branch!r} (the seed writes one)")
    config = parse_config(raw_config, f"{branch}:.sops.yaml")
    updated = dict(tree)
    failures: Mapping[str, str] = {}
    if action is Action.UPDATEKEYS:
        # only files whose recipients differ are opened, so up-to-date files need no key and stay as they are
        result = rewrap(tree, config, lambda: all_identities(key_file=age_key), recipients)
        updated.update(result.files)
        changed = sorted(result.files)
        failures = result.failures
    else:
        changed = [
            path for path in sorted(tree)
            if path != ".sops.yaml" and config.rule_for(path) is not None
            and _apply(action, path, tree[path], config, recipients, updated, age_key)
        ]  # fmt: skip
    if not changed:
        return RepoResult((), None, failures)
    tree_id = write_tree(repo, updated, guard=plaintext_violations)
    now = int(clock())
    signature = Signature("gitops-engine", "gitops-engine@localhost", now)
    summary = message or f"secrets {action.value}: {len(changed)} file{'s' if len(changed) != 1 else ''}"
    commit = create_commit(repo, tree_id, [head.commit], summary, signature)
    move_branch(repo, branch, commit, head.commit, summary)
    return RepoResult(tuple(changed), commit, failures)


def _apply(
    action: Action,
    path: str,
    data: bytes,
    config: SopsConfig,
    recipients: tuple[str, ...],
    updated: dict[str, bytes],
    age_key: Path | None,
) -> bool:
    # encrypt only plaintext files; updatekeys/rotate only encrypted ones
    if _looks_encrypted(data, path) == (action is Action.ENCRYPT):
        return False
    result = _transform(action, data, path, (config, path), recipients, age_key)
    if result == data:
        return False
    updated[path] = result
    return True


def _looks_encrypted(data: bytes, path: str) -> bool:
    return not plaintext_violations({path: data, ".sops.yaml": b"creation_rules: [{}]"})
