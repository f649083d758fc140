"""Time `rewriter run` on one very long article against the fake model.

    .venv/bin/python bench/bench_long.py [--words 100000] [--latency 0.5] [--tokens-per-second 400]

Starts `python -m tests.fake_llm --auto` in its own process, writes one article
of about WORDS words made of the seed articles one after another (so it holds
their placeholders and citations), and runs it in-process with a cold cache.
Prints its chunks, requests, wall time, and the wall time if the chunks were
asked one after another (requests × service time), with the target of the
archive-scale issue: under 10 s for 100,000 words at 0.5 s latency.
Exit status 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_batch import start_server  # noqa: E402
from rewriter.pipeline import MAX_CHUNK_WORDS, RunOptions, run_article  # noqa: E402
from rewriter.settings import Settings  # noqa: E402
from rewriter.text import chunks, word_count  # noqa: E402

TARGET_S = 10.0


def long_article(words: int) -> str:
    seeds = [p.read_text(encoding="utf-8") for p in sorted((REPO / "articles").glob("*.txt"))]
    parts, n, i = [], 0, 0
    while n < words:
        seed = seeds[i % len(seeds)]
        title, _, body = seed.partition("\n")
        part = f"{title} (partie {i})\n{body.rstrip()}\n\n"   # each part its own, so no two prompts are alike
        parts.append(part)
        n += word_count(part)
        i += 1
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--tokens-per-second", type=float, default=400.0)
    args = parser.parse_args()

    proc, base_url = start_server(args.latency, args.tokens_per_second)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "long.txt"
            text = long_article(args.words)
            path.write_text(text, encoding="utf-8")
            settings = Settings.from_env(base_url=base_url, model="fake-model", cache_dir=scratch + "/cache")
            options = RunOptions(out_root=Path(scratch) / "out")
            wall = time.perf_counter()
            result = run_article(path, settings, options)
            wall = time.perf_counter() - wall
    finally:
        proc.terminate()
        proc.wait(5)
    usage = result.report["usage"]
    made = [c for c in usage["calls"] if not c["cached"]]
    serial = sum(args.latency + (c["completion_tokens"] / args.tokens_per_second if args.tokens_per_second else 0)
                 for c in made)
    ok = wall < TARGET_S
    print(f"rewriter run: one article of {word_count(text):,} words, {len(chunks(text, MAX_CHUNK_WORDS))} chunks, "
          f"latency {args.latency} s, {args.tokens_per_second:g} tokens/s")
    print(f"  requests                 {usage['requests']:8d}")
    print(f"  errors                   {len(result.report['errors']):8d}")
    print(f"  wall s                   {wall:8.2f}   target < {TARGET_S:g}: {'ok' if ok else 'MISSED'}")
    print(f"  requests in series s     {serial:8.2f}   (what asking the chunks one after another costs the server)")
    print(f"  stages s                 {usage['stages']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
