"""Each kind of tampering is its own clear error and returns no plaintext; Flux-shaped data decrypts."""

from __future__ import annotations

import base64
import re

import pytest

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity, parse_identities
from gitops_engine.secrets.errors import (
    CiphertextDamagedError,
    MacMismatchError,
    NoMatchingKeyError,
    NotSopsError,
    PlaintextLeafError,
    UnsupportedKeyError,
    ValueMovedError,
)
from gitops_engine.secrets.stores import Format
from tests.secrets.conftest import K8S

SECRET = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  username: admin
  password: hunter2
"""


@pytest.fixture
def sealed() -> tuple[bytes, str]:
    secret, recipient = generate_identity()
    return sopsfile.encrypt_yaml(SECRET, [recipient]), secret


def _value_line(data: bytes, key: str) -> bytes:
    match = re.search(rb"(?m)^  " + key.encode() + rb": (ENC\[.*\])$", data)
    assert match
    return match.group(1)


def test_flipped_ciphertext_byte(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    value = _value_line(data, "password")
    raw = bytearray(base64.b64decode(re.search(rb"data:([^,]+)", value).group(1)))  # type: ignore[union-attr]
    raw[0] ^= 1
    damaged = value.replace(re.search(rb"data:([^,]+)", value).group(1), base64.b64encode(bytes(raw)))  # type: ignore[union-attr]
    with pytest.raises(CiphertextDamagedError, match=r"stringData\.password"):
        sopsfile.decrypt(data.replace(value, damaged), Format.YAML, [secret])


def test_dropped_leaf(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    dropped = re.sub(rb"(?m)^  username: .*\n", b"", data)
    with pytest.raises(MacMismatchError):
        sopsfile.decrypt(dropped, Format.YAML, [secret])


def test_added_leaf(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    added = data.replace(b"stringData:\n", b"stringData:\n  extra: injected\n")
    with pytest.raises(PlaintextLeafError, match=r"stringData\.extra"):
        sopsfile.decrypt(added, Format.YAML, [secret])


def test_swapped_values(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    user, password = _value_line(data, "username"), _value_line(data, "password")
    swapped = data.replace(user, b"@@").replace(password, user).replace(b"@@", password)
    with pytest.raises(ValueMovedError, match="swapped"):
        sopsfile.decrypt(swapped, Format.YAML, [secret])


def test_wrong_identity(sealed: tuple[bytes, str]) -> None:
    data, _ = sealed
    with pytest.raises(NoMatchingKeyError):
        sopsfile.decrypt(data, Format.YAML, [generate_identity()[0]])


def test_a_value_whose_type_was_changed_is_refused_at_its_line(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    value = _value_line(data, "password")
    retyped = data.replace(value, value.replace(b"type:str]", b"type:int]"))
    with pytest.raises(CiphertextDamagedError) as refused:
        sopsfile.decrypt(retyped, Format.YAML, [secret], "s.yaml")
    assert str(refused.value) == (
        "s.yaml:7: value at stringData.password does not read as the type its ENC[…] names (int): the type was "
        "changed (restore the file from git)"
    )


def test_a_changed_mac_is_reported_at_the_line_of_sops_mac(sealed: tuple[bytes, str]) -> None:
    data, secret = sealed
    lines = data.split(b"\n")
    number = next(index for index, line in enumerate(lines, 1) if line.startswith(b"  mac: ENC["))
    lines[number - 1] = lines[number - 1].replace(b"data:", b"data:AAAA", 1)
    with pytest.raises(CiphertextDamagedError) as refused:
        sopsfile.decrypt(b"\n".join(lines), Format.YAML, [secret], "s.yaml")
    assert str(refused.value).startswith(f"s.yaml:{number}: sops.mac fails authentication")


def test_errors_are_distinct_classes() -> None:
    kinds = {CiphertextDamagedError, MacMismatchError, PlaintextLeafError, ValueMovedError, NoMatchingKeyError}
    assert len(kinds) == 5 and not any(a is not b and issubclass(a, b) for a in kinds for b in kinds)


FLUX = [
    ("algorithms/age.yaml", "age.txt"),
    ("global/secret.yaml", "age-global.txt"),
    ("patches/merge1.yaml", "age.txt"),
    ("patches/merge2.yaml", "age.txt"),
    ("envs/env.env", "age.txt"),
    ("component/env.env", "age.txt"),
    ("remote/env.env", "age.txt"),
    ("files/file.txt", "age.txt"),
]


@pytest.mark.parametrize(("name", "key"), FLUX)
def test_flux_testdata_decrypts_with_its_keys(name: str, key: str) -> None:
    ids = parse_identities((K8S / "keys" / key).read_text())
    plain = sopsfile.decrypt((K8S / name).read_bytes(), Format.for_path(name), ids, name)
    assert plain and b"ENC[" not in plain and b"sops" not in plain


def test_post_quantum_flux_file_is_a_clear_unsupported_error() -> None:
    ids = parse_identities((K8S / "keys" / "age-pq.txt").read_text())
    with pytest.raises(UnsupportedKeyError, match="post-quantum"):
        sopsfile.decrypt((K8S / "algorithms/age-pq.yaml").read_bytes(), Format.YAML, ids)


def test_decrypt_of_plaintext_file_names_the_fix() -> None:
    with pytest.raises(NotSopsError, match="secrets encrypt"):
        sopsfile.decrypt(SECRET, Format.YAML, [], "plain.yaml")
