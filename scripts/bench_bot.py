#!/usr/bin/env python3
"""Benchmark of the currency bot (run by hand, not a test): dry-run wall time and peak RSS.

usage: .venv/bin/python scripts/bench_bot.py [--sizes 1000,10000] [--repos 20] [--compare-impact]

Generates Flux repositories of N HelmReleases (clusters of 20 apps, each cluster with its own HelmRepository
pointing at one of `--repos` loopback Helm repositories serving the Renovate peer's synthetic index), then runs
`gitops-engine bump --dry-run --json` in a child process: a cold run (empty lookup cache) and a no-change rerun.
When Renovate is installed (../shared/peers/renovate/install.sh) it runs on the 1,000-release repository in the
same run (the peer's run-renovate.sh, cold cache) and the ratio and the agreement of the highest proposal per file
are printed. Figures are medians of --runs runs, with the load average. Targets: 10,000 releases <= 2 s, no-change
rerun <= 0.5 s, RSS <= 150 MiB, >= 20x faster than Renovate with the same proposals. A scheduled (non-dry) bump
is timed once per size as well: the first run writes the branches, the second finds nothing new.
With --compare-impact, the cold dry run, its rerun and the scheduled bump are also timed with
--no-render-impact, alternating with the default (the rendered impact, see app.impact): the synthetic indexes
list chart archives their servers do not have, so this is the cost of the impact when charts cannot be fetched
(run it with an interpreter without gitops-engine[helm] for the cost when rendering is not installed).

The children byte-compile into a private cache (PYTHONPYCACHEPREFIX, even when PYTHONDONTWRITEBYTECODE is set in
the shell), as an installed package has its .pyc files, and one untimed warm-up run fills it; a checkout run with
PYTHONDONTWRITEBYTECODE instead compiles the engine's modules on every start (about 0.1 s of CPU).

Figures behind app.bump: the cyclic garbage collector's passes took about a quarter of a 10,000-release run before
a pass paused it. Measured and removed, each under 0.25 s: a yaml_rs reader with a line search for the editable
scalars (a 10,500-file cold read 0.54 s against 0.67 s with the C composer alone, nothing on reruns), a forked
worker reading half of a big tree (nothing measurable on two loaded cores), a memo of dry-run answers (about
0.2 s per repeated dry run at 10,000 releases) and fetching the Helm indexes a tree declares while its releases
were resolved (resolving takes 0.22 s at 10,000 releases).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops_engine.adapters import git  # noqa: E402
from gitops_engine.updates.versions import Version, parse_version  # noqa: E402

PEER = ROOT.parent / "shared" / "peers" / "renovate"
CHARTS = {
    "cert-manager": ["v1.14.0", "v1.14.5", "v1.15.0", "v1.15.3", "v1.16.1", "v1.16.2"],
    "traefik": ["25.0.0", "27.1.0", "30.0.0", "33.0.0", "33.1.0"],
    "kube-prometheus-stack": ["55.0.0", "58.2.1", "61.1.0", "65.0.0", "66.1.0", "66.2.1"],
    "gitea": ["10.0.0", "10.3.0", "10.5.0", "10.6.0", "10.6.1"],
    "myapp": ["1.0.0", "1.2.0", "2.0.0-beta.1", "2.0.0-beta.2", "2.0.0-rc.1"],
    "podinfo": ["1.0.0", "1.5.0", "2.0.0-beta.1", "2.0.0"],
}
COMMENTS = ["", " # pinned", "  # managed by platform team"]
CPU_SECONDS: list[float] = []


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the benchmark output readable."""


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """A static HTTP server on 127.0.0.1 (ephemeral port) for `directory`."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def generate(releases: int, urls: list[str], seed: int = 42) -> dict[str, bytes]:
    """A fleet repository: clusters of 20 HelmReleases, cluster i using Helm repository i mod len(urls)."""
    rnd = random.Random(seed)
    files: dict[str, bytes] = {}
    charts = list(CHARTS)
    for cluster_index in range((releases + 19) // 20):
        cluster = f"cluster-{cluster_index:04d}"
        url = urls[cluster_index % len(urls)]
        files[f"clusters/{cluster}/flux-system/helmrepositories.yaml"] = (
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n"
            f"  name: local-charts\n  namespace: flux-system\nspec:\n  interval: 1h\n  url: {url}/\n"
        ).encode()
        for app_index in range(min(20, releases - cluster_index * 20)):
            chart = charts[(cluster_index + app_index) % len(charts)]
            version = rnd.choice(CHARTS[chart])
            written = f'"{version}"' if rnd.random() < 0.3 else version
            app = f"{chart}-{app_index:03d}"
            files[f"clusters/{cluster}/apps/{app}/helmrelease.yaml"] = (
                "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
                f"  name: {app}\n  namespace: {app}\nspec:\n  interval: 30m\n  chart:\n    spec:\n"
                f"      chart: {chart}\n      version: {written}{rnd.choice(COMMENTS)}\n      sourceRef:\n"
                "        kind: HelmRepository\n        name: local-charts\n        namespace: flux-system\n"
                f"  values:\n    fullnameOverride: {app}\n"
            ).encode()
    return files


def commit(path: Path, files: dict[str, bytes]) -> None:
    """Write `files` as the only commit of `main` in a new bare repository."""
    repo = git.open_repository(path)
    tree = git.write_tree(repo, files)
    sha = git.create_commit(repo, tree, [], "generated fleet", git.Signature("bench", "bench@localhost", 1_700_000_000))
    git.move_branch(repo, "main", sha, None, "bench")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall seconds, peak RSS (MiB, from the kernel via wait4) and stdout of a child process.

    The CPU seconds (user + system, from the same wait4) go to CPU_SECONDS: on a loaded machine they show
    what the run itself cost.
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"{argv[0]} failed: {err.read().decode()[-2000:]}")
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    return wall, usage.ru_maxrss / 1024, out


def bot(repo: Path, cache: Path, pycache: Path, extra: tuple[str, ...] = ()) -> tuple[float, float, dict[str, object]]:
    """One dry run of our bot in a fresh interpreter (lookup and scan caches under `cache`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"XDG_CACHE_HOME": str(cache), "PYTHONPYCACHEPREFIX": str(pycache)}
    cmd = [str(Path(sys.executable).parent / "gitops-engine"), "bump", "--repo", str(repo), "--dry-run", "--json"]
    wall, rss, out = timed([*cmd, *extra], env)
    return wall, rss, json.loads(out)


def scheduled(repo: Path, work: Path, pycache: Path, extra: tuple[str, ...] = ()) -> tuple[int, float, float]:
    """What a scheduled job (no --dry-run) costs on a copy of `repo`: the branches the first run writes, its
    wall time and that of the second, which finds nothing new (the bot's usual day). Not part of the targets,
    which are for dry runs."""
    copy = work / "fleet.git"
    shutil.copytree(repo, copy)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"XDG_CACHE_HOME": str(work / "cache"), "PYTHONPYCACHEPREFIX": str(pycache)}
    cmd = [str(Path(sys.executable).parent / "gitops-engine"), "bump", "--repo", str(copy), *extra]
    first, _, out = timed(cmd, env)
    again, _, _ = timed(cmd, env)
    branches = sum(1 for line in out.decode().splitlines() if line.startswith("gitops-engine/"))
    return branches, first, again


def impact_comparison(repo: Path, work: Path, pycache: Path, runs: int) -> list[str]:
    """Cold dry run, its rerun and the scheduled bump (first run and rerun), each with the rendered impact (the
    default) and with --no-render-impact, alternating run by run; medians of wall and CPU seconds."""
    off = ("--no-render-impact",)
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in range(runs):
        for label, extra in (("impact", ()), ("no impact", off)):
            cache = work / f"impact-{run}-{label}"
            for step in ("cold dry run", "dry-run rerun"):
                wall, _, _ = bot(repo, cache, pycache, extra)
                figures.setdefault((label, step), []).append((wall, CPU_SECONDS[-1]))
            _, first, again = scheduled(repo, work / f"scheduled-{run}-{label}", pycache, extra)
            figures.setdefault((label, "scheduled bump"), []).append((first, CPU_SECONDS[-2]))
            figures.setdefault((label, "scheduled rerun"), []).append((again, CPU_SECONDS[-1]))
    lines = []
    for step in ("cold dry run", "dry-run rerun", "scheduled bump", "scheduled rerun"):
        (wall, cpu), (wall_off, cpu_off) = (
            (_median(figures[(label, step)], 0), _median(figures[(label, step)], 1))
            for label in ("impact", "no impact")
        )
        lines.append(
            f"{step}: with impact {wall:.2f} s (CPU {cpu:.2f} s), --no-render-impact {wall_off:.2f} s "
            f"(CPU {cpu_off:.2f} s), difference {wall - wall_off:+.2f} s (CPU {cpu - cpu_off:+.2f} s)"
        )
    return lines


def renovate_home() -> Path:
    """Where ../shared/peers/renovate/install.sh put Renovate."""
    return Path(os.environ.get("RENOVATE_HOME", Path.home() / ".cache" / "gitops-peer-renovate"))


def renovate(work: Path, files: dict[str, bytes], run: int) -> tuple[float, float, list[dict[str, str]]]:
    """Renovate's wall time, peak RSS and proposals on the same repository (a git checkout of the same files)."""
    checkout = work / "renovate-repo"
    if not checkout.exists():
        for path, data in files.items():
            target = checkout / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        subprocess.run(["git", "init", "-q", "-b", "main", str(checkout)], check=True)
        subprocess.run(["git", "-C", str(checkout), "add", "-A"], check=True)
        ident = ["-c", "user.email=bench@localhost", "-c", "user.name=bench"]
        subprocess.run(["git", "-C", str(checkout), *ident, "commit", "-qm", "fleet"], check=True)
    out = work / f"renovate-{run}.json"
    wall, _, _ = timed(["bash", str(PEER / "run-renovate.sh"), str(checkout), str(out)], dict(os.environ))
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    return wall, float(summary.get("maxRssMiB", 0.0)), json.loads(out.read_text())


def highest(proposals: list[dict[str, str]]) -> dict[str, Version]:
    """The highest proposed version per file (Renovate may propose a minor and a major for one release)."""
    best: dict[str, Version] = {}
    for item in proposals:
        version = parse_version(str(item["proposed"]))
        if version is not None and (item["file"] not in best or best[item["file"]] < version):
            best[item["file"]] = version
    return best


def agreement(ours: list[dict[str, str]], theirs: list[dict[str, str]]) -> str:
    """How far the highest proposal per file agrees, naming a few files where it does not."""
    mine, other = highest(ours), highest(theirs)
    files = sorted(set(mine) | set(other))
    differ = [f for f in files if mine.get(f) != other.get(f)]
    if not differ:
        return f"same highest proposal for all {len(files)} files"
    shown = ", ".join(
        f"{f}: ours {mine[f].text if f in mine else '-'} / Renovate {other[f].text if f in other else '-'}"
        for f in differ[:3]
    )
    return f"{len(files) - len(differ)}/{len(files)} files agree; differing: {shown}"


def load() -> str:
    """The 1/5/15-minute load average, to read the figures against."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Generate, run and print the figures (medians over --runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-renovate", action="store_true", help="Skip Renovate even when it is installed.")
    parser.add_argument(
        "--compare-impact", action="store_true", help="Also time each run with --no-render-impact (see above)."
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    try:
        servers = []
        urls = []
        for index in range(args.repos):
            directory = work / f"helm-{index}"
            directory.mkdir()
            server, url = serve(directory)
            subprocess.run([sys.executable, str(PEER / "make-helm-index.py"), str(directory), url], check=True)
            servers.append(server)
            urls.append(url)
        print(f"{os.cpu_count()} cores, {load()}, medians of {args.runs} runs")
        pycache = work / "pycache"
        for size in (int(s) for s in args.sizes.split(",")):
            files = generate(size, urls)
            repo = work / f"fleet-{size}.git"
            commit(repo, files)
            if not pycache.exists():
                bot(repo, work / "warm-up", pycache)
            cold: list[tuple[float, float]] = []
            warm: list[tuple[float, float]] = []
            result: dict[str, object] = {}
            cold_cpu: list[float] = []
            warm_cpu: list[float] = []
            for run in range(args.runs):
                cache = work / f"cache-{size}-{run}"
                wall, rss, result = bot(repo, cache, pycache)
                cold.append((wall, rss))
                cold_cpu.append(CPU_SECONDS[-1])
                wall, rss, again = bot(repo, cache, pycache)
                warm.append((wall, rss))
                warm_cpu.append(CPU_SECONDS[-1])
                assert again["proposals"] == result["proposals"], "a rerun must propose the same"
            proposals = result["proposals"]
            assert isinstance(proposals, list)
            print(
                f"{size:>6} releases over {args.repos} repos: {len(proposals)} proposals | "
                f"cold dry-run {_median(cold, 0):.2f} s (CPU {statistics.median(cold_cpu):.2f} s), "
                f"peak RSS {_median(cold, 1):.0f} MiB | no-change rerun {_median(warm, 0):.2f} s "
                f"(CPU {statistics.median(warm_cpu):.2f} s), peak RSS {_median(warm, 1):.0f} MiB | {load()}"
            )
            written, first, rerun = scheduled(repo, work / f"scheduled-{size}", pycache)
            print(f"       scheduled bump (writes {written} branches) {first:.2f} s, ", end="")
            print(f"no-change rerun {rerun:.2f} s | {load()}")
            if args.compare_impact:
                for line in impact_comparison(repo, work / f"impact-{size}", pycache, args.runs):
                    print(f"       {line} | {load()}")
            if size != 1000 or args.no_renovate:
                continue
            if not (PEER / "run-renovate.sh").exists() or not renovate_home().exists():
                print("       Renovate not installed (../shared/peers/renovate/install.sh): no ratio")
                continue
            theirs = []
            their_cpu = []
            for run in range(args.runs):
                theirs.append(renovate(work, files, run))
                their_cpu.append(CPU_SECONDS[-1])
            wall = _median([(w, r) for w, r, _ in theirs], 0)
            print(
                f"       Renovate {wall:.2f} s (CPU {statistics.median(their_cpu):.2f} s, "
                f"{statistics.median(their_cpu) / statistics.median(cold_cpu):.1f}x ours), "
                f"peak RSS {_median([(w, r) for w, r, _ in theirs], 1):.0f} MiB "
                f"on the same repository: {wall / _median(cold, 0):.1f}x our cold run, "
                f"{wall / _median(warm, 0):.1f}x our rerun | {load()}"
            )
            print(f"       proposals: {agreement(proposals, theirs[-1][2])}")
        for server in servers:
            server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _median(pairs: list[tuple[float, float]], column: int) -> float:
    return statistics.median(pair[column] for pair in pairs)


if __name__ == "__main__":
    main()
