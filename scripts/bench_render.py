#!/usr/bin/env python3
"""Benchmark of HelmRelease rendering (run by hand, not a test): 1,000 releases over 50 charts, cold and warm.

usage: .venv/bin/python scripts/bench_render.py [--releases 1000] [--charts 50] [--sample 20] [--bump-releases 1000]

Writes 50 charts (a Deployment, a Service, a ConfigMap and a Secret each, a subchart, a values schema) into a
temporary folder and makes 1,000 release jobs over them (20 per chart, each with its own values), as
app.helm.HelmRendering gets them from a repository (folder charts, packed in memory). Then times:

- cold: an empty render cache, each chart loaded once, renders on worker threads (one per CPU);
- warm: the same jobs again in a new HelmRendering over the filled cache (no chart load, no render);
- one process per release: `python -c` that imports the Helm SDK, loads the chart folder and renders one
  release, as a `helm template`-per-release tool does; timed on --sample releases and scaled to all of them.

Then the rendered impact of a bot pass (app.impact), on scripts/bench_bot.py's fleet of --bump-releases
HelmReleases over 20 loopback Helm repositories, each cluster with its Flux Kustomizations and every index entry
backed by a small real chart: `bump --dry-run --json` cold and rerun, with the impact and with
--no-render-impact (13 branches; every release's chart version moves, so every one is rendered twice).

Prints each figure and the ratios, with the load average (the machine is shared).

Figures behind app.impact (1,000 releases, load about 11 on 2 cores): building every branch's head with
kustomize took the cold run to 134 s (CPU 56.5 s), deriving heads of version-only edits from the base's
discovery (validate.scalar_edits) to 17 s (CPU 12 s); without keeping complete impacts by (base tree, edits)
a rerun took 24 s (CPU 7.6 s), with them 1.2 s (CPU 0.8 s, as without the impact).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_bot  # noqa: E402

from gitops_engine.adapters.helmrepo import LookupOptions  # noqa: E402
from gitops_engine.adapters.helmsdk import package_chart  # noqa: E402
from gitops_engine.app.helm import HelmOptions, HelmRendering  # noqa: E402
from gitops_engine.helm.release import release_spec  # noqa: E402
from gitops_engine.helm.sources import ChartLocation  # noqa: E402
from gitops_engine.validate.helmreleases import ReleaseJob  # noqa: E402
from gitops_engine.validate.objects import RenderedObject, object_id  # noqa: E402

TEMPLATES = {
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}, labels: {app: {{ .Chart.Name }}}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
          {{- range $k, $v := .Values.env }}
            - {name: {{ $k }}, value: {{ $v | quote }}}
          {{- end }}
""",
    "templates/service.yaml": """apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}}
spec: {selector: {app: {{ .Release.Name }}}, ports: [{port: {{ .Values.port }}}]}
""",
    "templates/configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-config}
data:
  settings.json: {{ toJson .Values.env | quote }}
""",
    "templates/secret.yaml": """apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-auth}
data: {token: {{ .Values.token | b64enc }}}
""",
    "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    "charts/sub/values.yaml": "note: hello\n",
    "charts/sub/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-sub}\n"
    "data: {note: {{ .Values.note | quote }}}\n",
    "values.schema.json": '{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}}',
}


def write_charts(root: Path, count: int) -> list[Path]:
    """`count` chart folders `chart-<i>` under `root`."""
    folders = []
    for i in range(count):
        folder = root / f"chart-{i}"
        files = {
            **TEMPLATES,
            "Chart.yaml": f"apiVersion: v2\nname: chart-{i}\nversion: 1.{i}.0\n"
            "dependencies: [{name: sub, version: 0.1.0}]\n",
            "values.yaml": "replicas: 1\nport: 80\ntoken: t\nimage: {repository: nginx, tag: '1.0'}\n"
            "env: {A: '1', B: '2'}\n",
        }
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
        folders.append(folder)
    return folders


def jobs(folders: list[Path], releases: int) -> list[ReleaseJob]:
    """One job per release, spread evenly over the charts."""
    chart_files = [
        {p.relative_to(f).as_posix(): p.read_bytes() for p in sorted(f.rglob("*")) if p.is_file()} for f in folders
    ]
    result = []
    for n in range(releases):
        chart = n % len(folders)
        body = {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": f"app-{n}", "namespace": f"team-{n % 40}"},
            "spec": {
                "chart": {
                    "spec": {"chart": f"./charts/chart-{chart}", "sourceRef": {"kind": "GitRepository", "name": "x"}}
                }
            },
        }
        values = {"replicas": 1 + n % 5, "image": {"tag": f"1.{n % 7}"}, "env": {"RELEASE": str(n)}}
        location = ChartLocation("folder", f"charts/chart-{chart}", f"chart-{chart}", files=chart_files[chart])
        obj = RenderedObject(object_id(body), str(body["apiVersion"]), body, "bench.yaml")
        result.append(ReleaseJob("bench", obj, release_spec(body), location, values))
    return result


def timed_render(work: list[ReleaseJob], cache: Path) -> tuple[float, int]:
    """Seconds to render every job with a render cache in `cache`, and how many objects came out."""
    rendering = HelmRendering(HelmOptions(LookupOptions(cache_dir=cache), offline=True))
    start = time.perf_counter()
    rendered = rendering.render(work)
    seconds = time.perf_counter() - start
    rendering.close()
    failures = [r.failure for r in rendered if r.failure or r.unavailable]
    assert not failures, failures[:3]
    return seconds, sum(len(r.objects) for r in rendered)


ONE = """
import json, sys, helm_python as helm
with helm.Chart.load(sys.argv[1]) as chart:
    out = chart.render(json.loads(sys.argv[2]), name=sys.argv[3], namespace=sys.argv[4])
print(len(out))
"""


def per_process(work: list[ReleaseJob], folders: list[Path], sample: int) -> float:
    """Mean seconds of one `python -c` render per release over `sample` releases."""
    times = []
    step = max(1, len(work) // sample)
    for job in work[::step][:sample]:
        assert job.spec is not None and job.location is not None
        folder = folders[int(job.location.chart.rsplit("-", 1)[1])]
        args = [sys.executable, "-c", ONE, str(folder), _json(job.values), job.spec.release_name, job.spec.namespace]
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.mean(times)


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def bump_impact(work: Path, releases: int) -> list[str]:
    """Cold dry run and rerun of `bump --dry-run --json` with the rendered impact and without (see module doc)."""
    archives = _bot_charts(work / "charts")
    urls = [_chart_repository(work / f"helm-{i}", archives) for i in range(20)]
    files = bench_bot.generate(releases, urls)
    for cluster in sorted({path.split("/")[1] for path in files}):
        files[f"clusters/{cluster}/flux-system/gotk-sync.yaml"] = SYNC.format(cluster=cluster).encode()
    repo = work / "fleet.git"
    bench_bot.commit(repo, files)
    pycache = work / "pycache"
    bench_bot.bot(repo, work / "warm-up", pycache)
    lines: list[str] = []
    for label, extra in (("with the impact", ()), ("--no-render-impact", ("--no-render-impact",))):
        cache = work / f"cache-{len(lines)}"
        cold, _, answer = bench_bot.bot(repo, cache, pycache, extra)
        cold_cpu = bench_bot.CPU_SECONDS[-1]
        rerun, _, _ = bench_bot.bot(repo, cache, pycache, extra)
        branches = answer["branches"]
        assert isinstance(branches, list)
        shown = sum(len(b["impact"]["releases"]) for b in branches if b["impact"])
        lines.append(
            f"bump dry run {label}: cold {cold:.2f} s (CPU {cold_cpu:.2f} s), rerun {rerun:.2f} s "
            f"(CPU {bench_bot.CPU_SECONDS[-1]:.2f} s); {len(branches)} branches, {shown} releases rendered"
        )
    return lines


SYNC = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: flux-system, namespace: flux-system}}
spec: {{interval: 1m, url: "https://git.example.invalid/fleet.git", ref: {{branch: main}}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: flux-system, namespace: flux-system}}
spec: {{interval: 10m, path: ./clusters/{cluster}, prune: true, sourceRef: {{kind: GitRepository, name: flux-system}}}}
"""
# the versions scripts/bench_bot.py's fleet pins and the synthetic indexes offer
BOT_VERSIONS = {
    "cert-manager": [f"v1.{m}.{p}" for m, last in ((14, 7), (15, 4), (16, 2)) for p in range(last + 1)],
    "traefik": [f"{major}.{minor}.0" for major in range(25, 34) for minor in (0, 1)],
    "kube-prometheus-stack": [f"{major}.{rest}" for major in range(55, 67) for rest in ("0.0", "1.0", "2.1")],
    "gitea": [*(f"10.{m}.0" for m in range(7)), "10.6.1"],
    "myapp": ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "2.0.0-beta.1", "2.0.0-beta.2", "2.0.0-rc.1"],
    "podinfo": ["1.0.0", "1.5.0", "2.0.0-beta.1", "2.0.0"],
}


def _bot_charts(root: Path) -> dict[tuple[str, str], bytes]:
    """A one-Deployment chart per (chart, version) the bot fleet uses, packaged by the Helm SDK."""
    archives = {}
    for chart, versions in BOT_VERSIONS.items():
        for version in versions:
            folder = root / f"{chart}-{version}" / chart
            (folder / "templates").mkdir(parents=True)
            (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart}\nversion: {version.lstrip('v')}\n")
            (folder / "values.yaml").write_text("replicas: 1\n")
            (folder / "templates/deployment.yaml").write_text(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: {{ .Release.Name }}}\nspec:\n"
                "  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: {{ .Release.Name }}}}\n"
                f"  template:\n    metadata: {{labels: {{app: {{{{ .Release.Name }}}}, version: '{version}'}}}}\n"
                f"    spec: {{containers: [{{name: app, image: 'app:{version}'}}]}}\n"
            )
            packages = root / "packages"
            packages.mkdir(exist_ok=True)
            archives[(chart, version)] = Path(package_chart(str(folder), str(packages))).read_bytes()
    return archives


def _chart_repository(directory: Path, archives: dict[tuple[str, str], bytes]) -> str:
    """A loopback Helm repository serving `archives` with an index of their digests; returns its URL."""
    directory.mkdir(parents=True)
    _, url = bench_bot.serve(directory)
    lines = ["apiVersion: v1", "entries:"]
    for chart, versions in BOT_VERSIONS.items():
        lines.append(f"  {chart}:")
        for age, version in enumerate(reversed(versions)):
            data = archives[(chart, version)]
            (directory / f"{chart}-{version}.tgz").write_bytes(data)
            lines += [
                f"  - {{name: {chart}, version: {version}, created: '2024-{12 - age % 12:02d}-01T00:00:00Z',",
                f"     digest: {hashlib.sha256(data).hexdigest()}, urls: ['{url}/{chart}-{version}.tgz']}}",
            ]
    (directory / "index.yaml").write_text("\n".join(lines) + "\n")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--charts", type=int, default=50)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--bump-releases", type=int, default=1000, help="0 leaves out the bump impact figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        root = Path(tmp)
        folders = write_charts(root / "charts", args.charts)
        work = jobs(folders, args.releases)
        cold, objects = timed_render(work, root / "cache")
        warm, _ = timed_render(work, root / "cache")
        one = per_process(work, folders, args.sample)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    total = one * args.releases
    print(f"{args.releases} releases over {args.charts} charts, {objects} objects, {os.cpu_count()} CPUs, load {load}")
    print(f"cold (empty render cache, threads): {cold:.2f} s ({cold / args.releases * 1000:.2f} ms per release)")
    print(f"warm (render cache):                {warm:.2f} s")
    print(f"one process per release:           {one:.3f} s each, {total:.1f} s for all (from {args.sample} runs)")
    print(f"ratio per-process / cold: {total / cold:.0f}x; per-process / warm: {total / warm:.0f}x")
    if args.bump_releases:
        with tempfile.TemporaryDirectory(prefix="bench-render-bump-") as tmp:
            for line in bump_impact(Path(tmp), args.bump_releases):
                print(f"{line} | load {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
