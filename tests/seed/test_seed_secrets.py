"""Seed with secrets: values only from env/files, encrypted for the recipients, never in any git object."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from gitops_engine.adapters import git
from gitops_engine.app.seed import SeedRequest, seed
from gitops_engine.core.errors import SecretLeakError
from gitops_engine.secrets.agekeys import parse_identities, recipient_of
from gitops_engine.secrets.sopsfile import decrypt
from gitops_engine.secrets.stores import Format
from tests.seed.helpers import example_spec_text, run_cli, write_example

SENTINEL_PASSWORD = "s3ntinel-Pa55word-4f1c9"
SENTINEL_TOKEN = "s3ntinel-api-token-8d27e"
SENTINEL_FILE = "s3ntinel-from-file-0b6a3"

SECRETS_SPEC = """
secrets:
  - name: velero-cloud
    workspace: management
    data:
      cloud: {file: cloud-credentials.txt}
      token: {env: TEST_VELERO_TOKEN}
"""


def _spec_with_secrets(directory: Path) -> Path:
    text = example_spec_text().replace(
        "  interval: 1m\n",
        "  interval: 1m\n  secretName: kommander-git-credentials\n"
        "  credentials:\n    username: {env: TEST_GIT_USER}\n    password: {env: TEST_GIT_PASSWORD}\n",
        1,
    )
    (directory / "cloud-credentials.txt").write_text(SENTINEL_FILE)
    return write_example(directory, text + SECRETS_SPEC)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TEST_GIT_USER", "flux")
    monkeypatch.setenv("TEST_GIT_PASSWORD", SENTINEL_PASSWORD)
    monkeypatch.setenv("TEST_VELERO_TOKEN", SENTINEL_TOKEN)
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config / "gitops-engine" / "age" / "example.agekey"


def _all_object_bytes(repo_path: Path) -> list[bytes]:
    repo = git.open_repository(repo_path, create=False)
    return [repo.odb.read(oid)[1] for oid in repo.odb]


def test_no_sentinel_and_no_private_key_in_any_git_object(tmp_path: Path, secret_env: Path) -> None:
    spec = _spec_with_secrets(tmp_path)
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 0, result.err
    assert str(secret_env) in result.out and "kubectl -n kommander-flux create secret generic sops-age" in result.out
    assert stat.S_IMODE(secret_env.stat().st_mode) == 0o600
    assert not secret_env.is_relative_to(tmp_path / "fleet.git")
    identity = parse_identities(secret_env.read_text())[0]
    for text in (result.out, result.err):
        assert SENTINEL_PASSWORD not in text and identity not in text
    objects = _all_object_bytes(tmp_path / "fleet.git")
    assert len(objects) > 100
    needles = [s.encode() for s in (SENTINEL_PASSWORD, SENTINEL_TOKEN, SENTINEL_FILE, identity, "AGE-SECRET-KEY-1")] + [
        base64.b64encode(s.encode()) for s in (SENTINEL_PASSWORD, SENTINEL_TOKEN, SENTINEL_FILE)
    ]
    for blob in objects:
        for needle in needles:
            assert needle not in blob


def test_secrets_decrypt_with_the_generated_identity_and_flux_decrypts_them(tmp_path: Path, secret_env: Path) -> None:
    spec = _spec_with_secrets(tmp_path)
    first = seed(SeedRequest(spec))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    files = git.read_tree(repo, first.tree)
    identities = parse_identities(secret_env.read_text())
    creds = files["clusters/team-a-prod/secrets/kommander-flux-kommander-git-credentials.sops.yaml"]
    plain = yaml.safe_load(decrypt(creds, Format.YAML, identities))
    assert base64.b64decode(plain["data"]["password"]).decode() == SENTINEL_PASSWORD
    velero = files["clusters/host-cluster/secrets/kommander-workspace-velero-cloud.sops.yaml"]
    assert (
        base64.b64decode(yaml.safe_load(decrypt(velero, Format.YAML, identities))["data"]["cloud"])
        == SENTINEL_FILE.encode()
    )
    assert "clusters/team-a-prod/secrets/kommander-workspace-velero-cloud.sops.yaml" not in files
    assert b"kommander-git-credentials.sops.yaml" in files["clusters/team-a-prod/secrets/kustomization.yaml"]
    sync = list(yaml.safe_load_all(files["clusters/team-a-prod/flux-system/gotk-sync.yaml"]))
    kustomization = next(d for d in sync if d["kind"] == "Kustomization")
    assert kustomization["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    source = next(d for d in sync if d["kind"] == "GitRepository")
    assert source["spec"]["secretRef"] == {"name": "kommander-git-credentials"}
    rules = yaml.safe_load(files[".sops.yaml"])["creation_rules"]
    assert rules[0]["encrypted_regex"] == "^(data|stringData)$"
    assert rules[0]["age"] == recipient_of(identities[0])


def test_unchanged_values_keep_their_ciphertext_and_a_changed_one_is_re_encrypted(
    tmp_path: Path, secret_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec_with_secrets(tmp_path)
    first = seed(SeedRequest(spec))
    second = seed(SeedRequest(spec))
    assert second.commit is None and second.tree == first.tree
    monkeypatch.setenv("TEST_GIT_PASSWORD", "rotated-" + SENTINEL_PASSWORD)
    third = seed(SeedRequest(spec))
    assert third.commit is not None
    changed = {p for ph in third.plan.phases for p in ph.changed}
    assert {p for p in changed if p.endswith(".sops.yaml")} == {
        f"clusters/{c}/secrets/kommander-flux-kommander-git-credentials.sops.yaml"
        for c in ("host-cluster", "team-a-prod", "team-a-dev", "team-a-sandbox")
    }


def test_missing_environment_variable_is_an_input_error(
    tmp_path: Path, secret_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec_with_secrets(tmp_path)
    monkeypatch.delenv("TEST_VELERO_TOKEN")
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 2
    assert result.err.startswith(f"error: {spec}:")
    assert "token: environment variable TEST_VELERO_TOKEN is not set" in result.err
    assert not (tmp_path / "fleet.git").exists()


def test_inline_secret_value_is_refused(tmp_path: Path, secret_env: Path) -> None:
    spec = write_example(tmp_path, example_spec_text() + SECRETS_SPEC.replace("{env: TEST_VELERO_TOKEN}", "hunter2"))
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 2
    assert "secrets[0].data.token: secret values never go in platform.yaml" in result.err
    assert "hunter2" not in result.err


def test_plaintext_secret_added_by_hand_blocks_the_commit(tmp_path: Path, secret_env: Path) -> None:
    spec = write_example(tmp_path)
    first = seed(SeedRequest(spec))
    repo = git.open_repository(tmp_path / "fleet.git", create=False)
    files = dict(git.read_tree(repo, first.tree))
    leaked = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\ndata:\n  k: dmFsdWU=\n"
    files["clusters/host-cluster/oops.yaml"] = leaked
    before = set(repo.odb)
    with pytest.raises(SecretLeakError, match=r"clusters/host-cluster/oops\.yaml:1: Secret 'oops'"):
        git.write_tree(repo, files)
    assert set(repo.odb) == before
