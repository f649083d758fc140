"""Peak memory of a warm rerun's reply-cache reads: THREADS threads read every entry of one cache.

    .venv/bin/python bench/bench_cache_memory.py [--entries 20000] [--kib 8] [--threads 16]

Fills a reply cache (rewriter.cache.ReplyCache, as the client opens it) with ENTRIES replies of
about KIB KiB each, then, in a fresh child process, THREADS threads each read every entry (a warm
batch rerun's workers; the store runs their reads on its one thread and SQLite connection) and the
child reports its peak RSS (ru_maxrss) and wall time: once with diskcache's defaults (64 MiB mmap
and 8,192 pages of cache per connection), once with rewriter.cache.SQLITE_SETTINGS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import resource, sys, threading, time
sys.path.insert(0, sys.argv[1])
from rewriter import cache
if sys.argv[4] == "default":   # diskcache's defaults, given explicitly: the database stores the last ones used
    cache.SQLITE_SETTINGS = {"sqlite_mmap_size": 2**26, "sqlite_cache_size": 2**13}
store = cache.ReplyCache(sys.argv[2])
n = int(sys.argv[3])
threads = int(sys.argv[5])
def read():
    for i in range(n):
        assert store.get(f"key{i}") is not None
start = time.perf_counter()
workers = [threading.Thread(target=read) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - start)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--kib", type=int, default=8)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from rewriter.cache import ReplyCache

    with tempfile.TemporaryDirectory() as tmp:
        store = ReplyCache(Path(tmp))
        raw = "x" * (args.kib * 1024)
        for i in range(args.entries):
            store.put(f"key{i}", data={"i": i}, raw=raw, usage={})
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
        print(f"reply cache: {args.entries:,} entries, {size:.0f} MiB on disk; {args.threads} threads read all")
        for mode in ("default", "bounded"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), tmp, str(args.entries), mode,
                                  str(args.threads)], capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
            label = "diskcache defaults" if mode == "default" else "rewriter.cache.SQLITE_SETTINGS"
            peak, seconds = map(float, out.stdout.split())
            print(f"  {label:32} peak RSS {peak:7.1f} MiB   {seconds:5.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
