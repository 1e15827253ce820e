"""Files sops 3.13+ wrote keep their layout: every key of the `sops` block sorted, entries' keys too.

No sops 3.13 file with a published key is in tests/data, so the file is made here from the format notes
(sops-format.md §7, checked against sops v3.13.2 `stores/metadata.go`, which turns the block into a Go map and
sorts its keys): the values and the MAC come from our encryptor (the block's order is no input of either), and
the `sops` block is written out by hand in the 3.13 order, with `version: 3.13.1` and `mac_only_encrypted`.
"""

from __future__ import annotations

import re

from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.metadata import Metadata
from gitops_engine.secrets.selection import SECRET_REGEX, Selection
from gitops_engine.secrets.stores import Format
from tests.secrets.pgp import PgpKey, pgp_block
from tests.secrets.test_tamper import SECRET


def _enc(armored: str) -> str:
    return "".join(f"        {line}\n" for line in armored.rstrip("\n").split("\n"))


def _stanzas(meta: Metadata) -> str:
    return "".join(f"    - enc: |\n{_enc(s.enc)}      recipient: {s.recipient}\n" for s in meta.age)


def _block(meta: Metadata, between_mac_and_version: str = "") -> str:
    """The `sops` block as sops 3.13.1 writes it for a Secret with `mac_only_encrypted` (indent 2)."""
    return (
        "sops:\n"
        f"  age:\n{_stanzas(meta)}"
        "  encrypted_regex: ^(data|stringData)$\n"
        f'  lastmodified: "{meta.lastmodified}"\n'
        f"  mac: {meta.mac}\n"
        "  mac_only_encrypted: true\n"
        f"{between_mac_and_version}"
        "  version: 3.13.1\n"
    )


def _sops_3_13_file() -> tuple[bytes, str, str]:
    """(file, identity, recipient): a Secret as sops 3.13.1 lays it out."""
    identity, recipient = generate_identity()
    ours = sopsfile.encrypt(
        SECRET, Format.YAML, [recipient], Selection("encrypted_regex", SECRET_REGEX, mac_only_encrypted=True), indent=2
    )
    meta = sopsfile.read_metadata(ours, Format.YAML)
    assert meta is not None
    body = ours[: ours.index(b"sops:\n")].decode()
    return (body + _block(meta)).encode(), identity, recipient


def _body(data: bytes) -> bytes:
    return data[: data.index(b"sops:\n")]


def _meta(data: bytes) -> Metadata:
    meta = sopsfile.read_metadata(data, Format.YAML)
    assert meta is not None
    return meta


def test_a_sops_3_13_file_re_emits_byte_for_byte() -> None:
    written, identity, _ = _sops_3_13_file()
    assert written.endswith(b"  mac_only_encrypted: true\n  version: 3.13.1\n")
    assert b"    - enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n" in written
    opened = sopsfile.open_encrypted(written, Format.YAML, [identity], "secret.sops.yaml")
    assert opened.metadata.selection.mac_only_encrypted
    assert sopsfile.reencrypt(opened, Format.YAML) == written


def test_updatekeys_of_a_sops_3_13_file_keeps_its_sorted_block() -> None:
    written, identity, recipient = _sops_3_13_file()
    (second_identity, second) = generate_identity()
    assert sopsfile.updatekeys(written, Format.YAML, [identity], [recipient]) == written

    after = sopsfile.updatekeys(written, Format.YAML, [identity], [recipient, second])
    meta = _meta(after)
    assert [s.recipient for s in meta.age] == [recipient, second]
    # every byte but the new stanza is as it was, and the new stanza is sorted like the first: enc, recipient
    assert after == _body(written) + _block(meta).encode()
    assert _meta(written).age[0] == meta.age[0]
    assert sopsfile.open_encrypted(after, Format.YAML, [second_identity]).data_key == (
        sopsfile.open_encrypted(written, Format.YAML, [identity]).data_key
    )


def test_rotating_a_sops_3_13_file_keeps_its_release_and_layout() -> None:
    written, identity, recipient = _sops_3_13_file()
    rotated = sopsfile.rotate(written, Format.YAML, [identity], lastmodified="2027-01-02T03:04:05Z")
    block = rotated[rotated.index(b"sops:\n") :].decode()
    assert re.findall(r"(?m)^  ([a-z_]+):", block) == [
        "age", "encrypted_regex", "lastmodified", "mac", "mac_only_encrypted", "version",
    ]  # fmt: skip
    assert block == _block(_meta(rotated))
    assert 'lastmodified: "2027-01-02T03:04:05Z"' in block and f"recipient: {recipient}" in block
    opened = sopsfile.open_encrypted(rotated, Format.YAML, [identity])
    assert opened.data_key != sopsfile.open_encrypted(written, Format.YAML, [identity]).data_key


def test_a_pgp_entry_of_a_sops_3_13_file_is_carried_in_its_sorted_place(pgp_key: PgpKey) -> None:
    written, identity, recipient = _sops_3_13_file()
    data_key = sopsfile.open_encrypted(written, Format.YAML, [identity]).data_key
    pgp = pgp_block(pgp_key, data_key)  # created_at, enc, fp: already sorted
    with_pgp = (_body(written).decode() + _block(_meta(written), pgp)).encode()
    assert sopsfile.updatekeys(with_pgp, Format.YAML, [identity], [recipient]) == with_pgp
    opened = sopsfile.open_encrypted(with_pgp, Format.YAML, [identity])
    assert sopsfile.reencrypt(opened, Format.YAML) == with_pgp
