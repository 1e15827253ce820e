#!/usr/bin/env python3
"""Benchmark: parse a Helm index (default: the 4 MB grafana index) with PyYAML's C loader, yaml_rs, and our cache.

usage: .venv/bin/python scripts/bench_index_parse.py [INDEX_YAML] [--repeat N]
Every figure is measured in this run; ratios are against PyYAML's CSafeLoader, the baseline.

Figures behind adapters/chartindex (grafana's 4 MB index, 41 charts and 3,600 releases): PyYAML's C loader about
2.7 s, yaml_rs about 0.12 s (identical documents on every index of the corpora once yaml_rs keeps quoted strings
as strings: parse_datetime=False); loading the cached parse about 2 ms, as each chart stays one JSON string until
it is looked at.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
import yaml_rs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gitops_engine.adapters.chartindex import index_from_bytes, parse_index  # noqa: E402

DEFAULT_INDEX = ROOT.parent / "shared" / "corpora" / "helm-indexes" / "grafana-index.yaml"


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` runs of `action`."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    """Run every variant and print median and best times with ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", nargs="?", type=Path, default=DEFAULT_INDEX)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data: bytes = args.index.read_bytes()
    url = "https://bench.example/charts"

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        index_from_bytes(data, url, cache)  # warm the parse cache once, as a first run would
        first_chart = next(iter(parse_index(data, url).charts))

        def cached_one_chart() -> None:
            index, _ = index_from_bytes(data, url, cache)
            index.releases(first_chart)

        def cached_all_charts() -> None:
            index, _ = index_from_bytes(data, url, cache)
            for name in index.charts:
                index.releases(name)

        variants: list[tuple[str, Callable[[], object]]] = [
            ("PyYAML CSafeLoader (baseline)", lambda: yaml.load(data, Loader=yaml.CSafeLoader)),
            ("yaml_rs.loads", lambda: yaml_rs.loads(data.decode(), parse_datetime=False)),
            ("parse_index (yaml_rs + model)", lambda: parse_index(data, url)),
            ("cached: hash + load, 1 chart used", cached_one_chart),
            ("cached: hash + load, all charts used", cached_all_charts),
        ]
        results = [(name, timed(action, args.repeat)) for name, action in variants]

    releases = sum(len(r) for r in parse_index(data, url).charts.values())
    print(f"{args.index.name}: {len(data) / 1e6:.1f} MB, {releases} releases, {args.repeat} runs each")
    baseline = statistics.median(results[0][1])
    print(f"{'variant':40} {'median':>10} {'best':>10} {'vs baseline':>12}")
    for name, times in results:
        median = statistics.median(times)
        print(f"{name:40} {median * 1e3:8.1f}ms {min(times) * 1e3:8.1f}ms {baseline / median:11.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
