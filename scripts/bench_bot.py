#!/usr/bin/env python3
"""Benchmark of the currency bot (run by hand, not a test): dry-run wall time and peak RSS.

usage: .venv/bin/python scripts/bench_bot.py [--sizes 1000,10000] [--repos 20]

Generates Flux repositories of N HelmReleases (clusters of 20 apps, each cluster with its own HelmRepository
pointing at one of `--repos` loopback Helm repositories serving the Renovate peer's synthetic index), then runs
`gitops-engine bump --dry-run --json` in a child process: a cold run (empty lookup cache) and a no-change rerun.
When Renovate is installed (../shared/peers/renovate/install.sh) it runs on the 1,000-release repository in the
same run and the ratio is printed. Targets: 10,000 releases <= 2 s, no-change rerun <= 0.5 s, RSS <= 150 MiB.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
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
    """Wall seconds, peak RSS (MiB, from the kernel via wait4) and stdout of a child process."""
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
    return wall, usage.ru_maxrss / 1024, out


def bot(repo: Path, cache: Path) -> tuple[float, float, dict[str, object]]:
    """One dry run of our bot in a fresh interpreter."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    cmd = [str(Path(sys.executable).parent / "gitops-engine"), "bump", "--repo", str(repo), "--dry-run", "--json"]
    wall, rss, out = timed(cmd, env)
    return wall, rss, json.loads(out)


def renovate(work: Path, files: dict[str, bytes]) -> float | None:
    """Renovate's wall time on the same repository, when the peer is installed."""
    runner = PEER / "run-renovate.sh"
    home = Path(os.environ.get("RENOVATE_HOME", Path.home() / ".renovate-peer"))
    if not runner.exists() or not home.exists():
        return None
    checkout = work / "renovate-repo"
    for path, data in files.items():
        target = checkout / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    subprocess.run(["git", "init", "-q", "-b", "main", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "-A"], check=True)
    ident = ["-c", "user.email=bench@localhost", "-c", "user.name=bench"]
    subprocess.run(["git", "-C", str(checkout), *ident, "commit", "-qm", "fleet"], check=True)
    start = time.perf_counter()
    subprocess.run([str(runner), str(checkout), str(work / "renovate.json")], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Generate, run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repos", type=int, default=20)
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
        for size in (int(s) for s in args.sizes.split(",")):
            files = generate(size, urls)
            repo = work / f"fleet-{size}.git"
            commit(repo, files)
            cache = work / f"cache-{size}"
            cold, cold_rss, result = bot(repo, cache)
            warm, warm_rss, again = bot(repo, cache)
            assert again["proposals"] == result["proposals"], "a rerun must propose the same"
            proposals = result["proposals"]
            assert isinstance(proposals, list)
            print(
                f"{size:>6} releases over {args.repos} repos: {len(proposals)} proposals | "
                f"cold dry-run {cold:.2f} s, peak RSS {cold_rss:.0f} MiB | "
                f"no-change rerun {warm:.2f} s, peak RSS {warm_rss:.0f} MiB"
            )
            if size == 1000:
                theirs = renovate(work, files)
                if theirs is None:
                    print("       Renovate not installed (../shared/peers/renovate/install.sh): no ratio")
                else:
                    print(f"       Renovate {theirs:.2f} s on the same repository: {theirs / cold:.1f}x ours")
        for server in servers:
            server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
