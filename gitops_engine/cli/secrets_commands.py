"""`gitops-engine secrets …`: keygen, encrypt, decrypt, updatekeys, rotate — one file, or a repository branch."""

from __future__ import annotations

from pathlib import Path

import click

from gitops_engine.app import secrets as app
from gitops_engine.cli.targets import age_key_option
from gitops_engine.core.errors import InputError

_AGE = click.option("--age", "recipients", multiple=True, help="Age recipient (repeatable); default: .sops.yaml.")
_REPO = click.option("--repo", type=click.Path(path_type=Path), help="Apply to every matching file of a repository.")
_BRANCH = click.option("--branch", default="main", show_default=True, help="Branch to commit to with --repo.")
_IN_PLACE = click.option("-i", "--in-place", is_flag=True, help="Rewrite FILE instead of printing to stdout.")


@click.group("secrets")
def secrets_group() -> None:
    """SOPS/age secrets: keys, encryption, rotation."""


@secrets_group.command("keygen")
@click.argument("output", type=click.Path(path_type=Path))
def keygen(output: Path) -> None:
    """Write a new age identity to OUTPUT (mode 0600) and print only its recipient."""
    click.echo(app.keygen(output))


def _run(
    action: app.Action,
    file: Path | None,
    repo: Path | None,
    branch: str,
    recipients: tuple[str, ...],
    in_place: bool,
    age_key: Path | None,
) -> int:
    if (file is None) == (repo is None):
        raise InputError("give either FILE or --repo PATH")
    if repo is not None:
        result = app.run_repo(action, repo, branch, recipients, age_key=age_key)
        if result.commit is None:
            click.echo("nothing to change" if not result.failures else "nothing changed")
        else:
            click.echo(f"committed {result.commit[:12]} on {branch}: {len(result.changed)} file(s)")
        for reason in result.failures.values():
            click.echo(f"not changed: {reason}", err=True)
        return 1 if result.failures else 0
    assert file is not None
    output = app.run_file(action, file, recipients, age_key)
    if in_place:
        file.write_bytes(output)
        click.echo(f"{action.value}: wrote {file}", err=True)
    else:
        click.echo(output.decode(), nl=False)
    return 0


def _file_command(action: app.Action, help_text: str) -> click.Command:
    @click.argument("file", required=False, type=click.Path(path_type=Path))
    @_AGE
    @_REPO
    @_BRANCH
    @_IN_PLACE
    @age_key_option
    def command(
        file: Path | None,
        recipients: tuple[str, ...],
        repo: Path | None,
        branch: str,
        in_place: bool,
        age_key: Path | None,
    ) -> int:
        return _run(action, file, repo, branch, recipients, in_place, age_key)

    command.__doc__ = help_text
    return secrets_group.command(action.value, help=help_text)(command)


_file_command(app.Action.ENCRYPT, "Encrypt FILE (or every file .sops.yaml covers with --repo) for age recipients.")
_file_command(app.Action.DECRYPT, "Decrypt FILE to stdout (or in place with -i); the MAC is always verified.")
_file_command(app.Action.UPDATEKEYS, "Re-wrap the data key for the recipients in .sops.yaml (or --age); values kept.")
_file_command(app.Action.ROTATE, "Re-encrypt everything under a new data key.")

COMMANDS: list[click.Command] = [secrets_group]
