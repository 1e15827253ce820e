"""Real sops files decrypt to EXPECTED.json with the MAC verified, and YAML ones re-emit byte for byte."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import parse_identities
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import Branch, Comment, Node, to_plain
from gitops_engine.secrets.walk import aad_of
from tests.secrets.conftest import VECTORS, expected

FILES = [name for name in expected() if "#" not in name]


def _open(name: str) -> sopsfile.Opened:
    spec = expected()[name]
    data = (VECTORS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec["sha256_of_file"]
    ids = parse_identities((VECTORS / str(spec["key_file"])).read_text())
    return sopsfile.open_encrypted(data, Format.for_path(name), ids, name)


@pytest.mark.parametrize("name", FILES)
def test_vector_decrypts_to_expected_plaintext(name: str) -> None:
    spec = expected()[name]
    opened = _open(name)
    assert opened.data_key.hex() == spec["data_key_hex"]
    assert to_plain(opened.documents[0]) == spec["plaintext"]


def _comments(node: Node | Comment, path: tuple[str, ...]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, Branch):
        for item in node.items:
            if isinstance(item, Comment):
                found.append((aad_of(path), item.text))
            else:
                found.extend(_comments(item[1], (*path, item[0])))
    elif isinstance(node, tuple):
        for element in node:
            found.extend([(aad_of(path), element.text)] if isinstance(element, Comment) else _comments(element, path))
    return found


def test_comments_decrypt_with_their_container_aad() -> None:
    opened = _open("getsops-sops/example.yaml")
    comments = expected()["getsops-sops/example.yaml"]["decrypted_comments"]
    assert isinstance(comments, list)
    wanted = [(c["aad"], c["text"]) for c in comments]
    assert _comments(opened.documents[0], ()) == wanted


@pytest.mark.parametrize("name", [n for n in FILES if n.endswith(".yaml")])
def test_yaml_vector_reemits_byte_identical(name: str) -> None:
    opened = _open(name)
    assert sopsfile.reencrypt(opened, Format.YAML) == (VECTORS / name).read_bytes()


def test_secret_data_holding_a_whole_binary_document_decrypts() -> None:
    name = "kustomize-controller/inside_secret.yaml"
    spec = expected()[f"{name}#data.key(base64 -> binary store)"]
    docs = sopsfile.parse_plain((VECTORS / name).read_bytes(), Format.YAML, name)
    inner = base64.b64decode(str(to_plain(docs[0])["data"]["key"]))  # type: ignore[index]
    ids = parse_identities((VECTORS / "kustomize-controller/age.agekey").read_text())
    plain = sopsfile.decrypt(inner, Format.BINARY, ids, "inside")
    assert plain.decode() == spec["plaintext"] or {"data": plain.decode()} == spec["plaintext"]
