"""What a new user meets first: environment variables named after the flags, and a key that seed wrote being
found by the secrets commands."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from gitops_engine.cli.main import COMMAND_MODULES
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

GITEA_SECRET = "clusters/host-cluster/secrets/kommander-workspace-gitea-admin-credentials.sops.yaml"


def help_text(*command: str) -> str:
    """--help of a command, with the line wrapping undone."""
    result = run_cli(*command, "--help")
    assert result.code == 0, result.err
    return " ".join(result.out.split())


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        (("seed",), ["GITOPS_ENGINE_CONFIG", "GITOPS_ENGINE_REPO", "GITOPS_ENGINE_BRANCH", "GITOPS_ENGINE_AGE_KEY"]),
        (("plan",), ["GITOPS_ENGINE_CONFIG", "GITOPS_ENGINE_REPO", "GITOPS_ENGINE_REF", "GITOPS_ENGINE_MARKDOWN"]),
        (("bump",), ["GITOPS_ENGINE_REPO", "GITOPS_ENGINE_GITEA_TOKEN_FILE", "GITOPS_ENGINE_AGE_KEY"]),
        (("report",), ["GITOPS_ENGINE_REPO", "GITOPS_ENGINE_HTML", "GITOPS_ENGINE_AGE_KEY"]),
        (("reconcile",), ["GITOPS_ENGINE_REPO", "GITOPS_ENGINE_REPOSITORIES", "GITOPS_ENGINE_SHARD"]),
        (("validate",), ["GITOPS_ENGINE_REPO", "GITOPS_ENGINE_REF", "GITOPS_ENGINE_KUBERNETES_VERSION"]),
        (("secrets", "decrypt"), ["GITOPS_ENGINE_AGE_KEY", "GITOPS_ENGINE_IN_PLACE", "GITOPS_ENGINE_REPO"]),
    ],
)
def test_help_names_the_environment_variable_of_each_option(command: tuple[str, ...], variables: list[str]) -> None:
    text = help_text(*command)
    for variable in variables:
        assert f"env var: {variable}" in text


def test_every_option_of_every_command_lists_its_environment_variable() -> None:
    for name in COMMAND_MODULES:
        commands = [(name, "decrypt"), (name, "rotate")] if name == "secrets" else [(name,)]
        for command in commands:
            result = run_cli(*command, "--help")
            options = result.out.split("\nOptions:\n", 1)[1]
            # each option's entry starts at the option column; its help continues on deeper-indented lines
            entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", "\n" + options) if e.strip()]
            assert len(entries) >= 2, command
            for entry in entries:
                if not entry.startswith("-h, --help"):
                    assert "env var: GITOPS_ENGINE_" in entry, (command, entry)


def test_a_spec_path_from_the_environment_is_used_and_the_old_internal_name_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    monkeypatch.chdir(tmp_path / "..")
    monkeypatch.setenv("GITOPS_ENGINE_SEED_SPEC_PATH", str(spec))
    ignored = run_cli("plan")
    monkeypatch.setenv("GITOPS_ENGINE_CONFIG", str(spec))
    used = run_cli("plan")

    assert ignored.code == 2 and ignored.err == "error: platform.yaml: platform spec not found (check the path)\n"
    assert used.code == 0, used.err
    assert used.out.startswith(f"plan for {tmp_path / 'fleet.git'} (branch main):\n")


def test_one_repository_variable_serves_seed_bump_and_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    elsewhere = tmp_path / "elsewhere.git"
    monkeypatch.setenv("GITOPS_ENGINE_REPO", str(elsewhere))
    monkeypatch.setenv("GITOPS_ENGINE_CREATE", "1")

    seeded = run_cli("seed", "-c", str(spec))
    validated = run_cli("validate", "--ref", "main")
    bumped = run_cli("bump", "--dry-run", "--json")

    assert seeded.code == 0, seeded.err
    assert f"to main in {elsewhere}" in seeded.out
    assert not (tmp_path / "fleet.git").exists()
    assert validated.code == 0, validated.out
    assert "4 cluster(s)" in validated.out
    # the charts live on the internet, which this machine does not reach: bump still read the seeded tree
    assert '"proposals"' in bumped.out and "applications/cert-manager/" in bumped.out


def test_secrets_decrypt_finds_the_key_that_seed_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    write_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    seeded = run_cli("seed")
    assert seeded.code == 0, seeded.err
    assert "generated the age identity" in seeded.out
    encrypted = tmp_path / "gitea-admin.sops.yaml"
    encrypted.write_bytes(
        subprocess.run(
            ["git", "--git-dir", "fleet.git", "show", f"main:{GITEA_SECRET}"], capture_output=True, check=True
        ).stdout
    )

    decrypted = run_cli("secrets", "decrypt", str(encrypted))

    assert decrypted.code == 0, decrypted.err
    assert f"  username: {base64.b64encode(b'gitea-admin').decode()}\n" in decrypted.out
    assert "ENC[" not in decrypted.out


def test_secrets_decrypt_with_no_matching_key_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_cli("seed").code == 0
    encrypted = tmp_path / "gitea-admin.sops.yaml"
    encrypted.write_bytes(
        subprocess.run(
            ["git", "--git-dir", "fleet.git", "show", f"main:{GITEA_SECRET}"], capture_output=True, check=True
        ).stdout
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "another-config"))

    decrypted = run_cli("secrets", "decrypt", str(encrypted))

    assert decrypted.code == 1
    assert "0 identities tried — pass --age-key FILE (or set SOPS_AGE_KEY_FILE)" in decrypted.err


def test_a_reconcile_that_reaches_no_server_prints_each_step_failed_once_on_one_line_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    unreachable = "http://127.0.0.1:1/fleet.git"

    result = run_cli("reconcile", "--repo", unreachable)

    assert result.code == 1
    lines = result.out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["seed", "propagate", "bump"]
    for line in lines:
        assert line.split(": ", 1)[1].startswith(f"failed — git list with {unreachable} failed (exit 128): fatal: ")


def test_reconcile_json_lists_the_failure_of_each_step_that_reached_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = run_cli("reconcile", "--repo", "http://127.0.0.1:1/fleet.git", "--json")

    assert result.code == 1
    steps = json.loads(result.out)["steps"]
    assert [(step["name"], step["status"], len(step["failures"])) for step in steps] == [
        ("seed", "failed", 1),
        ("propagate", "failed", 1),
        ("bump", "failed", 1),
    ]
    assert all("\n" not in step["failures"][0] for step in steps)
