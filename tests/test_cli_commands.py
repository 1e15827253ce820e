"""Every command listed in the lazy table exists in its module under that name."""

from __future__ import annotations

import importlib

from gitops_engine.cli.main import COMMAND_MODULES


def test_every_listed_command_is_defined_where_the_table_says() -> None:
    defined: dict[str, str] = {}
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(f"gitops_engine.cli.{module_name}")
        for command in module.COMMANDS:
            assert command.name is not None
            defined[command.name] = module_name
    assert defined == COMMAND_MODULES
