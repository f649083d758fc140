"""Time `rewriter check --format json` over many copies of the seed articles.

    .venv/bin/python bench/bench_check.py [--copies 1000] [--runs 3]

Writes COPIES copies of every seed article into a temporary folder, then
prints the median wall time of RUNS runs, in-process (check_paths and the JSON
dump) and through the installed CLI in a subprocess (start-up included).
A measurement, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rewriter.check import check_paths

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("rewriter")


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1000, help="copies of each seed article")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is printed")
    args = parser.parse_args()

    seeds = sorted((REPO / "articles").glob("*.txt"))
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        folder = Path(tmp)
        for n in range(args.copies):
            for seed in seeds:
                shutil.copyfile(seed, folder / f"{n:05d}_{seed.name}")
        files = args.copies * len(seeds)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"{files} files ({args.copies} copies of {len(seeds)} seeds, {size:.1f} MB), median of {args.runs} runs")

        def in_process():
            report = check_paths([folder])
            json.dumps(report, ensure_ascii=False)

        def cli():
            subprocess.run([str(CLI), "check", "--format", "json", str(folder)],
                           stdout=subprocess.DEVNULL, check=False)

        print(f"  in-process check_paths + JSON  {median_seconds(in_process, args.runs):6.2f} s")
        print(f"  rewriter check --format json   {median_seconds(cli, args.runs):6.2f} s")


if __name__ == "__main__":
    main()
