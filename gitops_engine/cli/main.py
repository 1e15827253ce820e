"""Entry point: the command group and the one place errors become exit codes.

Exit codes: 0 success (or nothing to do), 1 an operation failed or checks found errors,
2 bad input (spec, catalog, flags) — nothing was written.
"""

from __future__ import annotations

import sys

import click

from gitops_engine import __version__
from gitops_engine.cli import currency_commands, reconcile_commands, secrets_commands, seed_commands, validate_commands
from gitops_engine.core.errors import GitopsError, InputError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "GITOPS_ENGINE"})
@click.version_option(__version__, prog_name="gitops-engine")
def cli() -> None:
    """Seed, check and keep current the Git repository a Flux fleet is driven from."""


def _register() -> None:
    # Each command group lives in its own module; they are listed here so the set of commands is explicit.
    for module in (seed_commands, reconcile_commands, currency_commands, secrets_commands, validate_commands):
        for command in module.COMMANDS:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (also used in-process by tests)."""
    _register()
    try:
        result = cli.main(args=argv, prog_name="gitops-engine", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_FAILED
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT if isinstance(exc, click.UsageError | click.BadParameter) else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except InputError as exc:
        for line in exc.lines:
            click.echo(f"error: {line}", err=True)
        return EXIT_BAD_INPUT
    except GitopsError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    return result if isinstance(result, int) else EXIT_OK


def entry() -> None:
    """Console-script entry."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
