"""A corpus of broken platform specs: exact error lines, exit code 2, repository untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops_engine.app.seed import SeedRequest, seed
from tests.seed.helpers import run_cli, snapshot_directory, write_example

HERE = Path(__file__).parent
CASES = sorted(p.stem for p in (HERE / "bad-specs").glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    shutil.copytree(HERE / "bad-specs", root / "bad-specs")
    shutil.copytree(HERE / "bad-catalogs", root / "bad-catalogs")
    seed(SeedRequest(write_example(root), repository=str(root / "fleet.git"), create=True))
    return root


@pytest.mark.parametrize("case", CASES)
def test_bad_spec_reports_exact_lines_and_writes_nothing(
    case: str, seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(seeded / "bad-specs")
    before = snapshot_directory(seeded / "fleet.git")
    expected = (HERE / "bad-specs" / f"{case}.expected").read_text()
    for command in ("seed", "plan"):
        result = run_cli(command, "-c", f"{case}.yaml", "--repo", "../fleet.git")
        assert result.code == 2
        assert result.err == expected
        assert "Traceback" not in result.err
    assert snapshot_directory(seeded / "fleet.git") == before


def test_missing_spec_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("seed", "-c", "nope.yaml")
    assert result.code == 2
    assert result.err == "error: nope.yaml: platform spec not found (check the path)\n"
    assert not (tmp_path / "fleet.git").exists()


def test_repository_path_that_is_not_a_repository(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("not git")
    result = run_cli("seed", "-c", str(spec), "--repo", str(tmp_path / "junk"))
    assert result.code == 2
    assert "is not a git repository" in result.err
    assert sorted(p.name for p in (tmp_path / "junk").iterdir()) == ["file.txt"]


def test_repository_path_that_is_a_file(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    (tmp_path / "fleet.git").write_text("not a repository")
    result = run_cli("seed", "-c", str(spec))
    assert result.code == 2
    hint = "give a repository directory or a new path"
    assert result.err == f"error: {tmp_path / 'fleet.git'}: is a file, not a git repository ({hint})\n"
    assert (tmp_path / "fleet.git").read_text() == "not a repository"


def test_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    spec = write_example(tmp_path)
    result = run_cli("seed", "-c", str(spec), "--repo", "http://127.0.0.1:9/fleet.git")
    assert result.code == 1
    assert result.err.startswith("error: ") and "127.0.0.1:9" in result.err and "Traceback" not in result.err
