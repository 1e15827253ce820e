"""Recipients follow `.sops.yaml`: stale files found without a key, re-wrapped with updatekeys (same data key,
every other byte kept), PGP stanzas carried, files no identity opens reported; validate warns at the metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops_engine.adapters.git import head_of, read_tree
from gitops_engine.cli.main import main
from gitops_engine.core.errors import InputError
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity
from gitops_engine.secrets.creation_rules import parse_config, render_config
from gitops_engine.secrets.errors import NoMatchingKeyError, UnsupportedKeyError
from gitops_engine.secrets.recipients import drift_findings, find_drift, rewrap
from gitops_engine.secrets.stores import Format
from gitops_engine.secrets.values import Branch
from tests.secrets.pgp import PgpKey, pgp_block
from tests.secrets.test_cli import _seed
from tests.secrets.test_tamper import SECRET

_AGE_STANZA = (
    rb"    - recipient: (age1[a-z0-9]+)\n      enc: \|\n        -----BEGIN AGE ENCRYPTED FILE-----\n"
    rb"(?:        [A-Za-z0-9+/=]{1,64}\n)+        -----END AGE ENCRYPTED FILE-----\n"
)


def _recipients(data: bytes, path: str = "x.sops.yaml") -> list[str]:
    meta = sopsfile.read_metadata(data, Format.for_path(path), path)
    assert meta is not None
    return [s.recipient for s in meta.age]


def _pgp_enc(data: bytes) -> str:
    meta = sopsfile.read_metadata(data, Format.YAML)
    assert meta is not None
    (kind, entries), *_ = meta.carried
    assert kind == "pgp" and isinstance(entries, tuple) and isinstance(entries[0], Branch)
    enc = entries[0].get("enc")
    assert isinstance(enc, str)
    return enc


def test_updatekeys_adds_one_stanza_and_leaves_every_other_byte_as_it_was() -> None:
    (one, r1), (two, r2) = generate_identity(), generate_identity()
    before = sopsfile.encrypt_yaml(SECRET, [r1])
    after = sopsfile.updatekeys(before, Format.YAML, [one], [r1, r2])
    head, tail = before.split(b"  lastmodified:")
    assert after.startswith(head) and after.endswith(b"  lastmodified:" + tail)
    inserted = re.fullmatch(_AGE_STANZA, after[len(head) : len(after) - len(tail) - len(b"  lastmodified:")])
    assert inserted is not None and inserted.group(1) == r2.encode()
    data_key = sopsfile.open_encrypted(before, Format.YAML, [one]).data_key
    assert sopsfile.open_encrypted(after, Format.YAML, [two]).data_key == data_key
    # the same recipients in another order is no change at all
    assert sopsfile.updatekeys(after, Format.YAML, [two], [r2, r1]) == after


def test_a_pgp_stanza_is_carried_byte_for_byte_and_its_holder_still_opens_the_file(pgp_key: PgpKey) -> None:
    (one, r1), (two, r2) = generate_identity(), generate_identity()
    age_only = sopsfile.encrypt_yaml(SECRET, [r1])
    data_key = sopsfile.open_encrypted(age_only, Format.YAML, [one]).data_key
    block = pgp_block(pgp_key, data_key).encode()
    with_pgp = age_only.replace(b"  encrypted_regex:", block + b"  encrypted_regex:")
    assert sopsfile.updatekeys(with_pgp, Format.YAML, [one], [r1]) == with_pgp

    after = sopsfile.updatekeys(with_pgp, Format.YAML, [one], [r2])  # r1 removed, r2 added
    assert block in after and after.index(block) > after.index(b"  mac: ENC[")
    assert pgp_key.decrypt(_pgp_enc(after)) == data_key
    assert sopsfile.open_encrypted(after, Format.YAML, [two]).data_key == data_key
    with pytest.raises(NoMatchingKeyError, match=r"^<input>: no age identity opens this file"):
        sopsfile.open_encrypted(after, Format.YAML, [one])
    with pytest.raises(InputError, match=rf"rotating would drop its keys other than age \(pgp {pgp_key.fingerprint}\)"):
        sopsfile.rotate(after, Format.YAML, [two])


def test_a_sops_3_9_file_keeps_its_layout_and_its_pgp_list(pgp_key: PgpKey) -> None:
    (one, r1), (_, r2) = generate_identity(), generate_identity()
    written = sopsfile.encrypt_yaml(SECRET, [r1])
    data_key = sopsfile.open_encrypted(written, Format.YAML, [one]).data_key
    # the ≤3.9 layout: every key list written, `pgp` after `mac`, as in Flux's own test files
    old = (
        written.replace(b"sops:\n  age:", b"sops:\n  kms: []\n  gcp_kms: []\n  azure_kv: []\n  hc_vault: []\n  age:")
        .replace(b"  encrypted_regex:", pgp_block(pgp_key, data_key).encode() + b"  encrypted_regex:")
        .replace(b"version: 3.10.2", b"version: 3.9.0")
    )
    after = sopsfile.updatekeys(old, Format.YAML, [one], [r1, r2])
    head, tail = old.split(b"  lastmodified:")
    assert after.startswith(head) and after.endswith(b"  lastmodified:" + tail)
    assert pgp_key.decrypt(_pgp_enc(after)) == data_key


def test_a_file_only_pgp_opens_names_its_key_when_refused(pgp_key: PgpKey) -> None:
    one, r1 = generate_identity()
    written = sopsfile.encrypt_yaml(SECRET, [r1])
    data_key = sopsfile.open_encrypted(written, Format.YAML, [one]).data_key
    age_block = written[written.index(b"  age:") : written.index(b"  lastmodified:")]
    pgp_only = written.replace(age_block, b"").replace(
        b"  encrypted_regex:", pgp_block(pgp_key, data_key).encode() + b"  encrypted_regex:"
    )
    with pytest.raises(
        UnsupportedKeyError, match=rf"^x: encrypted only for keys other than age \(pgp {pgp_key.fingerprint}\)"
    ):
        sopsfile.open_encrypted(pgp_only, Format.YAML, [one], "x")


def _fleet() -> tuple[dict[str, bytes], tuple[str, str], tuple[str, str], tuple[str, str]]:
    a, b, c = generate_identity(), generate_identity(), generate_identity()
    files = {
        ".sops.yaml": render_config([a[1], b[1]]),
        "clusters/c1/secrets/old.sops.yaml": sopsfile.encrypt_yaml(SECRET, [a[1]]),
        "clusters/c1/secrets/current.sops.yaml": sopsfile.encrypt_yaml(SECRET, [b[1], a[1]]),
        "clusters/c1/secrets/foreign.sops.yaml": sopsfile.encrypt_yaml(SECRET, [a[1], c[1], b[1]]),
        "clusters/c1/secrets/token.env": sopsfile.encrypt(b"# from the vault\nTOKEN=x\n", Format.DOTENV, [c[1]]),
        "apps/readme.md": b"sops: not a secret\n",
    }
    return files, a, b, c


def test_stale_files_are_found_from_metadata_alone_and_validate_warns_at_it() -> None:
    files, (_, ra), (_, rb), (_, rc) = _fleet()
    files["apps/plain.sops.yaml"] = b"kind: ConfigMap\ndata:\n  a: b\n"  # covered, not encrypted: not judged here
    config = parse_config(files[".sops.yaml"])
    drifts = {d.path: (d.line, d.rule, d.added, d.removed) for d in find_drift(files, config)}
    assert drifts == {
        "clusters/c1/secrets/old.sops.yaml": (8, ".sops.yaml:6", (rb,), ()),
        "clusters/c1/secrets/foreign.sops.yaml": (8, ".sops.yaml:6", (), (rc,)),
        "clusters/c1/secrets/token.env": (3, ".sops.yaml:9", (ra, rb), (rc,)),
    }
    findings = sorted(str(f) for f in drift_findings(files))
    fix = "(fix: re-wrap it with `gitops-engine seed` or `gitops-engine secrets updatekeys --repo .` (same data key)"
    rotate = (
        "; a removed key has held the data key, so if it is no longer trusted also run `gitops-engine secrets rotate` "
        "and change the values (git history keeps the old file))"
    )
    assert findings == [
        "clusters/c1/secrets/foreign.sops.yaml:8: warning [sops-recipients-stale] encrypted for other age recipients "
        f"than .sops.yaml:6 names: still wrapped for {rc}, which .sops.yaml:6 no longer names: that key can still "
        f"decrypt it {fix}{rotate}",
        "clusters/c1/secrets/old.sops.yaml:8: warning [sops-recipients-stale] encrypted for other age recipients "
        f"than .sops.yaml:6 names: not wrapped for {rb}, which cannot decrypt it yet {fix})",
        "clusters/c1/secrets/token.env:3: warning [sops-recipients-stale] encrypted for other age recipients "
        f"than .sops.yaml:9 names: not wrapped for {ra}, {rb}, which cannot decrypt it yet; still wrapped for {rc}, "
        f"which .sops.yaml:9 no longer names: that key can still decrypt it {fix}{rotate}",
    ]
    broken = {**files, ".sops.yaml": b"creation_rules:\n  - encrypted_regex: a\n    unencrypted_regex: b\n"}
    assert [str(f) for f in drift_findings(broken)] == [
        ".sops.yaml:2: error [sops-config] creation_rules[0]: sets unencrypted_regex and encrypted_regex; sops "
        "allows only one (keep one) (fix: fix the creation rules)"
    ]


def test_rewrap_changes_stale_files_only_and_lists_those_no_identity_opens() -> None:
    files, (one, ra), (two, rb), (_, rc) = _fleet()
    config = parse_config(files[".sops.yaml"])
    result = rewrap(files, config, lambda: [one])
    assert sorted(result.files) == ["clusters/c1/secrets/foreign.sops.yaml", "clusters/c1/secrets/old.sops.yaml"]
    assert _recipients(result.files["clusters/c1/secrets/old.sops.yaml"]) == [ra, rb]
    assert _recipients(result.files["clusters/c1/secrets/foreign.sops.yaml"]) == [ra, rb]
    for path, data in result.files.items():
        assert (
            sopsfile.open_encrypted(data, Format.YAML, [two]).documents
            == sopsfile.open_encrypted(files[path], Format.YAML, [one]).documents
        )
    assert dict(result.failures) == {
        "clusters/c1/secrets/token.env": f"clusters/c1/secrets/token.env: no age identity opens this file (it is "
        f"encrypted for {rc}); 1 identity tried — pass --age-key FILE (or set SOPS_AGE_KEY_FILE) naming the "
        "matching key"
    }

    def no_lookup() -> list[str]:
        raise AssertionError("identities were looked up though no file needed them")

    settled = {p: d for p, d in {**files, **result.files}.items() if p != "clusters/c1/secrets/token.env"}
    assert rewrap(settled, config, no_lookup).files == {}


def test_updatekeys_repo_commits_the_rest_and_exits_1_naming_the_file_it_could_not_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files, (one, ra), (_, rb), (_, rc) = _fleet()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(one + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    repo = _seed(tmp_path / "repo.git", files)
    assert main(["secrets", "updatekeys", "--repo", str(tmp_path / "repo.git")]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("committed ") and out.out.endswith(" on main: 2 file(s)\n")
    assert out.err == (
        f"not changed: clusters/c1/secrets/token.env: no age identity opens this file (it is encrypted for {rc}); "
        "1 identity tried — pass --age-key FILE (or set SOPS_AGE_KEY_FILE) naming the matching key\n"
    )
    tree = read_tree(repo, head_of(repo, "main").tree)
    assert _recipients(tree["clusters/c1/secrets/old.sops.yaml"]) == [ra, rb]
    assert tree["clusters/c1/secrets/token.env"] == files["clusters/c1/secrets/token.env"]
    assert tree["clusters/c1/secrets/current.sops.yaml"] == files["clusters/c1/secrets/current.sops.yaml"]
