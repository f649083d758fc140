"""Research stage: run the plan's searches, read the pages found, add them to the article's evidence.

The plan comes from the claims request (one item per claim and per gap, each with a few queries);
nothing here asks the model anything, except the ``mistral`` provider's one web-search request.
Search hits are only leads: a hit's title or snippet is never evidence. Every page is read by the
tool itself (the fetcher, under the address policy) or taken from the provider's own API
(Wikipedia's page text), and only what was read goes into the evidence that quotes are checked
against.

Bounds, all configurable: searches per claim or gap and per article (``--max-searches-per-target``,
``--max-searches``; a search is one query sent to one provider), pages per query and per article,
and each page's bytes and seconds (``Settings.page_bytes``, ``page_seconds``, enforced by the fetcher).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .evidence import Evidence, url_key
from .models import Query, ResearchItem
from .settings import Settings

PAGES_PER_QUERY = 3
PAGES_PER_ARTICLE = 12


@dataclass(frozen=True)
class Limits:
    per_target: int = 2            # searches per claim or gap
    per_article: int = 40          # searches per article, every provider counted
    pages_per_query: int = PAGES_PER_QUERY
    pages_per_article: int = PAGES_PER_ARTICLE

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(per_target=settings.max_searches_per_target, per_article=settings.max_searches)


@dataclass
class ResearchResult:
    """What was searched and read, for the report; the pages themselves went into the evidence."""
    providers: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)      # per plan item: queries, hits, documents
    searches: list[dict[str, Any]] = field(default_factory=list)   # per (provider, query): status, hits, seconds
    pages: list[dict[str, Any]] = field(default_factory=list)      # per page: url, status, bytes, sha256, seconds
    dropped: list[dict[str, str]] = field(default_factory=list)    # queries left out by the bounds
    calls: list = field(default_factory=list)                      # model calls (the mistral provider)
    seconds: float = 0.0

    @property
    def search_count(self) -> int:
        """Searches actually sent (a cache hit or a query over the limit sends nothing)."""
        return sum(1 for s in self.searches if s["status"] in ("ok", "error"))

    def attach_offered(self, offered: dict[str, list[str]]) -> None:
        """Record, per item, the snippets the corrections request offered for its findings."""
        for item in self.items:
            item["snippets"] = {fid: offered[fid] for fid in item["finding_ids"] if fid in offered}

    def to_dict(self) -> dict[str, Any]:
        return {"providers": self.providers, "items": self.items, "searches": self.searches,
                "pages": self.pages, "dropped": self.dropped, "seconds": round(self.seconds, 4)}


def terms_for(plan: list[ResearchItem], claims: list) -> dict[str, list[str]]:
    """What retrieval should also rank on, per finding: for a gap, what the plan looks for and its
    queries (a claim carries its own reason, settle_with and queries in its payload)."""
    claim_ids = {c.id for c in claims}
    terms: dict[str, list[str]] = {}
    for item in plan:
        for fid in item.finding_ids:
            if fid not in claim_ids:
                terms.setdefault(fid, []).extend([item.looking_for, *(q.text for q in item.queries)])
    return terms


def choose_queries(plan: list[ResearchItem], limits: Limits, providers: int
                   ) -> tuple[list[Query], dict[int, list[Query]], list[dict[str, str]]]:
    """The queries to send: each item's first ``per_target``, repeats sent once, and no more than
    ``per_article`` searches in all (each provider answering a query is one search).

    Items are served in turns (every item's first query, then every item's second) so that a
    long plan does not spend the whole allowance on its first claims.
    """
    budget = limits.per_article // max(providers, 1)
    chosen: dict[tuple[str, str], Query] = {}
    per_item: dict[int, list[Query]] = {i: [] for i in range(len(plan))}
    dropped: list[dict[str, str]] = []
    for turn in range(max((len(item.queries) for item in plan), default=0)):
        for i, item in enumerate(plan):
            if turn >= len(item.queries):
                continue
            query = item.queries[turn]
            key = (_spaced(query.text).casefold(), query.lang)
            if key in chosen:
                per_item[i].append(chosen[key])
            elif turn >= limits.per_target:
                dropped.append({**query.to_dict(), "why": f"over {limits.per_target} searches for this claim or gap"})
            elif len(chosen) >= budget:
                dropped.append({**query.to_dict(), "why": f"over {limits.per_article} searches for this article"})
            else:
                chosen[key] = query
                per_item[i].append(query)
    return list(chosen.values()), per_item, dropped


def research(plan: list[ResearchItem], evidence: Evidence, searcher, *, limits: Limits = Limits()) -> ResearchResult:
    """Search for every item of ``plan``, read the best pages, add each page read to ``evidence``.

    ``searcher`` is a :class:`rewriter.search.Searcher` made for this article: it caches, records
    and reads (through a provider's own API, or the fetcher under the address policy).
    """
    started = time.perf_counter()
    result = ResearchResult(providers=[p.name for p in searcher.providers])
    queries, per_item, result.dropped = choose_queries(plan, limits, len(searcher.providers))
    if not queries:
        result.items = [_item_record(item, [], [], {}) for item in plan]
        return result

    searched_before = len(searcher.records)
    hits = searcher.run([(q.text, q.lang) for q in queries])      # one run: one request for mistral
    result.searches = [_as_dict(r) for r in searcher.records[searched_before:]]
    result.calls = list(searcher.calls)

    documents = _read(_leads(hits, limits), evidence, searcher, result)
    by_query: dict[str, list] = {}
    for hit in hits:
        by_query.setdefault(_spaced(hit.query), []).append(hit)
    for i, item in enumerate(plan):
        item_hits = [h for q in per_item[i] for h in by_query.get(_spaced(q.text), [])]
        result.items.append(_item_record(item, per_item[i], item_hits, documents))
    result.seconds = time.perf_counter() - started
    return result


def _spaced(query: str) -> str:
    """A query as the searcher sends it (spaces folded), to credit each item with its hits."""
    return " ".join(query.split())


def _leads(hits: list, limits: Limits) -> list:
    """The hits whose pages are worth reading: the best few per query and provider, each URL once."""
    taken: dict[tuple[str, str], int] = {}
    seen: set[str] = set()
    leads = []
    for hit in hits:
        slot = (hit.provider, hit.query)
        key = url_key(hit.url)
        if taken.get(slot, 0) >= limits.pages_per_query or key in seen:
            continue
        if len(leads) >= limits.pages_per_article:
            break
        taken[slot] = taken.get(slot, 0) + 1
        seen.add(key)
        leads.append(hit)
    return leads


def _read(leads: list, evidence: Evidence, searcher, result: ResearchResult) -> dict[str, str]:
    """Read every lead not read yet (in parallel, by the searcher) and add each page to ``evidence``.
    Returns URL key -> document id."""
    documents: dict[str, str] = {}
    fresh = []
    for hit in leads:
        known = evidence.document_for_url(hit.url)
        if known is not None and known.text is not None:      # a reference the article cites, say
            documents[url_key(hit.url)] = known.id
            result.pages.append({"url": hit.url, "provider": hit.provider, "query": hit.query,
                                 "document": known.id, "status": "already read"})
        else:
            fresh.append(hit)
    for hit, page in zip(fresh, searcher.read(fresh)):
        doc = evidence.add_page(hit, page)
        documents[url_key(hit.url)] = doc.id
        result.pages.append(_page_record(hit, page, doc.id))
    return documents


def _page_record(hit, page, document: str) -> dict[str, Any]:
    record: dict[str, Any] = {"url": hit.url, "provider": hit.provider, "query": hit.query, "document": document}
    if isinstance(page, Exception):
        return {**record, "status": "unreachable", "error": str(page)}
    return {**record, "status": "read", "final_url": page.final_url, "http_status": page.status,
            "bytes": page.bytes, "sha256": page.sha256, "seconds": round(page.seconds, 4),
            "cached": page.cached, "chars": len(page.text)}


def _item_record(item: ResearchItem, searched: list[Query], hits: list, documents: dict[str, str]) -> dict[str, Any]:
    return {
        **item.to_dict(),
        "searched": [q.to_dict() for q in searched],
        "hits": [{"url": h.url, "title": h.title, "provider": h.provider, "query": h.query,
                  "document": documents.get(url_key(h.url))} for h in hits],
    }


def _as_dict(record) -> dict[str, Any]:
    data = asdict(record)
    data["seconds"] = round(data.get("seconds", 0.0), 4)
    return data
