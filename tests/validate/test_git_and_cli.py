"""validate and diff on a bare repository at a ref, through the use cases and the CLI in-process."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from gitops_engine.adapters import git
from gitops_engine.app.diff import diff_repository
from gitops_engine.app.validate import validate_repository
from gitops_engine.cli.main import main
from gitops_engine.validate.diff import MASK, MASK_CHANGED, Change, ObjectChange, ScopeCount, count_changes
from gitops_engine.validate.objects import ObjectId
from tests.validate.fixtures import BASE, RELEASE

AUTHOR = git.Signature("test", "test@example.invalid", 1_700_000_000)


def _config_map(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def _secret(token: str) -> str:
    encoded = base64.b64encode(token.encode()).decode()
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  token: {encoded}\n"


def _kustomization(*resources: str) -> str:
    return BASE["apps/kustomization.yaml"] + "".join(f"  - {r}\n" for r in resources)


BASE_FILES = {
    **BASE,
    "apps/kustomization.yaml": _kustomization("old.yaml", "secret.yaml"),
    "apps/old.yaml": _config_map("old-config"),
    "apps/secret.yaml": _secret("first-s3cret"),
}
HEAD_FILES = {
    **{k: v for k, v in BASE_FILES.items() if k != "apps/old.yaml"},
    "apps/kustomization.yaml": _kustomization("new.yaml", "secret.yaml"),
    "apps/new.yaml": _config_map("new-config"),
    "apps/release.yaml": RELEASE.replace("version: 6.5.4", "version: 6.5.5"),
    "apps/secret.yaml": _secret("second-s3cret"),
}


def _bare_repo(path: Path, *commits: Mapping[str, str]) -> list[str]:
    repo = git.open_repository(path)
    ids: list[str] = []
    for files in commits:
        # the fixture holds a plaintext Secret on purpose: it is what validate must flag and diff must mask
        tree = git.write_tree(repo, {p: t.encode() for p, t in files.items()}, guard=None)
        commit = git.create_commit(repo, tree, ids[-1:], "change", AUTHOR)
        git.move_branch(repo, "main", commit, ids[-1] if ids else None, "test")
        ids.append(commit)
    return ids


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "fleet.git"
    return path, _bare_repo(path, BASE_FILES, HEAD_FILES)


def test_validate_bare_repository_at_a_ref(bare: tuple[Path, list[str]]) -> None:
    path, (first, _) = bare
    report, _ = validate_repository(str(path), first, cache_dir=path.parent / "c")
    assert {(f.rule, f.file) for f in report.findings} == {("secret-plaintext", "apps/secret.yaml")}
    objects = {str(o.id) for o in report.discovery.clusters[0].objects}
    assert "ConfigMap/podinfo/old-config" in objects
    assert "ConfigMap/podinfo/new-config" not in objects


def test_unchanged_closures_come_from_the_cache(bare: tuple[Path, list[str]]) -> None:
    path, _ = bare
    cache = path.parent / "c"
    _, cold = validate_repository(str(path), "main", cache_dir=cache)
    _, warm = validate_repository(str(path), "main", cache_dir=cache)
    assert (cold.built, cold.cached) == (2, 0)
    assert (warm.built, warm.cached) == (0, 2)


def test_diff_reports_exactly_the_object_changes(bare: tuple[Path, list[str]]) -> None:
    path, (first, second) = bare
    result = diff_repository(str(path), first, second, cache_dir=path.parent / "c")
    summary = [(c.kustomization, str(c.object), c.change) for c in result.changes]
    assert summary == [
        ("Kustomization/flux-system/apps", "ConfigMap/podinfo/new-config", Change.ADDED),
        ("Kustomization/flux-system/apps", "ConfigMap/podinfo/old-config", Change.REMOVED),
        ("Kustomization/flux-system/apps", "Secret/podinfo/creds", Change.CHANGED),
        ("Kustomization/flux-system/apps", "HelmRelease/podinfo/podinfo", Change.CHANGED),
    ]
    release = result.changes[3].diff
    assert "-      version: 6.5.4\n+      version: 6.5.5\n" in release
    secret = result.changes[2].diff
    removed = [line for line in secret.splitlines() if line.startswith("-  token:")]
    added = [line for line in secret.splitlines() if line.startswith("+  token:")]
    assert len(removed) == len(added) == 1
    assert MASK in removed[0] and MASK_CHANGED not in removed[0]
    assert MASK_CHANGED in added[0]
    every_diff = "".join(c.diff for c in result.changes)
    for plain in ("first-s3cret", "second-s3cret", base64.b64encode(b"second-s3cret").decode()):
        assert plain not in every_diff


def test_cli_exit_codes_and_json(bare: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, (first, second) = bare
    assert main(["validate", "--repo", str(path), "--ref", first, "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert [(f["rule"], f["file"], f["line"]) for f in findings] == [("secret-plaintext", "apps/secret.yaml", 5)]

    assert main(["diff", first, first, "--repo", str(path)]) == 0
    assert "no rendered changes" in capsys.readouterr().out
    assert main(["diff", first, second, "--repo", str(path)]) == 1
    out = capsys.readouterr().out
    assert "changed: HelmRelease/podinfo/podinfo" in out
    assert "second-s3cret" not in out

    assert main(["validate", "--repo", str(path), "--ref", "no-such-branch"]) == 2
    assert "no revision 'no-such-branch'" in capsys.readouterr().err
    assert main(["validate", "--repo", str(path), "--path", "nowhere"]) == 2


def test_diff_text_starts_with_counts_per_cluster_and_kustomization(
    bare: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, (first, second) = bare
    assert main(["diff", first, second, "--repo", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        "4 object(s) differ in 1 Kustomization(s) on 1 cluster(s):",
        "  CLUSTER       KUSTOMIZATION                   ADDED  CHANGED  REMOVED",
        "  clusters/dev  Kustomization/flux-system/apps      1        2        1",
        "",
        "## cluster clusters/dev — Kustomization/flux-system/apps",
    ]


def test_counts_keep_each_cluster_and_kustomization_apart() -> None:
    def change(cluster: str, ks: str, name: str, kind: Change) -> ObjectChange:
        return ObjectChange(cluster, ks, ObjectId("", "ConfigMap", "ns", name), kind, "")

    changes = (
        change("a", "Kustomization/x/apps", "one", Change.ADDED),
        change("a", "Kustomization/x/apps", "two", Change.ADDED),
        change("a", "Kustomization/x/infra", "three", Change.REMOVED),
        change("b", "Kustomization/x/apps", "four", Change.CHANGED),
    )

    assert count_changes(changes) == (
        ScopeCount("a", "Kustomization/x/apps", 2, 0, 0),
        ScopeCount("a", "Kustomization/x/infra", 0, 0, 1),
        ScopeCount("b", "Kustomization/x/apps", 0, 1, 0),
    )


def test_cli_validates_a_clean_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rel, text in BASE.items():
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text(text)
    assert main(["validate", "--repo", str(tmp_path / "repo")]) == 0
    assert "0 error(s), 0 warning(s); 1 cluster(s)" in capsys.readouterr().out


def test_validate_a_git_url(bare: tuple[Path, list[str]]) -> None:
    path, (first, _) = bare
    report, _ = validate_repository(path.as_uri(), first, cache_dir=path.parent / "c")
    assert [f.rule for f in report.findings] == ["secret-plaintext"]


def test_cli_jobs_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for rel, text in BASE.items():
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text(text)
    assert main(["validate", "--repo", str(tmp_path / "repo"), "--jobs", "1"]) == 0
    assert "2 build(s) run" in capsys.readouterr().out
    assert main(["validate", "--repo", str(tmp_path / "repo"), "--jobs", "0"]) == 2
