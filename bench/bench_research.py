"""What research costs per article: searches, pages and bytes read, and the wall time it adds.

Runs the five seeds through the real pipeline three ways against loopback fakes: no research, a
SearXNG instance answering in ``--search-latency`` whose results point at pages served in
``--page-latency``, and Wikipedia (search and page reads both at ``--search-latency``, since one
service serves both). The model is the fake editor from the tests (planned queries, answers at
once), so the difference in wall time is the research stage's. Caches are fresh for each run (the
seeds share pages, so an article may read a page another one fetched: "read" counts them, "fetched"
only downloads); a warm rerun is measured too (it must make no search and fetch no page).

    .venv/bin/python bench/bench_research.py [--search-latency 0.2] [--page-latency 0.3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rewriter.pipeline import RunOptions, run_article  # noqa: E402
from rewriter.settings import Settings  # noqa: E402
from tests.editor_model import EditorModel  # noqa: E402
from tests.fake_llm import FakeLLM  # noqa: E402
from tests.fake_search import FakeSearx, FakeWeb, FakeWiki  # noqa: E402
from tests.research_corpus import SEED_CLAIMS, WIKI  # noqa: E402

SEEDS = sorted((REPO / "articles").glob("*.txt"))


def run_all(env: dict[str, str], cache: Path, out: Path) -> list[dict]:
    """Each seed once; per article: seconds, requests, searches, pages and bytes read."""
    settings = Settings.from_env(env, cache_dir=str(cache), fetch_private=True)
    rows = []
    for seed in SEEDS:
        start = time.perf_counter()
        report = run_article(seed, settings, RunOptions(out_root=out)).report
        seconds = time.perf_counter() - start
        read = [p for p in report["research"]["pages"] if p["status"] == "read"]
        pages = [p for p in read if not p.get("cached")]
        rows.append({"seconds": seconds, "requests": report["usage"]["requests"],
                     "searches": report["usage"].get("searches", 0), "read": len(read), "pages": len(pages),
                     "bytes": sum(p["bytes"] for p in pages),
                     "research_s": report["usage"]["stages"].get("research", 0.0)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--search-latency", type=float, default=0.2)
    parser.add_argument("--page-latency", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    pages = {f"/{lang}/{title.replace(' ', '_')}": text for lang, titles in WIKI.items() for title, text in titles.items()}
    with FakeLLM(responder=EditorModel(researched=SEED_CLAIMS, plan_gaps=True)) as llm, \
            FakeWeb(pages=pages, latency=args.page_latency) as web, \
            FakeWiki(pages=WIKI, latency=args.search_latency) as wiki:

        def found(query: str, lang: str) -> list[dict]:
            """Searx answers with the corpus pages that share a word with the query, best first."""
            words = set(query.lower().split())
            scored = sorted(((-len(words & set(text.lower().split())), path) for path, text in pages.items()
                             if words & set(text.lower().split())))
            return [{"url": web.base + path, "title": path.rsplit("/", 1)[-1], "content": ""} for _, path in scored[:5]]

        with FakeSearx(results=found, latency=args.search_latency) as searx:
            base = {"MISTRAL_BASE_URL": llm.base_url, "REWRITER_MODEL": "fake-model", "REWRITER_CONTACT": "bench@example.org"}
            ways = {
                "none": {**base, "REWRITER_RESEARCH": "none"},
                "searxng": {**base, "REWRITER_RESEARCH": "searxng", "REWRITER_SEARX_URL": searx.base},
                "wikipedia": {**base, "REWRITER_RESEARCH": "wikipedia", "REWRITER_WIKIPEDIA_URL": wiki.url_template},
            }
            results: dict[str, list[list[dict]]] = {name: [] for name in ways}
            warm: dict[str, list[dict]] = {}
            for _ in range(args.repeat):
                for name, env in ways.items():
                    with tempfile.TemporaryDirectory() as tmp:
                        results[name].append(run_all(env, Path(tmp) / "cache", Path(tmp) / "out"))
                        warm[name] = run_all(env, Path(tmp) / "cache", Path(tmp) / "out")

    print(f"{len(SEEDS)} seeds, search latency {args.search_latency:g} s, page latency {args.page_latency:g} s, "
          f"median of {args.repeat} cold runs")
    print(f"{'research':<10} {'req/art':>8} {'searches/art':>13} {'read/art':>9} {'fetched/art':>12} {'KB/art':>8} "
          f"{'wall/art s':>11} {'added/art s':>12} {'warm searches':>14} {'warm pages':>11}")
    none_wall = statistics.median(sum(r["seconds"] for r in rows) for rows in results["none"]) / len(SEEDS)
    for name, runs in results.items():
        wall = statistics.median(sum(r["seconds"] for r in rows) for rows in runs) / len(SEEDS)
        first = runs[0]
        per = {k: sum(r[k] for r in first) / len(SEEDS) for k in ("requests", "searches", "read", "pages", "bytes")}
        print(f"{name:<10} {per['requests']:>8.1f} {per['searches']:>13.1f} {per['read']:>9.1f} {per['pages']:>12.1f} "
              f"{per['bytes'] / 1024:>8.1f} {wall:>11.2f} {wall - none_wall:>12.2f} "
              f"{sum(r['searches'] for r in warm[name]):>14} {sum(r['pages'] for r in warm[name]):>11}")
        if name != "none":
            print(f"{'':<10} most searches in one article: {max(r['searches'] for r in first)}; "
                  f"research stage median {statistics.median(r['research_s'] for r in first):.2f} s")


if __name__ == "__main__":
    main()
