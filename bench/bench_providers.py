"""Time the research providers and page reading against the loopback fakes, with set latencies.

    .venv/bin/python bench/bench_providers.py [--queries 40] [--pages-per-query 2] [--search-latency 0.2]
        [--page-latency 0.3] [--concurrency 4] [--page-concurrency 8]

One article's worth: QUERIES French queries searched on the fake Wikipedia (fr and en wikis, so
two requests per query), then the pages of the hits read through the REST API; and the same
number of pages fetched from a plain fake web server with fetch_pages. Cold (empty cache), then
warm (same cache: no request at all). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewriter.cache import JsonStore  # noqa: E402
from rewriter.fetch import fetch_pages  # noqa: E402
from rewriter.search import Searcher, build_providers  # noqa: E402
from rewriter.settings import Settings  # noqa: E402
from tests.fake_search import FakeWeb, FakeWiki  # noqa: E402


def corpus(n: int) -> dict[str, dict[str, str]]:
    pages = {f"Commune{i}": f"La commune{i} compte {i * 1000} habitants selon le recensement de {2000 + i % 25}."
             for i in range(n)}
    return {"fr": pages, "en": {f"Town{i}": f"Town{i} has {i * 1000} inhabitants." for i in range(n)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--pages-per-query", type=int, default=2)
    parser.add_argument("--search-latency", type=float, default=0.2)
    parser.add_argument("--page-latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=4, help="searches at once")
    parser.add_argument("--page-concurrency", type=int, default=8, help="pages read at once")
    args = parser.parse_args()
    queries = [(f"commune{i} habitants", "fr") for i in range(args.queries)]
    web_pages = {f"/p{i}.html": f"<html><body><p>Page {i} says {i} things about the topic.</p></body></html>"
                 for i in range(args.queries * args.pages_per_query)}
    with tempfile.TemporaryDirectory() as tmp, \
            FakeWiki(corpus(args.queries), latency=args.search_latency) as wiki, \
            FakeWeb(web_pages, latency=args.page_latency) as web:
        settings = Settings(cache_dir=Path(tmp), research=("wikipedia",), wikipedia_url=wiki.url_template,
                            contact="bench@example.org", max_searches=args.queries)
        store = JsonStore(Path(tmp) / "fetch", "page")
        for run in ("cold", "warm"):
            before = len(wiki.requests), len(web.requests)
            start = time.monotonic()
            [provider] = build_providers(settings, limit=args.pages_per_query)
            searcher = Searcher([provider], settings, max_hits_per_query=args.pages_per_query,
                                concurrency=args.concurrency)
            hits = searcher.run(queries)
            searched = time.monotonic() - start
            with ThreadPoolExecutor(max_workers=args.page_concurrency) as pool:
                read = list(pool.map(provider.read, hits))
            wiki_done = time.monotonic() - start
            start = time.monotonic()
            fetched = fetch_pages([web.url(p) for p in web_pages], concurrency=args.page_concurrency,
                                  allow_private=True, store=store)
            fetched_s = time.monotonic() - start
            print(f"{run}: {len(queries)} queries, {len(hits)} hits in {searched:.2f} s; "
                  f"{sum(1 for p in read if p)} wiki pages read, search+read {wiki_done:.2f} s "
                  f"({len(wiki.requests) - before[0]} requests); "
                  f"{sum(1 for p in fetched if not isinstance(p, Exception))} web pages in {fetched_s:.2f} s "
                  f"({len(web.requests) - before[1]} requests, {sum(getattr(p, 'bytes', 0) for p in fetched):,} bytes)")
        store.close()


if __name__ == "__main__":
    main()
