"""The README's managed-cluster lifecycle (spec → seed → bump → merge → re-seed) runs as written, offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- lifecycle:begin -->\n```sh\n(?P<script>.*?)```\n<!-- lifecycle:end -->", re.S)


def test_the_readme_lifecycle_of_a_managed_cluster_runs_as_written(tmp_path: Path) -> None:
    found = _BLOCK.search(README.read_text())
    assert found is not None, "the README lost its lifecycle block"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }
    work = tmp_path / "work-dir"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", found["script"]],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # validate: nothing wrong with the seeded Cluster API objects
    assert "0 error(s)" in out
    # the first bump: one branch per step, in order, the last capped by the management cluster
    assert out.count("kubernetes v1.29.4 -> 1.29.10 (patch)") == 1
    assert "kubernetes 1.29.10 -> 1.30.6 (minor)" in out and "kubernetes 1.30.6 -> 1.31.4 (minor)" in out
    assert "1.31.7" not in out.replace("1.31.4", "")
    lines = [line.split()[:2] for line in out.splitlines() if line.strip().startswith("gitops-engine/kubernetes-")]
    assert [" ".join(words) for words in lines] == [
        "gitops-engine/kubernetes-edge-1.29: created",
        "gitops-engine/kubernetes-edge-1.30: created",
        "gitops-engine/kubernetes-edge-1.31: created",
        # git branch --list
        "gitops-engine/kubernetes-edge-1.29",
        "gitops-engine/kubernetes-edge-1.30",
        "gitops-engine/kubernetes-edge-1.31",
        # after the merge: the re-seed keeps the merged step, and the bot goes on from it (the merged branch goes)
        "gitops-engine/kubernetes-edge-1.30: unchanged",
        "gitops-engine/kubernetes-edge-1.31: unchanged",
        "gitops-engine/kubernetes-edge-1.29: superseded",
    ]
    assert "branch main is up to date; no commit made" in out
    cluster = subprocess.run(
        ["git", "--git-dir", str(work / "fleet.git"), "show", "main:cluster-api/clusters/edge/cluster.yaml"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert "    version: v1.29.10\n" in cluster
