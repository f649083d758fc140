"""Peak memory and wall time of `rewriter check` over many files, each format in its own process.

    .venv/bin/python bench/bench_check_memory.py [--copies 2000] [--formats text,json]

Writes COPIES copies of every seed article (2,000 × 5 seeds = 10,000 files) into a temporary
folder, then runs `python -m rewriter.cli check --format F` over it once per format, in a child
process whose stdout goes to a file, and reads the child's peak resident memory from
``os.wait4`` (ru_maxrss). The code measured is this checkout's (PYTHONPATH), so the same script
measures an older checkout when copied into it. Target of the archive-scale issue: peak under
100 MiB for 10,000 files. Exit status 1 if it is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_MIB = 100.0


def measure(folder: Path, fmt: str, output: Path) -> tuple[float, float, int]:
    """Peak RSS in MiB, wall seconds and exit status of one check."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with output.open("wb") as sink:
        start = time.perf_counter()
        # Run from the folder's parent with a relative path, so the output (paths included) is the
        # same from run to run and its digest compares one checkout's with another's.
        proc = subprocess.Popen([sys.executable, "-m", "rewriter.cli", "check", "--format", fmt, folder.name],
                                cwd=folder.parent, env=env, stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, wall, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2000, help="copies of each seed article")
    parser.add_argument("--formats", default="text,json")
    args = parser.parse_args()

    seeds = sorted((REPO / "articles").glob("*.txt"))
    missed = False
    with tempfile.TemporaryDirectory(prefix="bench-check-memory-") as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        for n in range(args.copies):
            for seed in seeds:
                shutil.copyfile(seed, folder / f"{n:05d}_{seed.name}")
        files = args.copies * len(seeds)
        print(f"rewriter check over {files:,} files ({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.1f} MB)")
        for fmt in args.formats.split(","):
            output = Path(tmp) / f"out.{fmt}"   # beside the articles folder, not in it
            peak, wall, status = measure(folder, fmt, output)
            digest = hashlib.sha256(output.read_bytes()).hexdigest()[:16]
            ok = peak < TARGET_MIB
            missed |= not ok
            print(f"  --format {fmt:5} peak {peak:7.1f} MiB  wall {wall:6.2f} s  exit {status}  "
                  f"output {output.stat().st_size / 1e6:.1f} MB sha256 {digest}…  "
                  f"target < {TARGET_MIB:g} MiB: {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
