"""Research: evidence providers behind one small interface, and the Searcher that runs them.

A provider turns ``(query, lang)`` pairs into hits (URL, title, snippet). A hit is only a pointer:
what a correction may rest on is the text the tool itself then reads, with ``provider.read(hit)``
(Wikipedia's own API) or :func:`rewriter.fetch.fetch_page` (every other URL, under the address
policy). Providers, chosen with ``--research NAME[,NAME…]``:

- ``wikipedia``: MediaWiki REST search on the article's language wiki and on English; pages read
  as HTML through the REST API and extracted with trafilatura. Needs nothing but a contact for the
  User-Agent (Wikimedia blocks anonymous clients). The wiki base URL (``--wikipedia-url``) is a
  configured endpoint, not one a model gave, so the private-address policy does not apply to it:
  a newsroom may point it at an internal mirror.
- ``mistral``: Mistral's built-in ``web_search`` tool through ``POST /v1/conversations``, one request
  per article for all its queries (an extra model request, with connector tokens). Only the URLs
  and titles of its ``tool_reference`` chunks are kept; **the text the model writes there is never
  evidence** (it is read only to tell which numbered query a reference answers).
- ``searxng``: a self-hosted SearXNG instance (``--searx-url``), through its JSON API.

Transport: every request is bounded in time and size (:func:`rewriter.fetch.http_request`) and
retried by one tenacity layer on 429, 5xx, timeouts and dropped connections, honouring
Retry-After. Answers are cached through :class:`~rewriter.cache.JsonStore`, so a rerun searches
nothing. The API key goes to the model's base URL only, never to another provider.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

import tenacity

from . import __version__, console
from .cache import JsonStore, canonical_json
from .backends.base import Call, retry_after, retry_wait
from .doctor import Check
from .errors import ConfigError, SearchError
from .fetch import (FetchError, Page, Response, extract_html, fetch_page, http_request, in_parallel, is_http_url,
                    url_key)
from .resources import render_prompt
from .settings import DEFAULT_CONTACT, Settings
from .turns import waiting

SEARCH_SECONDS = 20.0            # one search request, all included
CONVERSATION_SECONDS = 120.0     # one web_search conversation: the model searches, then writes
MAX_ANSWER_BYTES = 5_000_000
CACHE_SECONDS = 7 * 24 * 3600
WIKIPEDIA_LICENSE = "CC BY-SA 4.0"
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z]{2,8})?$")


@dataclass(frozen=True)
class Hit:
    url: str
    title: str
    snippet: str         # the provider's own extract (never text a model wrote); may be empty
    provider: str
    query: str
    date: str = ""
    license: str = ""    # e.g. "CC BY-SA 4.0 — Wikipedia contributors, “Title”, <url>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchRecord:
    """One per (provider, query) asked, for report.json."""
    provider: str
    query: str
    lang: str
    status: str          # "ok" | "cached" | "error" | "skipped" (over --max-searches)
    hits: int
    seconds: float
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Provider(Protocol):
    """What the Searcher needs of a provider. Optional attributes it also reads: ``cache_id`` (what
    its answers depend on, for the cache key; default ``name``), ``batched`` (one ``search`` call
    for all pairs), ``calls`` (model calls made, drained after each search) and ``cached_call()``
    (the Call to record when its answers come from the cache)."""

    name: str

    def search(self, queries: list[tuple[str, str]]) -> list[list[Hit]]:
        """Hits for each ``(query, lang)`` pair, in the same order; raises SearchError (one line)."""

    def read(self, hit: Hit) -> Page | None:
        """The hit's page read through the provider's own API, or None: fetch ``hit.url`` instead."""

    def check(self) -> Check:
        """For doctor: reachable, and answers a test query in the documented shape."""


def user_agent(settings: Settings) -> str:
    """Wikimedia's User-Agent policy: the tool, its version and a way to reach whoever runs it."""
    return f"rewriter/{__version__} ({settings.contact})"


def _clean(markup: Any) -> str:
    """Text of a search excerpt: tags dropped (``<span class="searchmatch">``), entities decoded, spaces collapsed."""
    text = markup if isinstance(markup, str) else ""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", "", text))).strip()


def _text(value: Any, default: str = "") -> str:
    """A field that should be a string: anything else counts as missing."""
    return value.strip() if isinstance(value, str) and value.strip() else default


def _int(value: Any) -> int:
    """A token count: anything but a non-negative integer counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


# ---------------------------------------------------------------- transport

class _Service:
    """HTTP to one configured service: bounded requests, and one retry layer that honours Retry-After."""

    def __init__(self, name: str, settings: Settings, headers: dict[str, str], *, seconds: float | None = None,
                 follow_redirects: bool = True):
        self.name = name
        self.settings = settings
        self.headers = headers
        self.seconds = seconds or SEARCH_SECONDS
        self.follow_redirects = follow_redirects
        self._lock = threading.Lock()
        self._resume_at = 0.0

    @waiting()      # requests, retries and their pauses: a batch article's turn goes to another meanwhile
    def request(self, method: str, url: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Response:
        """The response (any status but 408, 429 and 5xx, which are retried); SearchError when none came."""
        if params:
            url = f"{url}?{urlencode(params)}"
        s = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(s.max_retries + 1) | tenacity.stop_before_delay(s.max_retry_total),
            wait=self._wait, reraise=True,
            before_sleep=self._tell)

        def once() -> Response:
            self._hold()
            try:
                response = http_request(method, url, headers=self.headers, json=body, allow_private=True,
                                        total_seconds=self.seconds, max_bytes=MAX_ANSWER_BYTES,
                                        follow_redirects=self.follow_redirects)
            except FetchError as exc:
                if exc.transient:
                    raise _Transient(str(exc)) from None
                raise SearchError(f"{self.name}: {_origin(url)}: {exc}") from None
            if response.status in (408, 429) or response.status >= 500:
                raise _Transient(f"HTTP {response.status}", retry_after(response.headers))
            return response

        try:
            return retrying(once)
        except _Transient as exc:
            tries = retrying.statistics.get("attempt_number", 1)
            raise SearchError(f"{self.name}: {_origin(url)} failed: {exc}"
                              + (f" (gave up after {tries} requests)" if tries > 1 else "")) from None

    def _tell(self, state: tenacity.RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        console.status(f"{self.name}: {_failure(state)}; retrying in {wait:.1f} s", style="dim")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Backoff, or the wait the server asked for; that one also holds back every other request
        to this service (the Searcher's other workers), not just the one that was told."""
        exc = _failure(state)
        asked = exc.retry_after if isinstance(exc, _Transient) else None
        wait = retry_wait(state.attempt_number, asked, self.settings.max_retry_wait)
        if asked is not None:
            with self._lock:
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
        return wait

    def _hold(self) -> None:
        """Wait out a pause another request to this service was asked for."""
        with self._lock:
            left = self._resume_at - time.monotonic()
        if left > 0:
            time.sleep(left)


def _failure(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _json(response: Response, what: str, name: str) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):       # not JSON, or nested past what Python reads
        raise SearchError(f"{name}: {what} answered HTTP {response.status} with a body that is not JSON; "
                          "is the URL right?") from None


def _listed(response: Response, name: str, where: str, key: str, hint: str) -> list:
    """The list under ``key`` in a provider's JSON answer, or a SearchError saying what came instead
    (``hint`` ends the parenthesis: which shape was expected and what to check)."""
    if response.status >= 400:
        raise SearchError(f"{name}: {where} answered HTTP {response.status}: {_error_text(response)}")
    data = _json(response, where, name)
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, list):
        raise SearchError(f"{name}: {where} answered without a '{key}' list ({hint}")
    return found


def _error_text(response: Response) -> str:
    """The server's own words from an error answer, on one line."""
    try:
        body = response.json()
    except ValueError:
        body = response.body.decode("utf-8", errors="replace")
    if isinstance(body, dict):
        body = next((body[key] for key in ("message", "detail", "error") if body.get(key)), body)
    if isinstance(body, dict) and body.get("message"):
        body = body["message"]
    if isinstance(body, list):
        body = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in body)
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return re.sub(r"\s+", " ", text).strip()[:200]


# ---------------------------------------------------------------- wikipedia

class Wikipedia:
    """MediaWiki REST search, on the article's language wiki and on English, and page HTML.

    Search: ``GET {wiki}/w/rest.php/v1/search/page?q=…&limit=…`` answers ``{"pages": [{"id", "key",
    "title", "excerpt", "description", ...}]}``. Pages: ``GET {wiki}/w/rest.php/v1/page/{key}/html``
    (Parsoid HTML), extracted with trafilatura, tables kept. The Action API's TextExtracts
    (``prop=extracts&explaintext=1``) is not used: it removes every ``table`` and ``div``
    ($wgExtractsRemoveClasses), so the infobox and table figures a claim turns on would be lost.
    """

    name = "wikipedia"

    def __init__(self, settings: Settings, *, limit: int = 3, store: JsonStore | None = None):
        self.settings = settings
        self.template = settings.wikipedia_url
        self.limit = limit
        self.store = store
        self.http = _Service(self.name, settings, {"User-Agent": user_agent(settings), "Accept": "application/json"})

    @property
    def cache_id(self) -> str:
        return f"wikipedia|{self.template}|{self.limit}"

    def wiki(self, lang: str) -> str:
        return self.template.format(lang=lang)

    def wikis(self, lang: str) -> list[str]:
        """The article's language wiki, then English."""
        lang = (lang or "").strip().lower()
        return list(dict.fromkeys([lang if _LANG.match(lang) else "en", "en"]))

    def search(self, queries: list[tuple[str, str]]) -> list[list[Hit]]:
        return [self._search(query, lang) for query, lang in queries]

    def _search(self, query: str, lang: str) -> list[Hit]:
        per_wiki = [self._search_wiki(query, wiki) for wiki in self.wikis(lang)]
        # Interleaved, so that a cap on hits per query keeps both languages.
        return [hit for rank in zip(*[h + [None] * (self.limit - len(h)) for h in per_wiki])
                for hit in rank if hit is not None]

    def _search_wiki(self, query: str, wiki: str) -> list[Hit]:
        base = self.wiki(wiki)
        response = self.http.request("GET", f"{base}/w/rest.php/v1/search/page", params={"q": query, "limit": self.limit})
        pages = _listed(response, self.name, f"search on {base}", "pages", "not MediaWiki's REST search shape); "
                        "is --wikipedia-url a MediaWiki site, e.g. https://{lang}.wikipedia.org?")
        hits = []
        for page in pages[:self.limit]:
            if not isinstance(page, dict) or not isinstance(page.get("key"), str) or not page["key"]:
                continue
            title = _text(page.get("title"), page["key"].replace("_", " "))
            url = f"{base}/wiki/{quote(page['key'], safe=':/()_,-.')}"
            hits.append(Hit(url=url, title=title, snippet=_clean(page.get("excerpt")) or _clean(page.get("description")),
                            provider=self.name, query=query,
                            license=f"{WIKIPEDIA_LICENSE} — Wikipedia contributors, “{title}”, {url}"))
        return hits

    def read(self, hit: Hit) -> Page | None:
        """The article's HTML through the REST API, extracted; None for a URL that is not one of our wikis'."""
        if hit.provider != self.name or "/wiki/" not in hit.url:
            return None
        base, key = hit.url.split("/wiki/", 1)
        source = f"{base}/w/rest.php/v1/page/{quote(unquote(key), safe=':()_,-.')}/html"
        start = time.monotonic()
        entry = self.store.get(f"wikipedia-page:{source}") if self.store is not None else None
        if isinstance(entry, dict):
            try:
                return replace(Page(**entry), cached=True, seconds=round(time.monotonic() - start, 3))
            except TypeError:
                pass
        try:
            response = self.http.request("GET", source)
        except SearchError as exc:
            raise FetchError(str(exc)) from None
        if response.status >= 400:
            raise FetchError(f"HTTP {response.status}")
        markup = response.body.decode("utf-8", errors="replace")
        title, text, date = extract_html(markup, hit.url)
        if not text.strip():
            raise FetchError("no readable text in the page")
        page = Page(url=hit.url, final_url=response.final_url, status=response.status, content_type=response.mime,
                    bytes=len(response.body), sha256=hashlib.sha256(response.body).hexdigest(),
                    seconds=response.seconds, title=title or hit.title, text=text, date=date)
        if self.store is not None:
            self.store.set(f"wikipedia-page:{source}", {k: v for k, v in page.to_dict().items() if k != "cached"},
                           expire=CACHE_SECONDS)
        return page

    def check(self) -> Check:
        base = self.wiki("en")
        try:
            hits = self._search_wiki("Paris", "en")
        except SearchError as exc:
            return Check(self.name, False, str(exc))
        if not hits:
            return Check(self.name, False, f"search on {base} answered, but found nothing for 'Paris'")
        detail = f"{base} answered a test search ({hits[0].title!r})"
        if self.settings.contact == DEFAULT_CONTACT:
            detail += "; set REWRITER_CONTACT or --contact (an email or URL): Wikimedia asks clients for one"
        return Check(self.name, True, detail)


# ---------------------------------------------------------------- mistral web_search

_LABEL = re.compile(r"\bQ(\d{1,4})\b")


class MistralWebSearch:
    """Mistral's built-in ``web_search`` tool, through the Conversations API.

    Request (``POST {base_url}/conversations``): ``{"model", "inputs": [{"role": "user", "content"}],
    "tools": [{"type": "web_search"}], "store": false}``. Response: ``{"outputs": [...], "usage":
    {"prompt_tokens", "completion_tokens", "total_tokens", "connector_tokens", "connectors"}}``, whose
    ``tool.execution`` entries record each search (``arguments``) and whose ``message.output``
    entries hold ``text`` and ``tool_reference`` chunks (``tool``, ``title``, ``url``, ``description``).
    """

    name = "mistral"
    batched = True      # all of an article's queries go in one request

    def __init__(self, settings: Settings):
        if not settings.api_key and not settings.base_url_configured:
            raise ConfigError(f"--research mistral needs a Mistral API key: set ${settings.api_key_env}")
        self.settings = settings
        self.url = f"{settings.base_url}/conversations"
        headers = {"User-Agent": user_agent(settings), "Accept": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"     # to the model's own base URL only
        # No redirects: the key must not follow one anywhere.
        self.http = _Service(self.name, settings, headers, seconds=max(CONVERSATION_SECONDS, settings.timeout),
                             follow_redirects=False)
        self.calls: list[Call] = []

    @property
    def cache_id(self) -> str:
        return f"mistral|{self.settings.base_url}|{self.settings.model}"

    def request_body(self, queries: list[tuple[str, str]]) -> dict[str, Any]:
        listed = "\n".join(f"Q{n} [{lang or '?'}]: {query}" for n, (query, lang) in enumerate(queries, 1))
        return {"model": self.settings.model,
                "inputs": [{"role": "user", "content": render_prompt("web_search", queries=listed)}],
                "tools": [{"type": "web_search"}], "store": False}

    def search(self, queries: list[tuple[str, str]]) -> list[list[Hit]]:
        if not queries:
            return []
        data = self._converse(self.request_body(queries))
        found: list[list[Hit]] = [[] for _ in queries]
        seen: set[tuple[int, str]] = set()
        for index, ref in _references(data["outputs"], [q for q, _ in queries]):
            url = _text(ref.get("url"))
            if not is_http_url(url) or (index, url_key(url)) in seen:
                continue
            seen.add((index, url_key(url)))
            found[index].append(Hit(url=url, title=_text(ref.get("title"), url), provider=self.name,
                                    snippet=_clean(ref.get("description")), query=queries[index][0]))
        return found

    def _converse(self, body: dict) -> dict:
        s = self.settings
        start = time.monotonic()

        def record(error: str | None, usage: dict) -> None:
            self.calls.append(Call(task="research", model=s.model, base_url=s.base_url,
                                   duration_s=round(time.monotonic() - start, 3),
                                   prompt_tokens=_int(usage.get("prompt_tokens")),
                                   completion_tokens=_int(usage.get("completion_tokens")),
                                   schema_hash="", cached=False, attempt=1, error=error,
                                   connector_tokens=_int(usage.get("connector_tokens"))))

        try:
            response = self.http.request("POST", self.url, body=body)
        except SearchError as exc:
            record(str(exc), {})
            raise
        if response.status >= 400:
            message = self._refusal(response)
            record(message, {})
            raise SearchError(message)
        data = _json(response, self.url, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
            record("not the Conversations API shape", {})
            raise SearchError(f"mistral: {self.url} answered without an 'outputs' list (not the Conversations API "
                              "shape); web_search needs Mistral's API, e.g. https://api.mistral.ai/v1")
        usage: dict = data["usage"] if isinstance(data.get("usage"), dict) else {}
        record(None, usage)
        return data

    def _refusal(self, response: Response) -> str:
        status, text, s = response.status, _error_text(response), self.settings
        if status in (401, 403):
            return f"mistral: API key rejected by {s.base_url} (HTTP {status}); check ${s.api_key_env}"
        if status == 404:
            return (f"mistral: no /conversations endpoint on {s.base_url} (HTTP 404): {text}; web_search needs "
                    "Mistral's Conversations API (https://api.mistral.ai/v1)")
        return f"mistral: {self.url} refused the web_search request (HTTP {status}): {text}"

    def cached_call(self) -> Call:
        s = self.settings
        return Call(task="research", model=s.model, base_url=s.base_url, duration_s=0.0, prompt_tokens=0,
                    completion_tokens=0, schema_hash="", cached=True, attempt=0)

    def read(self, hit: Hit) -> Page | None:
        return None     # the tool's pages are fetched and read by us, never taken from the model

    def check(self) -> Check:
        try:
            data = self._converse(self.request_body([("Mistral AI", "en")]))
        except SearchError as exc:
            return Check(self.name, False, str(exc))
        ran = sum(1 for entry in data["outputs"] if isinstance(entry, dict) and entry.get("type") == "tool.execution")
        refs = len(list(_references(data["outputs"], ["Mistral AI"])))
        if not ran:
            return Check(self.name, False, f"{self.url} answered, but ran no web_search (no tool.execution entry); "
                                           "this model or server may not offer the tool")
        tokens = self.calls[-1].connector_tokens if self.calls else 0
        return Check(self.name, True, f"{self.url} ran web_search: {refs} reference(s), {tokens} connector tokens")


def _references(outputs: list, queries: list[str]):
    """``(query index, tool_reference chunk)`` for every reference in ``outputs``, in order.

    A reference in a ``message.output`` entry answers the query whose label (Q1, Q2, ...) the text
    before it names last; one with no label, or in a ``tool.execution`` entry, goes to the query
    that shares most words with the search that was run, or with its own title. The model's text
    is used for nothing else.
    """
    last_search = ""
    for entry in outputs:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") == "tool.execution":
            last_search = _search_arguments(entry.get("arguments"))
            for chunk in _chunks(entry.get("info")):
                yield _closest(queries, f"{last_search} {_text(chunk.get('title'))}"), chunk
            continue
        label: int | None = None
        content = entry.get("content")
        for chunk in content if isinstance(content, list) else []:
            if not isinstance(chunk, dict):
                continue
            if chunk.get("type") == "text":
                labels = [int(n) for n in _LABEL.findall(_text(chunk.get("text"))) if 1 <= int(n) <= len(queries)]
                label = labels[-1] - 1 if labels else label
            elif chunk.get("type") == "tool_reference":
                yield (label if label is not None else
                       _closest(queries, f"{last_search} {_text(chunk.get('title'))} {_text(chunk.get('description'))}")), chunk


def _chunks(node: Any):
    """tool_reference chunks anywhere inside ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "tool_reference":
            yield node
        else:
            for value in node.values():
                yield from _chunks(value)
    elif isinstance(node, list):
        for value in node:
            yield from _chunks(value)


def _search_arguments(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    return _text(arguments.get("query")) if isinstance(arguments, dict) else ""


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W_]+", text.casefold()) if len(w) > 2}


def _closest(queries: list[str], text: str) -> int:
    words = _words(text)
    scores = [len(words & _words(q)) for q in queries]
    return max(range(len(queries)), key=lambda i: (scores[i], -i))


# ---------------------------------------------------------------- searxng

class SearxNG:
    """A SearXNG instance's JSON API: ``GET {searx}/search?q=…&format=json&language=…`` answers
    ``{"query", "results": [{"url", "title", "content", "publishedDate", "engine", ...}], ...}``;
    HTTP 403 when the instance does not enable the JSON format."""

    name = "searxng"

    def __init__(self, settings: Settings, *, limit: int = 3):
        if not settings.searx_url:
            raise ConfigError("--research searxng needs --searx-url URL (env REWRITER_SEARX_URL): the address of "
                              "your SearXNG instance")
        self.settings = settings
        self.base = settings.searx_url
        self.limit = limit
        self.http = _Service(self.name, settings, {"User-Agent": user_agent(settings), "Accept": "application/json"})

    @property
    def cache_id(self) -> str:
        return f"searxng|{self.base}|{self.limit}"

    def search(self, queries: list[tuple[str, str]]) -> list[list[Hit]]:
        return [self._search(query, lang) for query, lang in queries]

    def _search(self, query: str, lang: str) -> list[Hit]:
        params = {"q": query, "format": "json"}
        if _LANG.match((lang or "").lower()):
            params["language"] = lang.lower()
        response = self.http.request("GET", f"{self.base}/search", params=params)
        if response.status == 403:
            raise SearchError(f"searxng: {self.base} refused format=json (HTTP 403); enable json under "
                              "search.formats in the instance's settings.yml")
        results = _listed(response, self.name, f"{self.base}/search", "results",
                          "not SearXNG's JSON shape); is --searx-url right?")
        hits = []
        for item in results:
            url = _text(item.get("url")) if isinstance(item, dict) else ""
            if not is_http_url(url):
                continue
            hits.append(Hit(url=url, title=_text(item.get("title"), url), snippet=_clean(item.get("content")),
                            provider=self.name, query=query, date=_iso_date(item.get("publishedDate"))))
            if len(hits) >= self.limit:
                break
        return hits

    def read(self, hit: Hit) -> Page | None:
        return None

    def check(self) -> Check:
        try:
            hits = self._search("Paris", "en")
        except SearchError as exc:
            return Check(self.name, False, str(exc))
        return Check(self.name, True, f"{self.base} answered a test search ({len(hits)} result(s))")


def _iso_date(value: Any) -> str:
    match = re.match(r"\d{4}-\d{2}-\d{2}", _text(value))
    return match.group(0) if match else ""


# ---------------------------------------------------------------- the searcher

def build_providers(settings: Settings, *, limit: int = 3, store: JsonStore | None = None) -> list[Provider]:
    """The providers named by ``settings.research``, in that order (none when offline)."""
    if settings.offline:
        return []
    if store is None and settings.use_cache and "wikipedia" in settings.research:
        store = JsonStore(Path(settings.cache_dir) / "search", "search")
    makers: dict[str, Callable[[], Provider]] = {
        "wikipedia": lambda: Wikipedia(settings, limit=limit, store=store),
        "mistral": lambda: MistralWebSearch(settings),
        "searxng": lambda: SearxNG(settings, limit=limit),
    }
    return [makers[name]() for name in settings.research]


def diagnose_research(settings: Settings) -> list[Check]:
    """One verdict per configured provider, each from one quick test query (no cache, no retries)."""
    quick = replace(settings, max_retries=0, use_cache=False)
    checks = []
    for name in settings.research:
        try:
            [provider] = build_providers(replace(quick, research=(name,)))
        except ConfigError as exc:
            checks.append(Check(name, False, str(exc)))
            continue
        checks.append(provider.check())
    return checks


class Searcher:
    """Runs every provider over an article's queries: cached, bounded, and recorded.

    ``max_searches`` (settings) bounds the distinct ``(query, lang)`` pairs searched over the
    Searcher's life (one per article); pairs beyond it are recorded as ``skipped``. Each provider
    keeps at most ``max_hits_per_query`` hits per pair; :meth:`run` returns the hits of all
    providers, query by query, each URL once per query (so each query is credited with what it
    found; the research stage reads each page once).
    """

    def __init__(self, providers: list[Provider], settings: Settings, *, max_hits_per_query: int = 3,
                 concurrency: int = 4, store: JsonStore | None = None):
        self.providers = list(providers)
        self.settings = settings
        self.max_hits = max_hits_per_query
        self.concurrency = concurrency
        self.records: list[SearchRecord] = []
        self.calls: list[Call] = []
        self._own_store = store is None and settings.use_cache
        self._store = JsonStore(Path(settings.cache_dir) / "search", "search") if self._own_store else store
        self._searched: list[tuple[str, str]] = []
        self._pages: JsonStore | None = None

    def run(self, queries: list[tuple[str, str]]) -> list[Hit]:
        pairs = list(dict.fromkeys((re.sub(r"\s+", " ", q).strip(), (lang or "").strip().lower())
                                   for q, lang in queries if q and q.strip()))
        allowed = []
        for pair in pairs:
            if pair in self._searched or len(self._searched) < self.settings.max_searches:
                allowed.append(pair)
                if pair not in self._searched:
                    self._searched.append(pair)
            else:
                self.records.extend(SearchRecord(p.name, pair[0], pair[1], "skipped", 0, 0.0,
                                                 f"over the limit of {self.settings.max_searches} searches per "
                                                 "article (--max-searches)") for p in self.providers)
        per_provider = [self._run_provider(provider, allowed) for provider in self.providers]
        hits = []
        for i in range(len(allowed)):
            seen: set[str] = set()       # each URL once per query; two queries may find the same page
            for found in per_provider:
                for hit in found[i]:
                    if url_key(hit.url) not in seen:
                        seen.add(url_key(hit.url))
                        hits.append(hit)
        return hits

    def _key(self, provider: Provider, pair: tuple[str, str]) -> str:
        identity = getattr(provider, "cache_id", provider.name)
        return "search:" + hashlib.sha256(canonical_json([identity, *pair]).encode("utf-8")).hexdigest()

    def _cached(self, provider: Provider, pair: tuple[str, str]) -> list[Hit] | None:
        entry = self._store.get(self._key(provider, pair)) if self._store is not None else None
        if not isinstance(entry, list):
            return None
        try:
            return [Hit(**item) for item in entry]
        except TypeError:
            return None

    def _run_provider(self, provider: Provider, pairs: list[tuple[str, str]]) -> list[list[Hit]]:
        results: list[list[Hit]] = []
        records: list[SearchRecord] = []
        todo: list[int] = []
        for i, (query, lang) in enumerate(pairs):
            cached = self._cached(provider, (query, lang))
            results.append((cached or [])[:self.max_hits])
            records.append(SearchRecord(provider.name, query, lang, "cached", len(results[-1]), 0.0))
            if cached is None:
                todo.append(i)
        if len(todo) < len(pairs) and hasattr(provider, "cached_call"):
            self.calls.append(provider.cached_call())
        for i, (outcome, seconds) in zip(todo, self._search(provider, [pairs[i] for i in todo])):
            query, lang = pairs[i]
            if isinstance(outcome, SearchError):
                records[i] = SearchRecord(provider.name, query, lang, "error", 0, seconds, str(outcome))
                continue
            results[i] = outcome[:self.max_hits]
            records[i] = SearchRecord(provider.name, query, lang, "ok", len(results[i]), seconds)
            if self._store is not None:
                self._store.set(self._key(provider, pairs[i]), [h.to_dict() for h in results[i]],
                                expire=CACHE_SECONDS)
        made = getattr(provider, "calls", None)
        if made:
            self.calls.extend(made)
            made.clear()
        self.records.extend(records)
        return results

    def _search(self, provider: Provider, pairs: list[tuple[str, str]]) -> list[tuple[list[Hit] | SearchError, float]]:
        """Each pair's hits or error, and the seconds it took: in one request for a batched provider
        (all pairs share its time and its failure), else one pair at a time, ``concurrency`` at once."""
        if not pairs:
            return []

        def timed(batch: list[tuple[str, str]]) -> tuple[list[list[Hit]] | SearchError, float]:
            start = time.monotonic()
            try:
                found: list[list[Hit]] | SearchError = provider.search(batch)
            except SearchError as exc:
                found = exc
            except Exception as exc:    # an answer of a shape no check foresaw: that search failed, not the run
                if os.environ.get("REWRITER_RAISE_ERRORS"):
                    raise
                found = SearchError(f"{provider.name}: unexpected answer ({type(exc).__name__}: {exc})"[:300])
            return found, round(time.monotonic() - start, 3)

        if getattr(provider, "batched", False):
            found, seconds = timed(pairs)
            return [(item, seconds) for item in (found if isinstance(found, list) else [found] * len(pairs))]
        with waiting(), ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(pairs)))) as pool:
            answers = list(pool.map(lambda pair: timed([pair]), pairs))
        return [(found[0] if isinstance(found, list) else found, seconds) for found, seconds in answers]

    def read(self, hits: list[Hit], *, concurrency: int = 8) -> list[Page | FetchError]:
        """The page behind each hit, in order: through its provider's API when it has one (Wikipedia),
        else fetched under the address policy and the page bounds of the settings, cached with the
        other fetched pages (``cache_dir/fetch``)."""
        by_name = {p.name: p for p in self.providers}
        if self._pages is None and self.settings.use_cache:
            self._pages = JsonStore(Path(self.settings.cache_dir) / "fetch", "page")
        s = self.settings

        def one(hit: Hit) -> Page:
            provider = by_name.get(hit.provider)
            page = provider.read(hit) if provider is not None else None
            return page or fetch_page(hit.url, allow_private=s.fetch_private, total_seconds=s.page_seconds,
                                      max_bytes=s.page_bytes, store=self._pages)

        return in_parallel(one, hits, concurrency)

    def close(self) -> None:
        if self._own_store and self._store is not None:
            self._store.close()
        if self._pages is not None:
            self._pages.close()
