"""Inputs that would carry secrets into the fleet repository or the terminal: refused, located, never echoed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gitops_engine.adapters import fs, git
from gitops_engine.app.seed import builtin_catalog_dir
from gitops_engine.core.errors import SecretLeakError
from gitops_engine.core.urls import has_credentials, redacted
from gitops_engine.secrets.guard import plaintext_violations
from tests.seed.helpers import reproducible_spec_text, run_cli, write_example

# an age identity in the published format (a test value nobody uses; it only has to look like one)
AGE_KEY = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" + "QPZRY9X8GF2TVDW0S3JN54KHCE6M"
PEM_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def _own_catalog(tmp_path: Path) -> Path:
    """A user catalog with one app version copied from the built-in kafka folder, under another name."""
    source = next((builtin_catalog_dir() / "kafka").iterdir())
    folder = tmp_path / "mycatalog" / "kafka-lite" / source.name
    shutil.copytree(source, folder)
    return folder


def _spec_with(tmp_path: Path, extra: str) -> Path:
    return write_example(tmp_path, reproducible_spec_text().replace("catalog:\n", f"catalog:\n{extra}", 1))


def test_a_catalog_link_out_of_its_folder_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    outside = tmp_path / "keys" / "operator.agekey"
    outside.parent.mkdir()
    outside.write_text(AGE_KEY + "\n")
    folder = _own_catalog(tmp_path)
    (folder / "extra-values.yaml").symlink_to(outside)
    spec = _spec_with(tmp_path, "  paths:\n    - mycatalog\n")
    for command in (("seed",), ("plan",), ("seed", "--dry-run")):
        result = run_cli(*command, "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create")
        assert result.code == 2, result.err
        assert result.err == (
            f"error: {folder / 'extra-values.yaml'}:1: a symbolic link leading out of its catalog folder; only "
            "files inside the folder are read (copy the file in instead of linking it)\n"
        )
        assert "SECRET-KEY" not in result.out + result.err
    assert not (tmp_path / "fleet.git").exists()


def test_a_catalog_link_to_a_file_inside_the_folder_is_read(tmp_path: Path) -> None:
    folder = _own_catalog(tmp_path)
    (folder / "defaults.yaml").rename(folder / "real-defaults.yaml")
    (folder / "defaults.yaml").symlink_to(folder / "real-defaults.yaml")
    spec = _spec_with(tmp_path, "  paths:\n    - mycatalog\n")
    result = run_cli("plan", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create")
    assert result.code == 0, result.err


def test_a_fifo_in_a_catalog_folder_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    folder = _own_catalog(tmp_path)
    os.mkfifo(folder / "values.yaml")
    spec = _spec_with(tmp_path, "  paths:\n    - mycatalog\n")
    result = run_cli("plan", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create")
    assert (result.code, result.err) == (
        2,
        f"error: {folder / 'values.yaml'}:1: is not a regular file (a catalog folder holds plain files only)\n",
    )


def test_a_catalog_path_naming_a_folder_far_larger_than_a_catalog_is_refused_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs, "MAX_FILES", 100)  # the built-in catalog holds 65
    for index in range(101):
        (tmp_path / "home" / f"f{index:03}").mkdir(parents=True)
        (tmp_path / "home" / f"f{index:03}" / "notes.txt").write_text("a note\n")
    spec = _spec_with(tmp_path, "  paths:\n    - home\n")
    line = spec.read_text().splitlines().index("    - home") + 1
    result = run_cli("plan", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create")
    assert (result.code, result.err) == (
        2,
        f"error: {spec}:{line}: catalog.paths[0]: 'home' holds more than 100 files, more than a catalog folder may "
        "(point it at a folder of <app>/<version>/ folders)\n",
    )


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (
            "url: https://git.example.com/platform/fleet.git",
            "url: https://bot:hunter2@git.example.com/f.git",
            "git.url",
        ),
        (
            "url: https://github.com/nutanix-cloud-native/nkp-partner-catalog",
            "url: https://hunter2@github.com/nutanix-cloud-native/nkp-partner-catalog",
            "catalog.repositories[0].url",
        ),
        (
            "  # helmMirrorURL: https://charts.mirror.example.com",
            "  helmMirrorURL: https://mirror:hunter2@charts.mirror.example.com",
            "variables.helmMirrorURL",
        ),
    ],
)
def test_credentials_in_a_url_the_seed_would_commit_are_refused_at_their_line(
    tmp_path: Path, text: str, line: str, key: str
) -> None:
    source = reproducible_spec_text()
    assert text in source
    spec = write_example(tmp_path, source.replace(text, line))
    number = next(n for n, text in enumerate(spec.read_text().splitlines(), 1) if "hunter2" in text)
    for command in (("seed",), ("plan",), ("seed", "--dry-run")):
        result = run_cli(*command, "-c", str(spec), "--repo", str(tmp_path / "fleet.git"), "--create")
        assert result.code == 2
        assert result.err.startswith(f"error: {spec}:{number}: {key}: the URL carries credentials")
        assert "hunter2" not in result.out + result.err
    assert not (tmp_path / "fleet.git").exists()


def test_a_password_in_the_repository_url_is_refused_and_never_printed(tmp_path: Path) -> None:
    spec = write_example(tmp_path, reproducible_spec_text())
    for command in (("seed",), ("plan",), ("seed", "--dry-run")):
        result = run_cli(*command, "-c", str(spec), "--repo", "https://bot:hunter2@git.example.com/fleet.git")
        assert result.code == 2
        assert "hunter2" not in result.out + result.err
        assert "the URL carries credentials" in result.err


def test_which_urls_carry_credentials() -> None:
    assert has_credentials("https://user:pw@host/x.git")
    assert has_credentials("https://token@host/x.git")
    assert has_credentials("oci://robot@registry.example.com/charts")
    assert has_credentials("ssh://git:pw@host/x.git")
    assert not has_credentials("ssh://git@host/x.git")
    assert not has_credentials("git@github.com:org/repo.git")
    assert not has_credentials("https://host/x.git?ref=a@b")
    assert redacted("https://user:pw@host/x@y") == "https://***@host/x@y"


def test_private_keys_are_refused_in_any_file_on_the_commit_path(tmp_path: Path) -> None:
    files = {
        "README.md": f"notes\n{AGE_KEY}\n".encode(),
        "apps/values.yaml": f"apiVersion: v1\nkind: ConfigMap\ndata:\n  key: |\n    {PEM_KEY}".encode(),
        "docs/mentions.md": b"the identity starts with AGE-SECRET-KEY-1 and a PEM key with BEGIN PRIVATE KEY\n",
    }
    assert plaintext_violations(files) == [
        "README.md:2: holds an age private key; private keys never go into the repository (fix: remove it from "
        "the file)",
        "apps/values.yaml:5: holds a private key block; private keys never go into the repository (fix: remove it "
        "from the file)",
    ]
    repo = git.open_repository(tmp_path / "r.git")
    with pytest.raises(SecretLeakError, match=r"README\.md:2"):
        git.write_tree(repo, files)
    assert list(repo.odb) == []
