"""Benchmark `validate` on a generated repository with many Flux Kustomization paths (run by hand).

Prints our wall time (cold cache, then warm), and in the same run the sum of bare `kustomize build` times
over the same folders divided by the cores used (the worker count, at most the machine's cores), and the
ratio between the two (target: <= 1.2). On a
shared machine other load moves every figure, so each round measures validate and the baseline back to
back, and the medians over `--rounds` are reported with the load average before and after. Wall time
under load mostly measures the scheduler, so each round also prints CPU seconds, which other load barely
moves: this process's own (parsing, checks) and its kustomize children's, against the bare builds'.

    .venv/bin/python scripts/bench_validate.py [--paths 1000] [--workers N] [--rounds 3]

Figures behind adapters/kustomize: with Go's collector off below a 256 MiB soft limit (GOGC=off,
GOMEMLIMIT=256MiB) kustomize's builds took about a sixth less CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gitops_engine.adapters.command import Command, run
from gitops_engine.adapters.kustomize import kustomize_command
from gitops_engine.app.validate import validate_repository

SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, ref: {branch: main}, url: "ssh://git@example.invalid/fleet.git"}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m
  path: ./clusters/bench
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""

APP_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: app-{n}, namespace: flux-system}}
spec:
  interval: 10m
  path: ./apps/app-{n}
  prune: true
  targetNamespace: team-{n}
  sourceRef: {{kind: GitRepository, name: flux-system}}
  postBuild:
    substitute: {{releaseName: app-{n}, appVersion: "6.5.4"}}
"""

APP_FILES = {
    "kustomization.yaml": "resources: [repository.yaml, release.yaml, values.yaml]\n",
    "repository.yaml": """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo}
spec: {interval: 1h, url: "https://stefanprodan.github.io/podinfo"}
""",
    "release.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: "${releaseName}"}
spec:
  interval: 10m
  chart:
    spec: {chart: podinfo, version: "${appVersion}", sourceRef: {kind: HelmRepository, name: podinfo}}
  valuesFrom: [{kind: ConfigMap, name: "${releaseName}-values"}]
""",
    "values.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "${releaseName}-values"}
data: {values.yaml: "replicaCount: 2"}
""",
}


def generate(root: Path, count: int) -> list[str]:
    """Write the repository; returns every folder a Flux Kustomization builds."""
    (root / "clusters/bench/flux-system").mkdir(parents=True)
    (root / "clusters/bench/flux-system/gotk-sync.yaml").write_text(SYNC)
    (root / "clusters/bench/apps").mkdir()
    folders = ["clusters/bench"]
    for n in range(count):
        (root / f"clusters/bench/apps/app-{n:04d}.yaml").write_text(APP_KS.format(n=f"{n:04d}"))
        app = root / f"apps/app-{n:04d}"
        app.mkdir(parents=True)
        for name, text in APP_FILES.items():
            (app / name).write_text(text)
        folders.append(f"apps/app-{n:04d}")
    # an explicit kustomization, so the bare baseline can build the cluster folder too
    listed = "".join(f"  - apps/app-{n:04d}.yaml\n" for n in range(count))
    (root / "clusters/bench/kustomization.yaml").write_text(f"resources:\n  - flux-system/gotk-sync.yaml\n{listed}")
    return folders


def bare_builds(root: Path, folders: list[str]) -> float:
    """Seconds spent in plain `kustomize build` of each folder, one after another."""
    command = kustomize_command()
    total = 0.0
    for folder in folders:
        started = time.perf_counter()
        run(Command((*command, str(root / folder)), cwd=root))
        total += time.perf_counter() - started
    return total


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def measure(root: Path, folders: list[str], cache: Path, workers: int) -> tuple[float, float, float, int]:
    """One round: cold validate, warm validate, bare builds per core used; and the number of objects."""
    shutil.rmtree(cache, ignore_errors=True)
    own_before, children_before = cpu_seconds()
    started = time.perf_counter()
    report, stats = validate_repository(str(root), cache_dir=cache, workers=workers)
    cold = time.perf_counter() - started
    own_after, children_after = cpu_seconds()
    assert stats.built == len(folders), (stats.built, len(folders))
    started = time.perf_counter()
    _, warm_stats = validate_repository(str(root), cache_dir=cache, workers=workers)
    warm = time.perf_counter() - started
    assert warm_stats.cached == len(folders), (warm_stats.cached, len(folders))
    bare_before = cpu_seconds()[1]
    baseline = bare_builds(root, folders) / min(workers, os.cpu_count() or 1)
    bare_cpu = cpu_seconds()[1] - bare_before
    own, kustomize = own_after - own_before, children_after - children_before
    print(
        f"  cpu, cold validate: own {own:6.2f} s + kustomize {kustomize:6.2f} s; bare builds {bare_cpu:6.2f} s; "
        f"ratio {(own + kustomize) / bare_cpu:5.2f}"
    )
    return cold, warm, baseline, sum(len(c.objects) for c in report.discovery.clusters)


def main() -> None:
    """Generate, then per round validate cold and warm and time the bare builds; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root, cache = Path(tmp) / "repo", Path(tmp) / "cache"
        folders = generate(root, args.paths)
        print(f"paths: {len(folders)}  workers: {args.workers}  cores: {os.cpu_count()}  load before: {_load()}")
        rounds = []
        for number in range(1, args.rounds + 1):
            cold, warm, baseline, objects = measure(root, folders, cache, args.workers)
            rounds.append((cold, warm, baseline))
            print(
                f"round {number}: objects {objects}  cold {cold:7.2f} s  warm {warm:6.2f} s  "
                f"baseline {baseline:7.2f} s  cold/baseline {cold / baseline:5.2f}  warm/baseline "
                f"{warm / baseline:5.2f}  load {_load()}"
            )
        cold, warm, baseline = (statistics.median(r[i] for r in rounds) for i in range(3))
        ratios = [r[0] / r[2] for r in rounds]
        print(f"median validate, cold cache: {cold:8.2f} s")
        print(f"median validate, warm cache: {warm:8.2f} s")
        cores = min(args.workers, os.cpu_count() or 1)
        print(f"median bare kustomize build: {baseline:8.2f} s per core (summed / {cores})")
        print(f"median ratio cold/baseline:  {statistics.median(ratios):8.2f}  (target <= 1.2)")
        print(f"median ratio warm/baseline:  {statistics.median(r[1] / r[2] for r in rounds):8.2f}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
