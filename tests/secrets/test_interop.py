"""Files we encrypt decrypt in an independent implementation (node oracle) and their stanzas in Debian's `age`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.aes import decrypt_value
from gitops_engine.secrets.agekeys import dearmor
from gitops_engine.secrets.selection import Selection
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import to_plain

YAML_PLAIN = b"""\
# top-level comment
app:
    db:
        user: alice
        password: s3cr3t # inline comment
        port: 5432
        ratio: 0.75
        enabled: true
    hosts:
        - a.example
        - b.example
    nested:
        deeper:
            empty: ""
            nothing: null
big: 1234568000.0
key: |
    line one
    line two
"""

MULTI_DOC = b"""\
apiVersion: v1
kind: Secret
metadata:
    name: one
stringData:
    password: first
---
apiVersion: v1
kind: Secret
metadata:
    name: two
data:
    token: c2Vjb25k
"""


def _oracle(path: Path, key_file: Path, oracle: Path) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(["node", str(oracle), str(path), str(key_file)], capture_output=True, timeout=60, check=False)
    return proc.returncode, json.loads(proc.stdout or b"{}")


@pytest.mark.parametrize(
    ("name", "plaintext", "fmt"),
    [
        ("nested.yaml", YAML_PLAIN, Format.YAML),
        (
            "doc.json",
            b'{"user": "bob", "n": 7, "f": 2.5, "ok": false, "list": [1, "x"], "obj": {"k": "v"}}',
            Format.JSON,
        ),
    ],
)
def test_oracle_verifies_mac_of_our_files(
    tmp_path: Path, identity: tuple[str, str, Path], oracle: Path, name: str, plaintext: bytes, fmt: Format
) -> None:
    _, recipient, key_file = identity
    path = tmp_path / name
    path.write_bytes(sopsfile.encrypt(plaintext, fmt, [recipient]))
    code, result = _oracle(path, key_file, oracle)
    assert code == 0 and result["macOk"] is True
    ours = sopsfile.decrypt(path.read_bytes(), fmt, [identity[0]])
    assert json.loads(json.dumps(result["data"])) == _plain(ours, fmt)


def _plain(data: bytes, fmt: Format) -> object:
    return to_plain(sopsfile.parse_plain(data, fmt, "x")[0])


def test_oracle_reads_every_document_of_a_multi_document_file(
    tmp_path: Path, identity: tuple[str, str, Path], oracle: Path
) -> None:
    _, recipient, key_file = identity
    path = tmp_path / "secrets.sops.yaml"
    path.write_bytes(sopsfile.encrypt_yaml(MULTI_DOC, [recipient]))
    code, result = _oracle(path, key_file, oracle)
    documents = result["documents"]
    assert isinstance(documents, list)
    assert [d["data"]["metadata"]["name"] for d in documents] == ["one", "two"]
    assert documents[0]["data"]["stringData"] == {"password": "first"}
    # sops hashes the leaves of all documents into one MAC; the oracle checks each document alone, so it
    # reports 3 for any multi-document sops file. Recompute sops's MAC from the oracle's own plaintext instead.
    assert code == 3
    leaves = [b"v1", b"Secret", b"one", b"first", b"v1", b"Secret", b"two", b"c2Vjb25k"]
    opened = sopsfile.open_encrypted(path.read_bytes(), Format.YAML, [identity[0]])
    stored, _ = decrypt_value(opened.data_key, opened.metadata.mac, opened.metadata.lastmodified)
    assert stored == hashlib.sha512(b"".join(leaves)).hexdigest().upper()


def test_oracle_verifies_single_secret_with_encrypted_regex(
    tmp_path: Path, identity: tuple[str, str, Path], oracle: Path
) -> None:
    _, recipient, key_file = identity
    path = tmp_path / "one.sops.yaml"
    path.write_bytes(sopsfile.encrypt_yaml(MULTI_DOC.split(b"---\n")[0], [recipient]))
    code, result = _oracle(path, key_file, oracle)
    assert code == 0 and result["macOk"] is True


def test_dotenv_round_trip_keeps_values_and_comments(identity: tuple[str, str, Path]) -> None:
    secret, recipient, _ = identity
    plain = b"#comment\nTOKEN=abc\nMULTI=one\\ntwo\n"
    encrypted = sopsfile.encrypt(plain, Format.DOTENV, [recipient])
    assert b"abc" not in encrypted and b"sops_mac=ENC[" in encrypted
    assert sopsfile.decrypt(encrypted, Format.DOTENV, [secret]) == plain


def test_age_cli_decrypts_each_data_key_stanza(tmp_path: Path, identity: tuple[str, str, Path]) -> None:
    if shutil.which("age") is None:
        pytest.fail("the age CLI is missing: apt-get install age (bash scripts/test installs it)")
    secret, recipient, key_file = identity
    encrypted = sopsfile.encrypt(YAML_PLAIN, Format.YAML, [recipient], Selection())
    opened = sopsfile.open_encrypted(encrypted, Format.YAML, [secret])
    armored = tmp_path / "stanza.age"
    armored.write_text(opened.metadata.age[0].enc)
    assert dearmor(opened.metadata.age[0].enc)
    proc = subprocess.run(["age", "-d", "-i", str(key_file), str(armored)], capture_output=True, timeout=30, check=True)
    assert proc.stdout == opened.data_key
