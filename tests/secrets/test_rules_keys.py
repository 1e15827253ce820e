"""Creation rules, identity discovery, updatekeys/rotate, the guard and the seed's `.sops.yaml`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops_engine.adapters.agekeys import all_identities, discover_identities, find_config, write_identity
from gitops_engine.core.errors import InputError
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity, parse_identities, recipient_of
from gitops_engine.secrets.creation_rules import CreationRule, SopsConfig, parse_config, render_config
from gitops_engine.secrets.guard import plaintext_violations
from gitops_engine.secrets.stores import Format
from tests.secrets.conftest import VECTORS
from tests.secrets.test_tamper import SECRET


def _rule(config: SopsConfig, path: str) -> CreationRule:
    rule = config.rule_for(path)
    assert rule is not None, path
    return rule


def test_first_matching_rule_wins_and_path_regex_is_a_search() -> None:
    config = parse_config((VECTORS / "kustomize-controller" / "dot-sops.yaml").read_bytes())
    assert config.yaml_indent == 2
    rule = _rule(config, "algorithms/age.yaml")
    assert rule.path_regex == r"\.yaml$" and rule.selection.value == "^(data|stringData)$"
    assert _rule(config, "inside.yaml").path_regex == r"(inside|pgp)\.yaml$"
    assert _rule(config, "envs/env.env").selection.kind == "unencrypted_suffix"
    assert _rule(config, "other.bin").path_regex is None  # the key_groups fallback matches everything


def test_a_path_no_rule_matches_has_none_and_two_selection_rules_are_an_input_error() -> None:
    recipient = generate_identity()[1]
    config = parse_config(f"creation_rules:\n  - path_regex: ^secrets/\n    age: {recipient}\n")
    assert config.rule_for("apps/x.yaml") is None
    with pytest.raises(
        InputError, match=r"\.sops\.yaml:2: creation_rules\[0\]: sets unencrypted_regex and encrypted_regex"
    ):
        parse_config(b"creation_rules:\n  - encrypted_regex: a\n    unencrypted_regex: b\n")


def test_every_mistake_in_sops_yaml_is_reported_at_once() -> None:
    text = (
        b"stores:\n  yaml:\n    indent: wide\n"
        b"creation_rules:\n  - path_regex: '(unclosed'\n    age: 7\n  - encrypted_regex: a\n    unencrypted_regex: b\n"
    )
    with pytest.raises(InputError) as raised:
        parse_config(text)
    assert raised.value.lines == (
        ".sops.yaml:3: stores.yaml.indent: must be a number of spaces from 1 to 16, not 'wide'",
        ".sops.yaml:5: creation_rules[0].path_regex: '(unclosed' is not a valid regular expression "
        "(missing ), unterminated subpattern at position 0)",
        ".sops.yaml:6: creation_rules[0].age: must be a comma-separated string or a list of age1… recipients",
        ".sops.yaml:7: creation_rules[1]: sets unencrypted_regex and encrypted_regex; sops allows only one (keep one)",
    )


def test_config_is_found_by_searching_upward(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text("creation_rules: []\n")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / ".sops.yaml"
    (deep / ".sops.yaml").write_text("creation_rules: []\n")
    assert find_config(deep / "file.yaml") == deep / ".sops.yaml"


def test_identity_discovery_takes_the_flag_then_sops_order_then_the_keys_seed_writes(tmp_path: Path) -> None:
    ids = [generate_identity()[0] for _ in range(7)]
    flag = tmp_path / "flag.agekey"
    flag.write_text(ids[0] + "\n")
    key_file = tmp_path / "file.txt"
    key_file.write_text(f"# comment\n\n{ids[2]}\n")
    default = tmp_path / "cfg" / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    default.write_text(ids[4] + "\n")
    seeded = tmp_path / "cfg" / "gitops-engine" / "age"
    seeded.mkdir(parents=True)
    (seeded / "b-platform.agekey").write_text(ids[6] + "\n")
    (seeded / "a-platform.agekey").write_text(ids[5] + "\n")
    (seeded / "notes.txt").write_text("not a key file\n")
    env = {
        "SOPS_AGE_KEY": ids[1],
        "SOPS_AGE_KEY_FILE": str(key_file),
        "SOPS_AGE_KEY_CMD": f"echo {ids[3]}",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    assert all_identities(env, key_file=flag) == ids
    assert [s.origin.split("=")[0] for s in discover_identities(env, key_file=flag)] == [
        f"--age-key {flag}", "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", str(default),
        str(seeded / "a-platform.agekey"), str(seeded / "b-platform.agekey"),
    ]  # fmt: skip
    assert all_identities({"HOME": str(tmp_path / "nohome")}) == []


def test_updatekeys_keeps_data_key_and_rotate_changes_it() -> None:
    (one, r1), (two, r2) = generate_identity(), generate_identity()
    data = sopsfile.encrypt_yaml(SECRET, [r1])
    before = sopsfile.open_encrypted(data, Format.YAML, [one])
    updated = sopsfile.updatekeys(data, Format.YAML, [one], [r2])
    after = sopsfile.open_encrypted(updated, Format.YAML, [two])
    assert after.data_key == before.data_key and after.documents == before.documents
    assert [s.recipient for s in after.metadata.age] == [r2]
    with pytest.raises(Exception, match="no age identity"):
        sopsfile.open_encrypted(updated, Format.YAML, [one])
    rotated = sopsfile.rotate(updated, Format.YAML, [two])
    fresh = sopsfile.open_encrypted(rotated, Format.YAML, [two])
    assert fresh.data_key != before.data_key and fresh.documents == before.documents


def test_same_plaintext_lets_a_reseed_keep_ciphertext() -> None:
    secret, recipient = generate_identity()
    data = sopsfile.encrypt_yaml(SECRET, [recipient])
    assert sopsfile.same_plaintext(data, SECRET, [secret])
    assert not sopsfile.same_plaintext(data, SECRET.replace(b"hunter2", b"hunter3"), [secret])


def test_guard_flags_plaintext_secrets_and_rule_files_only() -> None:
    secret, recipient = generate_identity()
    files = {
        ".sops.yaml": render_config([recipient]),
        "apps/cm.yaml": b"kind: ConfigMap\ndata:\n  a: b\n",
        "clusters/c1/secrets/git.sops.yaml": SECRET,
        "clusters/c1/secrets/ok.sops.yaml": sopsfile.encrypt_yaml(SECRET, [recipient]),
        "apps/inline.yaml": b"kind: ConfigMap\n---\nkind: Secret\nmetadata:\n  name: leak\n",
        "clusters/c1/secrets/token.env": b"TOKEN=x\n",
    }
    problems = plaintext_violations(files)
    assert problems == [
        "apps/inline.yaml:3: Secret 'leak' has no sops metadata: its values would be committed in plaintext "
        "(fix: gitops-engine secrets encrypt apps/inline.yaml)",
        "clusters/c1/secrets/git.sops.yaml:1: Secret 'creds' has no sops metadata: its values would be committed "
        "in plaintext (fix: gitops-engine secrets encrypt clusters/c1/secrets/git.sops.yaml)",
        "clusters/c1/secrets/token.env:1: matches a creation rule in .sops.yaml but is not sops-encrypted "
        "(fix: gitops-engine secrets encrypt clusters/c1/secrets/token.env)",
    ]
    del secret


def test_rendered_config_routes_secret_paths_to_recipients() -> None:
    first, second = generate_identity()[1], generate_identity()[1]
    config = parse_config(render_config([first, second]))
    rule = _rule(config, "clusters/c1/secrets/git.sops.yaml")
    assert rule.age == (first, second) and rule.selection.value == "^(data|stringData)$"
    assert config.rule_for("apps/app.yaml") is None and config.yaml_indent == 2


def test_a_recipient_with_a_broken_checksum_is_refused_at_its_rule() -> None:
    recipient = generate_identity()[1]
    typo = recipient[:30] + ("q" if recipient[30] != "q" else "p") + recipient[31:]
    text = f"creation_rules:\n  - path_regex: a\n    age: {recipient}\n  - path_regex: b\n    age: {recipient},{typo}\n"
    with pytest.raises(InputError) as caught:
        parse_config(text, "repo/.sops.yaml")
    assert caught.value.lines == (
        f"repo/.sops.yaml:5: creation_rules[1].age: age recipient {typo}: the checksum does not match (a typo?)",
    )


def test_a_key_file_is_written_whole_or_not_at_all_and_an_empty_one_is_replaced(tmp_path: Path) -> None:
    key = tmp_path / "age" / "fleet.agekey"
    recipient = write_identity(key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert [recipient_of(i) for i in parse_identities(key.read_text())] == [recipient]
    with pytest.raises(InputError, match="already exists"):
        write_identity(key)
    assert [p.name for p in key.parent.iterdir()] == ["fleet.agekey"], "no temporary file is left"
    key.write_text("")  # what a crash while writing used to leave
    replaced = write_identity(key)
    assert replaced != recipient and [recipient_of(i) for i in parse_identities(key.read_text())] == [replaced]


def test_a_key_writer_killed_at_any_moment_leaves_no_partial_key(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from gitops_engine.adapters.agekeys import write_identity\n"
        "for n in range(100000): write_identity(Path(sys.argv[1]) / f'k{n}.agekey')\n"
    )
    complete = 0
    for round_ in range(12):  # bounded: twelve kills at spread-out moments
        directory = tmp_path / f"round{round_}"
        directory.mkdir()
        child = subprocess.Popen([sys.executable, "-c", code, str(directory)])
        time.sleep(0.35 + round_ * 0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        for key in directory.glob("*.agekey"):
            identities = parse_identities(key.read_text())
            assert len(identities) == 1 and recipient_of(identities[0]).startswith("age1"), key
            complete += 1
    assert complete > 0
