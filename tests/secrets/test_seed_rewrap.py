"""Keys follow the spec: when `age.recipients` changes, `plan` lists the encrypted files to re-wrap and `seed`
re-wraps them in the same commit — the engine's Secrets and hand-written ones — with the data key and every
value unchanged; a file no available identity opens is reported and left as it is, and the seed exits 1."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitops_engine.adapters import git
from gitops_engine.app.seed import SPEC_PATH
from gitops_engine.secrets import sopsfile
from gitops_engine.secrets.agekeys import generate_identity, parse_identities, recipient_of
from gitops_engine.secrets.errors import NoMatchingKeyError
from gitops_engine.secrets.stores import Format
from tests.secrets.pgp import PgpKey, pgp_block
from tests.secrets.test_recipients import _AGE_STANZA, _pgp_enc, _recipients
from tests.seed.helpers import FIXED_RECIPIENT, reproducible_spec_text, run_cli
from tests.seed.test_seed_secrets import _spec_with_secrets

ENGINE_SECRETS = [
    "clusters/host-cluster/secrets/kommander-flux-kommander-git-credentials.sops.yaml",
    "clusters/host-cluster/secrets/kommander-workspace-gitea-admin-credentials.sops.yaml",
    "clusters/host-cluster/secrets/kommander-workspace-velero-cloud.sops.yaml",
    "clusters/team-a-dev/secrets/kommander-flux-kommander-git-credentials.sops.yaml",
    "clusters/team-a-prod/secrets/kommander-flux-kommander-git-credentials.sops.yaml",
    "clusters/team-a-sandbox/secrets/kommander-flux-kommander-git-credentials.sops.yaml",
]
HAND = "clusters/host-cluster/secrets/hand.sops.yaml"
WITH_PGP = "clusters/host-cluster/secrets/with-pgp.sops.yaml"
NOBODY = "clusters/host-cluster/secrets/nobody.sops.yaml"
HAND_SECRET = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: hand\nstringData:\n  token: written-by-a-human\n"


@pytest.fixture
def fleet_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment the seed reads its values from, and where it keeps its key (returned)."""
    monkeypatch.setenv("TEST_GIT_USER", "flux")
    monkeypatch.setenv("TEST_GIT_PASSWORD", "git-password-for-rewrap")
    monkeypatch.setenv("TEST_VELERO_TOKEN", "velero-token-for-rewrap")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    return tmp_path / "config" / "gitops-engine" / "age" / "example.agekey"


def _tree(repo_path: Path) -> dict[str, bytes]:
    repo = git.open_repository(repo_path, create=False)
    return dict(git.read_tree(repo, git.head_of(repo, "main").tree))


def _commit_by_hand(repo_path: Path, extra: dict[str, bytes]) -> None:
    repo = git.open_repository(repo_path, create=False)
    head = git.head_of(repo, "main")
    tree = git.write_tree(repo, {**git.read_tree(repo, head.tree), **extra})
    commit = git.create_commit(repo, tree, [head.commit or ""], "hand-written secrets", git.Signature("h", "h@x", 1))
    git.move_branch(repo, "main", commit, head.commit, "hand-written secrets")


def _with_recipients(spec: Path, *recipients: str) -> None:
    text = spec.read_text().split("\nage:\n")[0]
    spec.write_text(text + "\nage:\n  recipients:\n" + "".join(f"    - {r}\n" for r in recipients))


def _oracle_reads(path: str, data: bytes, key_file: Path, oracle: Path, tmp_path: Path) -> dict[str, object]:
    target = tmp_path / "oracle" / path.rsplit("/", 1)[-1]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)
    proc = subprocess.run(
        ["node", str(oracle), str(target), str(key_file)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    result: dict[str, object] = json.loads(proc.stdout)
    assert result["macOk"] is True
    return result


def _only_stanza_added(before: bytes, after: bytes, recipient: str) -> None:
    """`after` is `before` with one age stanza for `recipient` inserted before `lastmodified`, nothing else."""
    head, tail = before.split(b"  lastmodified:")
    assert after.startswith(head) and after.endswith(b"  lastmodified:" + tail)
    inserted = after[len(head) : len(after) - len(tail) - len(b"  lastmodified:")]
    match = re.fullmatch(_AGE_STANZA, inserted)
    assert match is not None and match.group(1) == recipient.encode()


def test_a_recipient_change_is_planned_and_re_wrapped_in_the_seed_commit(
    tmp_path: Path, fleet_env: Path, oracle: Path, pgp_key: PgpKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec_with_secrets(tmp_path)
    repo_path = tmp_path / "fleet.git"
    assert run_cli("seed", "-c", str(spec)).code == 0
    one = parse_identities(fleet_env.read_text())[0]
    ra = recipient_of(one)
    two, rb = generate_identity()
    three, rc = generate_identity()  # kept by nobody the seed can reach, until the end

    pgp_file = sopsfile.encrypt_yaml(HAND_SECRET, [ra])
    data_key = sopsfile.open_encrypted(pgp_file, Format.YAML, [one]).data_key
    block = pgp_block(pgp_key, data_key).encode()
    pgp_file = pgp_file.replace(b"  encrypted_regex:", block + b"  encrypted_regex:")
    _commit_by_hand(
        repo_path,
        {
            HAND: sopsfile.encrypt_yaml(HAND_SECRET, [ra]),
            WITH_PGP: pgp_file,
            NOBODY: sopsfile.encrypt_yaml(HAND_SECRET, [rc]),
        },
    )
    before = _tree(repo_path)
    stale = [*ENGINE_SECRETS, HAND, WITH_PGP]

    # adding B: plan lists every file, one line each; nothing is written
    _with_recipients(spec, ra, rb)
    planned = run_cli("plan", "-c", str(spec))
    assert planned.code == 0, planned.err
    why = (
        f"no age identity opens this file (it is encrypted for {rc}); 1 identity tried — pass --age-key FILE "
        "(or set SOPS_AGE_KEY_FILE)"
    )
    expected = [f"     - re-wrapped {p} +{rb}" for p in sorted(stale) if p != WITH_PGP]
    expected.insert(
        sorted(stale).index(WITH_PGP), f"     - re-wrapped {WITH_PGP} +{rb} (carried: pgp {pgp_key.fingerprint})"
    )
    expected.append(f"     - not re-wrapped {NOBODY} +{ra} +{rb} -{rc}: {why} naming the matching key")
    listing = planned.out.split("encrypted files wrapped for other recipients than .sops.yaml names:\n")[1]
    assert listing.splitlines()[: len(expected)] == expected
    as_json = json.loads(run_cli("seed", "-c", str(spec), "--dry-run", "--json").out)["recipients"]
    assert [r["path"] for r in as_json["rewrapped"]] == sorted(stale)
    assert as_json["failed"] == [
        {
            "path": NOBODY,
            "added": [ra, rb],
            "removed": [rc],
            "carried": [],
            "reason": f"{NOBODY}: {why} naming the matching key",
        }
    ]
    markdown = run_cli("plan", "-c", str(spec), "--markdown").out
    assert (
        f"Encrypted files wrapped for other recipients than `.sops.yaml` names:\n- re-wrapped {HAND} +{rb}\n"
        in markdown
    )
    assert _tree(repo_path) == before

    # seed re-wraps them in its commit, leaves the one nobody opens and says so with exit 1
    seeded = run_cli("seed", "-c", str(spec))
    assert seeded.code == 1, seeded.err
    assert f"     - not re-wrapped {NOBODY} +{ra} +{rb} -{rc}: {why}" in seeded.out
    after = _tree(repo_path)
    b_keys = tmp_path / "b.agekey"
    b_keys.write_text(two + "\n")
    for path in stale:
        _only_stanza_added(before[path], after[path], rb)
        opened = sopsfile.open_encrypted(after[path], Format.YAML, [two], path)
        assert opened.data_key == sopsfile.open_encrypted(before[path], Format.YAML, [one], path).data_key
        assert (
            _oracle_reads(path, after[path], b_keys, oracle, tmp_path)["data"]
            == _oracle_reads(path, before[path], fleet_env, oracle, tmp_path)["data"]
        )
    assert block in after[WITH_PGP] and pgp_key.decrypt(_pgp_enc(after[WITH_PGP])) == data_key
    assert after[NOBODY] == before[NOBODY]
    repo = git.open_repository(repo_path, create=False)
    message = repo.revparse_single("main").peel(pygit2.Commit).message
    assert f"Recipients of .sops.yaml:\n- re-wrapped {HAND} +{rb}\n- re-wrapped {ENGINE_SECRETS[0]} +{rb}\n" in message

    # validate warns at the stale file's sops metadata (line 7 of a 6-line Secret), without failing the check
    checked = run_cli("validate", "--repo", str(repo_path), "--ref", "main")
    assert checked.code == 0, checked.out
    assert (
        f"{NOBODY}\n  7: warning [sops-recipients-stale] encrypted for other age recipients than .sops.yaml:6 names: "
        f"not wrapped for {ra}, {rb}, which cannot decrypt it yet; still wrapped for {rc}"
    ) in checked.out

    # the re-wrapped engine Secrets are what the render holds: a second seed has nothing to commit
    again = run_cli("seed", "-c", str(spec))
    assert again.code == 1 and "has nothing else to change; no commit made" in again.out
    assert _tree(repo_path) == after

    # once C's identity is at hand, the same inputs seed again and re-wrap the last file
    monkeypatch.setenv("SOPS_AGE_KEY", three)
    last = run_cli("seed", "-c", str(spec))
    assert last.code == 0, last.out + last.err
    assert _recipients(_tree(repo_path)[NOBODY]) == [ra, rb]
    monkeypatch.delenv("SOPS_AGE_KEY")

    # removing A: A opens nothing any more, B opens everything, the data keys stay
    _with_recipients(spec, rb)
    assert run_cli("seed", "-c", str(spec)).code == 0
    final = _tree(repo_path)
    for path in [*stale, NOBODY]:
        assert _recipients(final[path], path) == [rb]
        with pytest.raises(NoMatchingKeyError):
            sopsfile.open_encrypted(final[path], Format.YAML, [one], path)
        assert sopsfile.open_encrypted(final[path], Format.YAML, [two], path).data_key == (
            sopsfile.open_encrypted(before[path], Format.YAML, [three if path == NOBODY else one], path).data_key
        )
    assert block in final[WITH_PGP]


def test_reconcile_re_wraps_with_the_spec_unchanged_and_fails_its_seed_step_until_a_key_opens_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    # the example's chart repositories are on the internet: a proxy refusing every connection keeps bump offline
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    repo_path = tmp_path / "fleet.git"
    repo = git.open_repository(repo_path)
    spec_tree = git.write_tree(repo, {SPEC_PATH: reproducible_spec_text().encode()})
    first = git.create_commit(repo, spec_tree, [], "spec", git.Signature("h", "h@x", 1))
    git.move_branch(repo, "main", first, None, "spec")
    assert run_cli("seed", "--repo", str(repo_path), "--ref", "main").code == 0

    hidden, rx = generate_identity()
    _commit_by_hand(repo_path, {HAND: sopsfile.encrypt_yaml(HAND_SECRET, [rx])})
    stuck = run_cli("reconcile", "--repo", str(repo_path), "--json")
    assert stuck.code == 1
    seed_step = json.loads(stuck.out)["steps"][0]
    assert (seed_step["name"], seed_step["status"], seed_step["detail"]) == (
        "seed",
        "failed",
        "1 file(s) not re-wrapped",
    )
    assert seed_step["failures"] == [
        f"not re-wrapped {HAND} +{FIXED_RECIPIENT} -{rx}: no age identity opens this file (it is encrypted for {rx}); "
        "0 identities tried — pass --age-key FILE (or set SOPS_AGE_KEY_FILE) naming the matching key"
    ]

    monkeypatch.setenv("SOPS_AGE_KEY", hidden)
    done = json.loads(run_cli("reconcile", "--repo", str(repo_path), "--json").out)["steps"][0]
    assert done["status"] == "ok" and done["detail"].startswith("committed ")
    assert _recipients(_tree(repo_path)[HAND], HAND) == [FIXED_RECIPIENT]
