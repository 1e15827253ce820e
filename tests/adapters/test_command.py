"""The one place commands run: what a child's environment holds."""

from __future__ import annotations

import pytest

from gitops_engine.adapters.command import Command, run
from gitops_engine.adapters.targets import SecretSource

SHOW = 'printf %s "${TEST_WITHHELD_TOKEN-unset}"'


def test_a_variable_a_secret_was_read_from_reaches_no_child_unless_a_command_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_WITHHELD_TOKEN", "planted-token-value")
    assert run(Command(("sh", "-c", SHOW))).stdout == b"planted-token-value"

    assert SecretSource("platform.yaml:7", env="TEST_WITHHELD_TOKEN").read() == "planted-token-value"

    assert run(Command(("sh", "-c", SHOW))).stdout == b"unset"
    handed = Command(("sh", "-c", SHOW), env={"TEST_WITHHELD_TOKEN": "given on purpose"})
    assert run(handed).stdout == b"given on purpose"
