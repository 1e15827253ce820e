"""The Gitea fixtures of tests/forge, for the Gitea fault tests here."""

from __future__ import annotations

from tests.forge.conftest import contract, gitea, tokens

__all__ = ["contract", "gitea", "tokens"]
