"""Time `rewriter check --format json` on one large article: does it grow linearly with size?

    .venv/bin/python bench/bench_check_size.py [--sizes 1,10,50] [--runs 3] [--timeout 300]

For each size (in MB) it writes two articles made from the seed articles repeated: one with
their lines as they are ("lines"), one with every line break turned into a space ("single
line"), so both hold placeholders, dangling citations, chrome and broken tables to find. Each
is checked RUNS times by the installed CLI in a subprocess (start-up included: what a user
waits for), and RUNS times in-process in a fresh interpreter (check_paths and the JSON dump,
start-up excluded). It prints the medians, the in-process seconds per MB, and that figure over
the smallest size's ("ratio": 1.00 is linear growth, more is worse). A run past --timeout is
reported as such and the rest of that size skipped.
A measurement, not a test: timings depend on the machine and on what else it runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("rewriter")
MB = 1_000_000


def article(size_mb: float, single_line: bool) -> bytes:
    """About ``size_mb`` MB of seed text, cut at a line (or word) boundary."""
    seeds = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "articles").glob("*.txt")))
    if single_line:
        seeds = " ".join(seeds.split("\n"))
    unit = (seeds + ("\n\n" if not single_line else " ")).encode("utf-8")
    target = int(size_mb * MB)
    data = unit * (target // len(unit) + 1)
    cut = data.rfind(b" " if single_line else b"\n", 0, target)
    return data[:cut]


IN_PROCESS = ("import json, sys, time\n"
              "from rewriter.check import check_paths\n"
              "t0 = time.perf_counter()\n"
              "report = check_paths([sys.argv[1]])\n"
              "json.dumps(report, ensure_ascii=False)\n"
              "print(time.perf_counter() - t0, sum(len(a['findings']) for a in report['articles']))\n")


def time_cli(path: Path, timeout: float) -> float | None:
    t0 = time.perf_counter()
    try:
        subprocess.run([str(CLI), "check", "--format", "json", str(path)], stdout=subprocess.DEVNULL,
                       check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - t0


def time_in_process(path: Path, timeout: float) -> tuple[float, int] | None:
    try:
        proc = subprocess.run([sys.executable, "-c", IN_PROCESS, str(path)], capture_output=True, text=True,
                              check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    seconds, findings = proc.stdout.split()
    return float(seconds), int(findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="article sizes in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is printed")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is abandoned")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]

    print(f"rewriter check --format json, median of {args.runs} runs, timeout {args.timeout:.0f} s")
    print(f"{'layout':<12} {'size':>8} {'lines':>8} {'findings':>9} {'CLI':>9} {'in-process':>10} "
          f"{'s/MB':>6} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="bench-check-size-") as tmp:
        for single_line in (False, True):
            layout = "single line" if single_line else "lines"
            base = None
            for size in sizes:
                path = Path(tmp) / f"{layout.replace(' ', '_')}_{size:g}MB.txt"
                data = article(size, single_line)
                path.write_bytes(data)
                mb, lines = len(data) / MB, data.count(b"\n") + 1
                cli, inner, findings = [], [], 0
                for _ in range(args.runs):
                    t = time_cli(path, args.timeout)
                    r = t and time_in_process(path, args.timeout)
                    if r is None:
                        break
                    cli.append(t)
                    inner.append(r[0])
                    findings = r[1]
                path.unlink()
                row = f"{layout:<12} {mb:6.1f}MB {lines:>8,}"
                if len(inner) < args.runs:
                    print(f"{row} {'':>9} {'> ' + format(args.timeout, '.0f') + ' s':>9}")
                    continue
                per_mb = statistics.median(inner) / mb
                base = base or per_mb
                print(f"{row} {findings:>9,} {statistics.median(cli):7.2f} s {statistics.median(inner):8.2f} s "
                      f"{per_mb:6.3f} {per_mb / base:6.2f}")


if __name__ == "__main__":
    main()
