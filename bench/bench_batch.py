"""Benchmark `rewriter batch` against the fake model: requests, tokens, wall time, local CPU, warm rerun.

    .venv/bin/python bench/bench_batch.py [--articles 200] [--concurrency 16] [--latency 0.5]
                                          [--tokens-per-second 400] [--repeat 3]

Starts `python -m tests.fake_llm --auto` in its own process (so its CPU is not
counted as ours), writes N articles made from the seeds (each with its own
title, so no two prompts are alike), runs the batch in this process with a
cold cache, then again warm. Reports medians over --repeat cold/warm pairs and
checks them against the targets of the batch issue. Exit status 1 if a target
is missed.

The ideal wall time is what a perfect client would take given the server's
service time: (requests × latency + completion tokens ÷ tokens per second)
÷ concurrency. The best schedule possible is no shorter than the longest
article's critical path (its stages one after another, the chunks of a stage
in parallel, each request's service time = latency + its completion tokens ÷
tokens per second), so best = max(critical path, ideal); wall / best is what
scheduling could still win. The largest-first schedule plays the batch's
own order on `concurrency` workers with no overhead (each article taking its
critical path): what that order could reach against this server. Local CPU
per article is this process's CPU time (all threads) and its chart helper's
over the cold run, divided by N: the model's waits cost no CPU, so that is
our own overhead. Imports are not timed (the SDK, which `rewriter` loads only
once a model is used, is loaded before the first run; its time is printed).
"""

from __future__ import annotations

import argparse
import heapq
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rewriter import vlrender  # noqa: E402
from rewriter.batch import longest_first, run_batch  # noqa: E402
from rewriter.pipeline import RunOptions  # noqa: E402
from rewriter.settings import Settings  # noqa: E402

TARGETS = {
    "requests per article": ("<=", 2.0),
    "prompt tokens over budget (articles)": ("<=", 0),
    "wall / ideal": ("<=", 1.15),
    "local CPU ms per article": ("<=", 20.0),
    "warm requests": ("<=", 0),
    "warm ms per article": ("<=", 50.0),
}


def start_server(latency: float, tokens_per_second: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_llm", "--auto", "--latency", str(latency),
         "--tokens-per-second", str(tokens_per_second)],
        cwd=REPO, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, match.group(1)


def make_articles(folder: Path, n: int) -> dict[str, int]:
    """N articles from the seeds, each titled differently; returns their estimated tokens by stem."""
    seeds = sorted((REPO / "articles").glob("*.txt"))
    tokens = {}
    for i in range(n):
        seed = seeds[i % len(seeds)]
        text = seed.read_text(encoding="utf-8")
        title, _, body = text.partition("\n")
        article = f"{title} (édition {i})\n{body}"
        path = folder / f"{i:04d}_{seed.stem.split('_', 1)[1]}.txt"
        path.write_text(article, encoding="utf-8")
        tokens[path.stem] = len(article) // 4   # the fake server's own estimate: 4 characters a token
    return tokens


def critical_path(report_path: Path, args) -> float:
    """Seconds the article needs however it is scheduled: per stage (task), its longest chain of
    rounds, a round being the slowest request of that round (chunks of a stage go in parallel)."""
    import json
    calls = json.loads(report_path.read_text(encoding="utf-8"))["usage"]["calls"]
    rounds: dict[tuple[str, int], float] = {}
    for call in calls:
        if call["cached"]:
            continue
        service = args.latency + (call["completion_tokens"] / args.tokens_per_second if args.tokens_per_second else 0)
        key = (call["task"], call["attempt"])
        rounds[key] = max(rounds.get(key, 0.0), service)
    return sum(rounds.values())


def our_cpu(*, charts_done: bool = False) -> float:
    """CPU seconds of this process and of the chart helper (rewriter/vlrender.py), once it has ended
    (``charts_done`` stops it): its charts are local work too. The fake server, a child as well,
    is not counted: it is still running, and only ended children count."""
    if charts_done:
        vlrender.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def list_schedule(durations: list[float], workers: int) -> float:
    """Makespan of running ``durations`` in this order, each on the first worker free."""
    free = [0.0] * workers
    for d in durations:
        heapq.heapreplace(free, free[0] + d)
    return max(free)


def one_pair(folder: Path, tokens: dict[str, int], base_url: str, args) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.from_env(base_url=base_url, model="fake-model", cache_dir=scratch + "/cache")
        options = RunOptions(out_root=Path(scratch) / "out")
        cpu, wall = our_cpu(), time.perf_counter()
        cold = run_batch(folder, settings, options, concurrency=args.concurrency)
        wall = time.perf_counter() - wall
        cpu = our_cpu(charts_done=True) - cpu
        paths = {o.path: critical_path(Path(o.out_dir) / "report.json", args) for o in cold.outcomes if o.out_dir}
        critical = max(paths.values())
        # The batch's own order (largest files first) on `concurrency` workers with no overhead at
        # all: what this order could reach against this server (an upper bound on the best).
        scheduled = list_schedule([paths[str(p)] for p in longest_first(sorted(Path(p) for p in paths))],
                                  args.concurrency)
        warm_wall = time.perf_counter()
        warm = run_batch(folder, settings, options, concurrency=args.concurrency)
        warm_wall = time.perf_counter() - warm_wall
    if cold.failed or warm.failed:
        raise SystemExit(f"articles failed: {[o.error for o in cold.failed + warm.failed][:3]}")
    totals = cold.totals()
    n = len(cold.outcomes)
    ideal = (totals["requests"] * args.latency
             + (totals["completion_tokens"] / args.tokens_per_second if args.tokens_per_second else 0)
             ) / args.concurrency
    best = max(critical, ideal)
    over_budget = sum(1 for o in cold.outcomes
                      if o.prompt_tokens > 3 * tokens[Path(o.path).stem] + 1500)
    return {
        "requests per article": totals["requests"] / n,
        "prompt tokens per article": totals["prompt_tokens"] / n,
        "article tokens per article": sum(tokens.values()) / n,
        "completion tokens per article": totals["completion_tokens"] / n,
        "prompt tokens over budget (articles)": over_budget,
        "wall s": wall,
        "ideal s": ideal,
        "wall / ideal": wall / ideal,
        "critical path s": critical,
        "best schedule s": best,
        "wall / best": wall / best,
        "largest-first schedule s": scheduled,
        "wall / largest-first schedule": wall / scheduled,
        "local CPU ms per article": 1000 * cpu / n,
        "warm requests": warm.totals()["requests"],
        "warm ms per article": 1000 * warm_wall / n,
        "peak RSS MiB (so far)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the fake server waits per reply")
    parser.add_argument("--tokens-per-second", type=float, default=400.0, help="fake output speed per request")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # The targets: the last wave costs more at higher concurrency.
    TARGETS["wall / ideal"] = ("<=", 1.05 if args.concurrency <= 16 else 1.15)

    # Loaded before the clock starts like rewriter.batch above, not inside the first cold run only
    # (a second or so: a fixed start-up cost, not a per-article one).
    loading = time.perf_counter()
    import rewriter.backends.openai_compat  # noqa: F401
    loading = time.perf_counter() - loading
    proc, base_url = start_server(args.latency, args.tokens_per_second)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "articles"
            folder.mkdir()
            tokens = make_articles(folder, args.articles)
            runs = [one_pair(folder, tokens, base_url, args) for _ in range(args.repeat)]
    finally:
        proc.terminate()
        proc.wait(5)

    print(f"rewriter batch: {args.articles} articles, concurrency {args.concurrency}, latency {args.latency} s, "
          f"{args.tokens_per_second:g} tokens/s, median of {args.repeat}")
    print(f"  {'SDK import s (not timed)':38} {loading:10.3f}")
    missed = []
    for key in runs[0]:
        values = [r[key] for r in runs]
        median = statistics.median(values)
        target = TARGETS.get(key)
        verdict = ""
        if target:
            ok = median <= target[1]
            verdict = f"  target {target[0]} {target[1]:g}: {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(key)
        print(f"  {key:38} {median:10.3f}   (runs: {', '.join(f'{v:.3f}' for v in values)}){verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
