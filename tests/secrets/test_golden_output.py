"""Files written before the performance work still decrypt to the same plaintext and re-emit byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import parse_identities
from gitops_engine.secrets.stores import Format
from tests.secrets.conftest import VECTORS

GOLDEN = Path(__file__).parent / "golden"
NAMES = sorted(p.name.removesuffix(".sops.yaml") for p in GOLDEN.glob("*.sops.yaml"))


def _identities() -> list[str]:
    return parse_identities((VECTORS / "kustomize-controller" / "age.agekey").read_text())


def test_every_golden_has_its_plaintext() -> None:
    assert len(NAMES) == 4
    assert all((GOLDEN / f"{name}.plain.yaml").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_golden_decrypts_to_its_plaintext(name: str) -> None:
    encrypted = (GOLDEN / f"{name}.sops.yaml").read_bytes()
    plain = sopsfile.decrypt(encrypted, Format.YAML, _identities(), name)
    assert plain == (GOLDEN / f"{name}.plain.yaml").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_golden_reemits_byte_identical(name: str) -> None:
    encrypted = (GOLDEN / f"{name}.sops.yaml").read_bytes()
    opened = sopsfile.open_encrypted(encrypted, Format.YAML, _identities(), name)
    assert sopsfile.reencrypt(opened, Format.YAML) == encrypted
