"""Commands of the seed engine: init, plan, seed."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
