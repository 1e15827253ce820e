"""The options every command that reads or writes a fleet repository shares: the repository, its forge, the age
identity that opens its encrypted files, and verification."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gitops_engine.adapters.targets import SecretSource, Target, gitea_repository, parse_target
from gitops_engine.core.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


AGE_KEY_HELP = (
    "age identity file tried first; then SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, "
    "~/.config/sops/age/keys.txt and the keys seed writes (~/.config/gitops-engine/age/*.agekey)."
)


def age_key_option(function: F) -> F:
    """`--age-key FILE`: the identity tried before those adapters.agekeys discovers (one order for every command
    that opens encrypted files)."""
    return click.option("--age-key", type=click.Path(path_type=Path), help=AGE_KEY_HELP)(function)


def forge_options(function: F) -> F:
    """`--gitea-token-env` / `--gitea-token-file`: the --repo URL is a Gitea repository, reached with that token
    (pull requests, comments and the dashboard issue go through its API)."""
    function = click.option(
        "--gitea-token-file",
        type=click.Path(path_type=Path),
        help="File holding a Gitea token: --repo is then a Gitea repository (PRs through its API).",
    )(function)
    return click.option(
        "--gitea-token-env",
        metavar="VAR",
        help="Environment variable holding a Gitea token: --repo is then a Gitea repository.",
    )(function)


def resolve_target(repo: str, gitea_token_env: str | None, gitea_token_file: Path | None) -> Target:
    """The target --repo names, as a Gitea repository when a token option is given."""
    if gitea_token_env and gitea_token_file:
        raise InputError("--gitea-token-env and --gitea-token-file: give one of them")
    if gitea_token_env:
        return gitea_repository(repo, SecretSource("--gitea-token-env", env=gitea_token_env))
    if gitea_token_file:
        return gitea_repository(repo, SecretSource("--gitea-token-file", file=gitea_token_file))
    return parse_target(repo, "--repo")


def verify_option(function: F) -> F:
    """`--no-verify`: commit even when `validate` would report new errors (as git's own flag)."""
    return click.option(
        "--no-verify",
        "no_verify",
        is_flag=True,
        help="Commit even if validate would report errors the change introduces (checked by default).",
    )(function)
