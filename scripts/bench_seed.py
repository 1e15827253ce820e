#!/usr/bin/env python3
"""Benchmark: seed a generated fleet (default 200 clusters x 25 apps) and compare with `git fast-import`.

Prints the end-to-end seed time, the time `git fast-import` takes to write the identical final tree into
an empty repository (the baseline, measured in the same run), their ratio, the no-change re-seed time and
peak RSS. Not part of the test suite.

    .venv/bin/python scripts/bench_seed.py [--clusters 200] [--apps 25]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from gitops_engine.adapters import git
from gitops_engine.app.seed import SeedRequest, seed

CATALOG_APPS = [
    "cert-manager",
    "traefik",
    "gatekeeper",
    "chartmuseum",
    "dex",
    "kube-prometheus-stack",
    "grafana-loki",
    "velero",
    "external-dns",
    "metallb",
    "istio",
    "kubecost",
    "zookeeper",
    "kafka",
    "spark",
]


def synthetic_catalog(root: Path, count: int) -> None:
    """Extra small apps so every cluster can run `count` distinct ones."""
    for index in range(count):
        name = f"bench-app-{index:02d}"
        folder = root / name / "1.0.0"
        folder.mkdir(parents=True)
        (folder / "metadata.yaml").write_text(
            f'displayName: {name}\ndescription: "benchmark app"\ncategory: [bench]\nscope: [workspace]\n'
            "dependencies: []\nlicensing: [Apache-2.0]\n"
            f"chart:\n  name: {name}\n  version: 1.0.0\n  repository: https://charts.example.com/bench\n"
        )
        (folder / "kustomization.yaml").write_text("resources:\n  - helmrelease.yaml\n")
        (folder / "helmrelease.yaml").write_text(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: ${releaseName}\n"
            "  namespace: ${releaseNamespace}\nspec:\n  interval: 15m\n  chart:\n    spec:\n"
            f"      chart: {name}\n      version: 1.0.0\n      sourceRef:\n        kind: HelmRepository\n"
            "        name: charts.example.com-bench\n        namespace: kommander-flux\n"
        )


def generated_spec(clusters: int, apps: int, per_workspace: int = 10) -> str:
    """A platform spec with `clusters` clusters in workspaces of `per_workspace`, each running `apps` apps."""
    workspaces = max(1, clusters // per_workspace)
    names = (CATALOG_APPS + [f"bench-app-{i:02d}" for i in range(max(0, apps - len(CATALOG_APPS)))])[:apps]
    lines = [
        "apiVersion: gitops-engine.io/v1alpha1",
        "kind: Platform",
        "metadata: {name: bench}",
        "git: {url: 'https://git.example.com/fleet.git'}",
        "catalog: {paths: [bench-catalog]}",
        "workspaces:",
    ]
    lines += [f"  - {{name: ws-{w:03d}}}" for w in range(workspaces)]
    lines.append("clusters:")
    for c in range(clusters):
        role = "management" if c == 0 else "workload"
        lines.append(
            f"  - {{name: c-{c:04d}, role: {role}, workspace: ws-{c % workspaces:03d}, labels: {{env: prod}}}}"
        )
    lines.append("apps:")
    for w in range(workspaces):
        lines += [f"  - {{app: {name}, workspace: ws-{w:03d}}}" for name in names]
    return "\n".join(lines) + "\n"


def fast_import_seconds(files: dict[str, bytes], workdir: Path) -> float:
    """Time for `git fast-import` to write the same tree as one commit into a new bare repository."""
    target = workdir / "baseline.git"
    subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True)
    chunks = [b"commit refs/heads/main\n", b"committer bench <bench@localhost> 946684800 +0000\n", b"data 6\nbench\n"]
    for path, data in sorted(files.items()):
        chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    stream = b"".join(chunks)
    start = time.perf_counter()
    subprocess.run(["git", "-C", str(target), "fast-import", "--quiet"], input=stream, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--apps", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        synthetic_catalog(work / "bench-catalog", max(0, args.apps - len(CATALOG_APPS)))
        spec = work / "platform.yaml"
        spec.write_text(generated_spec(args.clusters, args.apps))
        start = time.perf_counter()
        first = seed(SeedRequest(spec))
        seed_seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = seed(SeedRequest(spec))
        reseed_seconds = time.perf_counter() - start
        assert again.commit is None
        repo = git.open_repository(work / "fleet.git", create=False)
        files = dict(git.read_tree(repo, first.tree))
        baseline = fast_import_seconds(files, work)
        check = git.open_repository(work / "baseline.git", create=False)
        assert git.head_of(check, "main").tree == first.tree, "baseline wrote a different tree"
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fleet: {args.clusters} clusters x {args.apps} apps -> {len(files)} files, tree {first.tree[:12]}")
    print(f"seed (end to end):        {seed_seconds:7.3f} s")
    print(f"git fast-import baseline: {baseline:7.3f} s   ratio {seed_seconds / baseline:5.2f}x (target <= 3x)")
    print(f"no-change re-seed:        {reseed_seconds:7.3f} s   (target <= 0.5 s)")
    print(f"peak RSS (engine):        {rss_self:7.1f} MiB")


if __name__ == "__main__":
    main()
