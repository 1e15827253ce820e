"""Hostile YAML in a spec, a policy, a repository or a sops file: refused quickly with one located line, exit 2,
nothing written."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.seed.helpers import run_cli
from tests.updates.support import commit_tree

SPEC = """apiVersion: gitops-engine.io/v1alpha1
kind: Platform
metadata: {name: bomb}
git: {url: https://git.example.com/fleet.git}
workspaces: [{name: ws}]
clusters: [{name: mgmt, role: management, workspace: ws}]
apps:
  - app: cert-manager
    workspace: ws
    values:
"""


def aliases(first: str, levels: int, width: int, indent: str = "      ") -> str:
    """Lines where each level lists `width` aliases of the level before, the first level being `first`."""
    lines = [f"{indent}l0: &l0 {first}"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_1_kib_alias_bomb_spec_is_refused_in_seconds_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text(SPEC + aliases("[lol, lol, lol, lol, lol, lol, lol, lol, lol]", 11, 9))
    assert 900 < len(spec.read_bytes()) <= 1024
    started = time.monotonic()
    result = run_cli("seed", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"))
    assert time.monotonic() - started < 5
    assert result.code == 2
    # l0 is line 11; l4 is where the repeated nodes pass 250,000 (9 * 27,064 more than the 30,402 before it)
    assert result.err == (
        f"error: {spec}:15: invalid YAML: aliases repeat more than 250,000 nodes and characters "
        "(write the values out instead)\n"
    )
    assert not (tmp_path / "fleet.git").exists()


def test_a_716_byte_string_bomb_commits_nothing(tmp_path: Path) -> None:
    # 8**6 copies of an 80-character string: 21 MB of values.yaml, had it been rendered
    spec = tmp_path / "platform.yaml"
    spec.write_text(SPEC + aliases(f'"{"x" * 80}"', 7, 8))
    assert len(spec.read_bytes()) <= 716
    result = run_cli("seed", "-c", str(spec), "--repo", str(tmp_path / "fleet.git"))
    assert result.code == 2
    assert result.err.startswith(f"error: {spec}:") and "aliases repeat more than" in result.err
    assert result.err.count("\n") == 1
    assert not (tmp_path / "fleet.git").exists()


def test_a_policy_nested_too_deep_stops_bump_with_its_line(tmp_path: Path) -> None:
    repo = tmp_path / "fleet.git"
    commit_tree(repo, {"README.md": b"fleet\n"})
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults:\n  update_types: " + "[" * 200 + "]" * 200 + "\n")
    result = run_cli("bump", "--repo", str(repo), "--policy", str(policy), "--dry-run")
    assert result.code == 2
    assert result.err == f"error: {policy}:2: invalid YAML: nested more than 100 levels deep (flatten it)\n"


def test_a_repository_file_with_an_alias_bomb_is_skipped_by_bump(tmp_path: Path) -> None:
    repo = tmp_path / "fleet.git"
    bomb = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  values:\n" + aliases(
        "[lol, lol, lol, lol, lol, lol, lol, lol, lol]", 12, 9, indent="    "
    )
    commit_tree(repo, {"clusters/a/bomb.yaml": bomb.encode()})
    started = time.monotonic()
    result = run_cli("bump", "--repo", str(repo), "--dry-run", "--json")
    assert time.monotonic() - started < 10
    assert result.code == 0
    (problem,) = json.loads(result.out)["problems"]
    assert problem.startswith("clusters/a/bomb.yaml:9: not valid YAML, skipped (aliases repeat more than 250,000")


def test_decrypting_a_bombed_sops_file_is_refused_quickly(tmp_path: Path) -> None:
    target = tmp_path / "db.sops.yaml"
    target.write_text(
        "apiVersion: v1\nkind: Secret\nstringData:\n"
        + aliases("[lol, lol, lol, lol, lol, lol, lol, lol, lol]", 12, 9, indent="  ")
        + "sops:\n  mac: ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]\n"
    )
    started = time.monotonic()
    result = run_cli("secrets", "decrypt", str(target))
    assert time.monotonic() - started < 5
    assert result.code == 2
    assert result.err == (
        f"error: {target}:8: invalid YAML: aliases repeat more than 250,000 nodes and characters "
        "(write the values out instead)\n"
    )


def test_a_sops_file_nested_too_deep_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "db.sops.yaml"
    target.write_text("apiVersion: v1\nstringData:\n  k: " + "[" * 120 + "]" * 120 + "\n")
    result = run_cli("secrets", "decrypt", str(target))
    assert result.code == 2
    assert result.err == f"error: {target}:3: invalid YAML: nested more than 100 levels deep (flatten it)\n"
