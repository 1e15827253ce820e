#!/usr/bin/env python3
"""Benchmark: seed a generated fleet (default 200 clusters x 25 apps) and compare with `git fast-import`.

Prints the end-to-end seed time, the time `git fast-import` takes to write the identical final tree into
an empty repository (the baseline, measured in the same run), their ratio, the no-change re-seed time and
peak RSS. Seed and baseline alternate over several rounds (shared machines drift by tens of percent from
minute to minute); each seed runs in a fresh process, as the CLI would, and medians are printed.
Not part of the test suite.

    .venv/bin/python scripts/bench_seed.py [--clusters 200] [--apps 25] [--rounds 5]

Figures behind render: the default fleet has 5,000 placements, which is why Placement is a named tuple. Refilling
per-cluster files from templates saved 0.016 s at 200 clusters over emitting each once and sharing identical
files, and was removed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

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


def worker(work: Path, apps: int, clusters: int) -> None:
    """One round's engine side, in its own process: the first seed a process runs is what a CLI user gets."""
    work.mkdir()
    synthetic_catalog(work / "bench-catalog", max(0, apps - len(CATALOG_APPS)))
    spec = work / "platform.yaml"
    spec.write_text(generated_spec(clusters, apps))
    start = time.perf_counter()
    # verification is validate's work, measured by bench_validate: here only what seeding writes
    first = seed(SeedRequest(spec, verify=False))
    seed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = seed(SeedRequest(spec, verify=False))
    reseed_seconds = time.perf_counter() - start
    assert again.commit is None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seed": seed_seconds, "reseed": reseed_seconds, "rss": rss, "tree": first.tree}))


def one_round(work: Path, apps: int, clusters: int) -> dict[str, float | str | int]:
    """Seed in a fresh process, then time `git fast-import` writing the same tree."""
    args = [sys.executable, __file__, "--worker", str(work), "--apps", str(apps), "--clusters", str(clusters)]
    measured = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    repo = git.open_repository(work / "fleet.git", create=False)
    files = dict(git.read_tree(repo, measured["tree"]))
    measured["baseline"] = fast_import_seconds(files, work)
    measured["files"] = len(files)
    check = git.open_repository(work / "baseline.git", create=False)
    assert git.head_of(check, "main").tree == measured["tree"], "baseline wrote a different tree"
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--apps", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=5, help="seed + baseline pairs; medians are printed")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.apps, args.clusters)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [one_round(Path(tmp) / f"round-{i}", args.apps, args.clusters) for i in range(args.rounds)]
    seeds, baselines, reseeds = ([float(r[key]) for r in rounds] for key in ("seed", "baseline", "reseed"))
    ratios = [s / b for s, b in zip(seeds, baselines, strict=True)]
    print(f"fleet: {args.clusters} clusters x {args.apps} apps -> {rounds[0]['files']} files, tree {rounds[0]['tree']}")
    print(f"rounds: {args.rounds}, each a seed in a new process and repository, then fast-import; medians")
    print(f"seed (end to end):        {median(seeds):7.3f} s")
    print(f"git fast-import baseline: {median(baselines):7.3f} s")
    print(f"ratio:                    {median(ratios):7.2f}x  ({min(ratios):.2f}-{max(ratios):.2f}; target <= 3x)")
    print(f"no-change re-seed:        {median(reseeds):7.3f} s   (target <= 0.5 s)")
    print(f"peak RSS (engine):        {max(float(r['rss']) for r in rounds):7.1f} MiB")


if __name__ == "__main__":
    main()
