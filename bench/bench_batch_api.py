"""Benchmark `rewriter batch --via batch-api` against the fake's Files and Batch APIs.

    .venv/bin/python bench/bench_batch_api.py [--articles 1000] [--job-latency 2.0]

Starts `python -m tests.fake_llm --auto --batch-latency S` in its own process (so its CPU is not
counted as ours), writes N articles made from the seeds (each titled differently), runs the batch
path in this process with a cold cache and reports: waves and jobs, HTTP calls per job (the
target: a constant number per job, not per article), local CPU per article (this process's CPU
time over the run, all threads, and its chart helper's, divided by N; target ≤ 20 ms), peak
memory, wall time. Exit
status 1 if a target is missed.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_batch import make_articles, our_cpu  # noqa: E402

from rewriter.batchjobs import JobOptions, run_batch_api  # noqa: E402
from rewriter.pipeline import RunOptions  # noqa: E402
from rewriter.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--job-latency", type=float, default=2.0, help="seconds a fake job takes to finish")
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_llm", "--auto", "--batch-latency",
                             str(args.job_latency)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    base_url = proc.stderr.readline().strip().rsplit(" ", 1)[-1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "articles"
            folder.mkdir()
            make_articles(folder, args.articles)
            settings = Settings.from_env(base_url=base_url, model="fake-model", cache_dir=Path(tmp) / "cache",
                                         api_key=None)
            options = RunOptions(out_root=Path(tmp) / "out")
            cpu0, wall0 = our_cpu(), time.perf_counter()
            result = run_batch_api(folder, settings, options, JobOptions(poll_every=0.5))
            wall = time.perf_counter() - wall0
            cpu = our_cpu(charts_done=True) - cpu0
            summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())["batch_api"]
    finally:
        proc.terminate()
        proc.wait()
    jobs = summary["jobs"]
    figures = {
        "articles": args.articles,
        "ok": sum(1 for o in result.outcomes if o.ok),
        "jobs": len(jobs),
        "waves": len({j["wave"] for j in jobs}),
        "requests": sum(j["requests"] for j in jobs),
        "HTTP calls": summary["http_calls"],
        "HTTP calls per job": round(summary["http_calls"] / max(1, len(jobs)), 1),
        "local CPU ms per article": round(cpu * 1000 / args.articles, 1),
        "peak RSS MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "wall s": round(wall, 1),
    }
    for name, value in figures.items():
        print(f"{name:>26}: {value}")
    missed = figures["local CPU ms per article"] > 20.0 or figures["ok"] != args.articles
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
