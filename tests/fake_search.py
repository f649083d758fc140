"""Loopback fakes of the search services, speaking their documented shapes, for tests and by hand.

- :class:`FakeWiki`: MediaWiki's REST API, one wiki per language under ``/{lang}``
  (https://www.mediawiki.org/wiki/API:REST_API/Reference): ``GET /{lang}/w/rest.php/v1/search/page?q=&limit=``
  answers ``{"pages": [{"id", "key", "title", "excerpt", "matched_title", "description", "thumbnail"}]}``
  by word overlap over titles and texts; ``GET /{lang}/w/rest.php/v1/page/{key}/html`` answers
  Parsoid-like HTML (``<meta property="dc:modified">``, sections); ``GET /{lang}/wiki/{key}`` the
  article page. Like Wikimedia, it answers 403 to a client without a descriptive User-Agent.
- :class:`FakeSearx`: SearXNG's JSON API (https://docs.searxng.org/dev/search_api.html):
  ``GET /search?q=&format=json&language=`` answers ``{"query", "number_of_results", "results": [{"url",
  "title", "content", "engine", "publishedDate"}], "answers", "suggestions", ...}``, 403 when the JSON
  format is disabled.
- :class:`FakeMistralConversations`: ``POST /v1/conversations`` as in Mistral's OpenAPI file
  (repository mistralai/platform-docs-public, ``openapi.yaml``: ConversationRequest,
  ConversationResponse, ToolExecutionEntry, MessageOutputEntry, ToolReferenceChunk,
  ConversationUsageInfo) and its web_search guide: ``outputs`` holds one ``tool.execution`` entry
  per query and a ``message.output`` entry whose content interleaves ``text`` chunks (with
  fabricated claims, which must never become evidence) and ``tool_reference`` chunks; ``usage``
  carries ``connector_tokens`` and ``connectors``.
- :class:`FakeWeb`: plain pages at given paths.

Every fake records its requests (``fake.requests``: method, path, query, headers, body, time) and
takes faults per route: ``fake.fail("search", Fault.rate_limited(0.3), Fault.http(503))`` serves those
to the next requests of that route, in order. Faults: HTTP status with headers and body, ``hang``
(answer after N seconds), ``drop`` (close the connection), ``dribble`` (slow-loris body), ``empty``
(no results), ``raw`` (a body of another shape).

Standalone, to point the CLI at::

    python -m tests.fake_search --wiki corpus.json --searx results.json --mistral refs.json --web pages.json
        [--latency 0.2] [--page-latency 0.3] [--api-key KEY] [--upstream http://127.0.0.1:8765]

``corpus.json``: ``{"fr": {"Mistral AI": "<p>html</p> or plain text"}, "en": {...}}``;
``results.json``: ``{"query": [{"url", "title", "content", "publishedDate"}]}`` (or a list for every query);
``refs.json``: ``{"query": [["url", "title"], ...]}``; ``pages.json``: ``{"/path": "html or text"}``.
It prints each fake's URL and the rewriter options that use it. No pytest import here.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
import unicodedata
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class Fault:
    kind: str                      # status | hang | drop | dribble | empty | raw
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0

    @classmethod
    def http(cls, status: int, body: Any = None, headers: dict[str, str] | None = None) -> "Fault":
        return cls("status", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float) -> "Fault":
        return cls.http(429, {"message": "Too many requests"}, {"Retry-After": f"{retry_after:g}"})

    @classmethod
    def hang(cls, seconds: float) -> "Fault":
        """Answer normally, but only after ``seconds`` (past the client's deadline, a timeout)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def drop(cls) -> "Fault":
        return cls("drop")

    @classmethod
    def dribble(cls, every: float = 0.2) -> "Fault":
        """Headers at once, then the body one byte every ``every`` seconds (slow-loris)."""
        return cls("dribble", seconds=every)

    @classmethod
    def empty(cls) -> "Fault":
        """A well-formed answer with no results."""
        return cls("empty")

    @classmethod
    def raw(cls, body: str, content_type: str = "application/json", status: int = 200) -> "Fault":
        """A body of another shape than the documented one."""
        return cls("raw", status=status, body=body, headers={"Content-Type": content_type})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]        # names lower-cased
    body: Any                      # parsed JSON, or None
    at: float                      # time.monotonic() when it arrived


Answer = tuple[int, str, bytes]    # status, content type, body


class LoopbackServer(ThreadingHTTPServer):
    """As in tests.fake_llm (not imported: this module runs without pytest): a listen backlog of
    128 rather than 5, which refuses connections under load."""

    request_queue_size = 128
    daemon_threads = True


class _Fake:
    """A threaded HTTP server on 127.0.0.1 that records requests and serves queued faults per route."""

    name = "fake"

    def __init__(self, *, latency: float = 0.0, port: int = 0):
        self.latency = latency
        self.requests: list[Request] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = LoopbackServer(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=self.name, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, route: str, *faults: Fault) -> "_Fake":
        with self._lock:
            self._faults[route].extend(faults)
        return self

    def _fault(self, route: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(route)
            return queue.popleft() if queue else None

    def routed(self, route: str) -> list[Request]:
        """The requests that reached ``route``."""
        with self._lock:
            return [r for r in self.requests if self.route_of(r.method, r.path) == route]

    def route_of(self, method: str, path: str) -> str | None:
        raise NotImplementedError

    def answer(self, route: str, request: Request, empty: bool) -> Answer:
        raise NotImplementedError

    def start(self) -> "_Fake":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # see tests.fake_llm: headers and body are two sends

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake: _Fake = self.server.fake
        parts = urlsplit(self.path)
        body, raw = None, b""
        if method == "POST":
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
        request = Request(method, parts.path, dict(parse_qsl(parts.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        with fake._lock:
            fake.requests.append(request)
        route = fake.route_of(method, parts.path)
        if route is None and getattr(fake, "upstream", None):
            return self._forward(fake.upstream, method, raw if method == "POST" else None)
        if route is None:
            return self._send(404, "application/json", b'{"message": "no such route"}')
        fault = fake._fault(route)
        fake.sleep(fake.latency)
        if fault is not None and fault.kind == "status":
            payload = fault.body if isinstance(fault.body, (bytes, str)) else json.dumps(
                fault.body if fault.body is not None else {"message": f"injected HTTP {fault.status}"})
            return self._send(fault.status, "application/json", _bytes(payload), fault.headers)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault is not None and fault.kind == "raw":
            return self._send(fault.status, fault.headers["Content-Type"], _bytes(fault.body))
        if fault is not None and fault.kind == "hang":
            fake.sleep(fault.seconds)
        status, content_type, payload = fake.answer(route, request, empty=fault is not None and fault.kind == "empty")
        if fault is not None and fault.kind == "dribble":
            return self._dribble(status, content_type, payload, fault.seconds)
        return self._send(status, content_type, payload)

    def _forward(self, upstream: str, method: str, raw: bytes | None) -> None:
        """Relay a request this fake does not serve to ``upstream`` (e.g. a FakeLLM for /v1/chat/completions)."""
        import urllib.error
        import urllib.request

        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(upstream.rstrip("/") + self.path, data=raw, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload, kind = response.status, response.read(), response.headers.get("Content-Type", "")
                extra = {k: v for k, v in response.headers.items() if k.lower().startswith("retry-after")}
        except urllib.error.HTTPError as exc:
            status, payload, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            extra = {k: v for k, v in exc.headers.items() if k.lower().startswith("retry-after")}
        self._send(status, kind or "application/json", payload, extra)

    def _send(self, status: int, content_type: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass        # the client gave up (a timeout test)

    def _dribble(self, status: int, content_type: str, payload: bytes, every: float) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            for i in range(len(payload)):
                self.wfile.write(payload[i:i + 1])
                self.wfile.flush()
                self.server.fake.sleep(every)
        except OSError:
            pass


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _json(status: int, payload: Any) -> Answer:
    return status, "application/json", json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W_]+", _fold(re.sub(r"<[^>]*>", " ", text))) if len(w) > 2}


# ---------------------------------------------------------------- MediaWiki

class FakeWiki(_Fake):
    """Wikis by language: ``FakeWiki(pages={"fr": {"Mistral AI": "<p>…</p>"}, "en": {...}})``.

    Point rewriter at it with ``--wikipedia-url {fake.url_template}`` (``http://127.0.0.1:PORT/{lang}``).
    A page is HTML (kept as given, inside Parsoid-like sections) or plain text (a paragraph per
    blank-line-separated block). Routes: ``search``, ``page`` (REST HTML), ``article`` (/wiki/).
    """

    name = "fake_wiki"
    _ROUTES = (("search", re.compile(r"^/([a-z-]+)/w/rest\.php/v1/search/page$")),
               ("page", re.compile(r"^/([a-z-]+)/w/rest\.php/v1/page/(.+)/html$")),
               ("article", re.compile(r"^/([a-z-]+)/wiki/(.+)$")))

    def __init__(self, pages: dict[str, dict[str, str]] | None = None, *, modified: str = "2024-11-02T10:11:12Z",
                 **kwargs):
        super().__init__(**kwargs)
        self.pages = {lang: dict(titles) for lang, titles in (pages or {}).items()}
        self.modified = modified

    @property
    def url_template(self) -> str:
        return self.base + "/{lang}"

    def searches(self) -> list[tuple[str, str, str]]:
        """``(lang, q, limit)`` of each search received."""
        return [(r.path.split("/")[1], r.query.get("q", ""), r.query.get("limit", "")) for r in self.routed("search")]

    def route_of(self, method, path):
        return next((name for name, pattern in self._ROUTES if method == "GET" and pattern.match(path)), None)

    def _page(self, lang: str, key: str) -> tuple[str, str] | None:
        titles = self.pages.get(lang, {})
        title = unquote(key).replace("_", " ")
        return (title, titles[title]) if title in titles else None

    def answer(self, route, request, empty):
        ua = request.headers.get("user-agent", "")
        if not re.search(r"\(.*\S.*\)", ua):      # Wikimedia: no anonymous or generic clients
            return 403, "text/plain", b"Please set a user-agent and respect our robot policy https://w.wiki/4wJS."
        pattern = next(p for n, p in self._ROUTES if n == route)
        match = pattern.match(request.path)
        lang = match.group(1)
        if lang not in self.pages:
            return _json(404, {"messageTranslations": {"en": f"no wiki for {lang}"}, "httpCode": 404})
        if route == "search":
            return _json(200, {"pages": [] if empty else self._search(lang, request.query)})
        found = self._page(lang, match.group(2))
        if found is None:
            return _json(404, {"messageTranslations": {"en": "The specified page does not exist."}, "httpCode": 404})
        return 200, "text/html; charset=utf-8", self._html(*found).encode("utf-8")

    def _search(self, lang: str, query: dict[str, str]) -> list[dict]:
        words = _words(query.get("q", ""))
        limit = int(query.get("limit") or 10)
        scored = []
        for n, (title, text) in enumerate(self.pages[lang].items(), 1):
            score = 3 * len(words & _words(title)) + len(words & _words(text))
            if score:
                scored.append((-score, title, n, text))
        results = []
        for _, title, n, text in sorted(scored)[:limit]:
            plain = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip()
            sentence = next((s for s in re.split(r"(?<=[.!?])\s+", plain) if words & _words(s)), plain)[:200]
            excerpt = re.sub(r"[^\W_]+", lambda m: f'<span class="searchmatch">{m.group(0)}</span>'
                             if _fold(m.group(0)) in words else m.group(0), sentence)
            results.append({"id": n, "key": title.replace(" ", "_"), "title": title, "excerpt": excerpt,
                            "matched_title": None, "description": None, "thumbnail": None})
        return results

    def _html(self, title: str, text: str) -> str:
        body = text if re.search(r"<[a-zA-Z][^>]*>", text) else "".join(
            f"<p>{block.strip()}</p>" for block in re.split(r"\n\s*\n", text) if block.strip())
        return ('<!DOCTYPE html>\n<html prefix="dc: http://purl.org/dc/terms/ mw: http://mediawiki.org/rdf/">'
                f'<head><meta charset="utf-8"/><meta property="dc:modified" content="{self.modified}"/>'
                f'<title>{title}</title></head><body class="mw-content-ltr parsoid-body mediawiki mw-parser-output">'
                f'<section data-mw-section-id="0">{body}</section></body></html>')


# ---------------------------------------------------------------- SearXNG

Results = dict[str, list] | list | Callable[[str, str], list]


class FakeSearx(_Fake):
    """``FakeSearx(results={"query": [{"url", "title", "content", "publishedDate"}]})``; a list answers
    every query; a callable ``(q, language) -> list``. Tuples ``(url, title, content)`` are accepted.
    ``json_enabled=False``: 403 to format=json, as an instance whose settings.yml lacks it."""

    name = "fake_searx"

    def __init__(self, results: Results | None = None, *, json_enabled: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.results = results if results is not None else {}
        self.json_enabled = json_enabled

    def searches(self) -> list[tuple[str, str, str]]:
        """``(q, format, language)`` of each search received."""
        return [(r.query.get("q", ""), r.query.get("format", ""), r.query.get("language", ""))
                for r in self.routed("search")]

    def route_of(self, method, path):
        return "search" if method == "GET" and path in ("/search", "/") else None

    def answer(self, route, request, empty):
        q, fmt = request.query.get("q", ""), request.query.get("format", "html")
        if fmt != "json":
            return 200, "text/html", f"<html><body>results for {q}</body></html>".encode()
        if not self.json_enabled:
            return 403, "text/html", b"<html><body>403 Forbidden</body></html>"
        if callable(self.results):
            found = self.results(q, request.query.get("language", ""))
        elif isinstance(self.results, dict):
            found = self.results.get(q, [])
        else:
            found = self.results
        items = []
        for item in ([] if empty else found):
            if isinstance(item, (list, tuple)):
                item = dict(zip(("url", "title", "content"), item))
            items.append({"url": item["url"], "title": item.get("title", ""), "content": item.get("content", ""),
                          "engine": "fake", "engines": ["fake"], "score": 1.0, "category": "general",
                          "publishedDate": item.get("publishedDate")})
        return _json(200, {"query": q, "number_of_results": len(items), "results": items, "answers": [],
                           "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []})


# ---------------------------------------------------------------- Mistral conversations

References = dict[str, list] | Callable[[str], list]
FABRICATED = "According to my own knowledge the answer is 999 billion, as everyone knows."
_QUERY_LINE = re.compile(r"^Q(\d+) \[([^\]]*)\]: (.+)$", re.MULTILINE)


class FakeMistralConversations(_Fake):
    """``POST /v1/conversations`` with the web_search tool.

    ``references_for``: ``{query: [(url, title) or (url, title, description), ...]}`` or a callable
    ``query -> list``. Queries are read from the input's ``Q<n> [<lang>]: <query>`` lines (the
    format of prompts/web_search.txt); any other input is one query. ``api_key``: requests
    without ``Bearer <key>`` get 401. Without the web_search tool, no search runs.
    ``base_url`` (``http://127.0.0.1:PORT/v1``) is what ``--base-url`` takes. ``upstream``: every
    other request (``/v1/models``, ``/v1/chat/completions``) is relayed there, e.g. to a FakeLLM's
    ``http://127.0.0.1:PORT`` (no ``/v1``), so one base URL serves the whole pipeline.
    """

    name = "fake_mistral"

    def __init__(self, references_for: References | None = None, *, api_key: str | None = None,
                 model: str = "fake-model", upstream: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.upstream = upstream
        self.references_for = references_for if references_for is not None else {}
        self.api_key = api_key
        self.model = model

    @property
    def base_url(self) -> str:
        return self.base + "/v1"

    def bodies(self) -> list[dict]:
        return [r.body for r in self.routed("conversations")]

    def route_of(self, method, path):
        return "conversations" if method == "POST" and path.rstrip("/") == "/v1/conversations" else None

    def _refs(self, query: str) -> list[tuple[str, str, str]]:
        found = self.references_for(query) if callable(self.references_for) else self.references_for.get(query, [])
        return [(r[0], r[1], r[2] if len(r) > 2 else "") for r in found]

    def answer(self, route, request, empty):
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(401, {"message": "Unauthorized", "request_id": "fake"})
        body = request.body
        if not isinstance(body, dict) or "inputs" not in body:
            return _json(422, {"detail": [{"type": "missing", "loc": ["body", "inputs"], "msg": "Field required"}]})
        if body.get("model") != self.model:
            return _json(400, {"object": "error", "message": f"Invalid model: {body.get('model')}", "code": "1500"})
        inputs = body["inputs"]
        text = inputs if isinstance(inputs, str) else "\n".join(
            str(entry.get("content", "")) for entry in inputs if isinstance(entry, dict))
        queries = [m.group(3) for m in _QUERY_LINE.finditer(text)] or [text.strip()]
        searching = any(isinstance(t, dict) and t.get("type") == "web_search" for t in body.get("tools") or [])
        now = "2025-05-27T12:59:33.171501Z"
        outputs, content, refs = [], [], 0
        for n, query in enumerate(queries, 1):
            if searching:
                outputs.append({"type": "tool.execution", "name": "web_search", "object": "entry", "created_at": now,
                                "completed_at": now, "id": f"tool_exec_{n:04d}",
                                "arguments": json.dumps({"query": query})})
            content.append({"type": "text", "text": f"Q{n}\n{FABRICATED} "})
            for url, title, description in ([] if empty or not searching else self._refs(query)):
                chunk = {"type": "tool_reference", "tool": "web_search", "title": title, "url": url, "source": "brave"}
                if description:
                    chunk["description"] = description
                content.append(chunk)
                refs += 1
            content.append({"type": "text", "text": "\n"})
        outputs.append({"type": "message.output", "content": content, "object": "entry", "created_at": now,
                        "completed_at": now, "id": "msg_fake", "agent_id": None, "model": self.model,
                        "role": "assistant"})
        prompt, completion, connector = len(text) // 4, 20 * len(queries), 300 * refs
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion + connector, "connector_tokens": connector,
                 "connectors": {"web_search": len(queries)} if searching else {}}
        return _json(200, {"conversation_id": "conv_fake", "outputs": outputs, "usage": usage,
                           "object": "conversation.response"})


# ---------------------------------------------------------------- plain pages

class FakeWeb(_Fake):
    """Plain pages: ``FakeWeb(pages={"/a.html": "<html>…", "/b.txt": "text"})``; route = the path."""

    name = "fake_web"

    def __init__(self, pages: dict[str, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pages = dict(pages or {})

    def url(self, path: str) -> str:
        return self.base + path

    def route_of(self, method, path):
        return path if method == "GET" else None

    def answer(self, route, request, empty):
        text = self.pages.get(request.path)
        if text is None:
            return 404, "text/html", b"<h1>Not found</h1>"
        kind = "text/html" if re.search(r"<[a-zA-Z][^>]*>", text) else "text/plain"
        return 200, f"{kind}; charset=utf-8", text.encode("utf-8")


# ---------------------------------------------------------------- standalone

def _load(path: str | None) -> Any:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_search", description=__doc__.split("\n")[0])
    parser.add_argument("--wiki", metavar="CORPUS.json", help='{"fr": {"Title": "html or text"}, "en": {...}}')
    parser.add_argument("--searx", metavar="RESULTS.json", help='{"query": [{"url", "title", "content"}]} or a list')
    parser.add_argument("--mistral", metavar="REFS.json", help='{"query": [["url", "title"], ...]}')
    parser.add_argument("--web", metavar="PAGES.json", help='{"/path": "html or text"}')
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every search answer")
    parser.add_argument("--page-latency", type=float, default=0.0, help="seconds added to every page")
    parser.add_argument("--api-key", help="the bearer key the Mistral fake expects")
    parser.add_argument("--model", default="fake-model", help="the model the Mistral fake accepts")
    parser.add_argument("--upstream", metavar="URL", help="relay the Mistral fake's other routes (chat completions, "
                                                          "models) there: a `python -m tests.fake_llm` at http://127.0.0.1:PORT")
    args = parser.parse_args(argv)
    fakes: list[tuple[_Fake, str]] = []
    if args.wiki:
        wiki = FakeWiki(_load(args.wiki), latency=args.latency)
        fakes.append((wiki, f"--research wikipedia --wikipedia-url '{wiki.url_template}'"))
    if args.searx:
        searx = FakeSearx(_load(args.searx), latency=args.latency)
        fakes.append((searx, f"--research searxng --searx-url {searx.base}"))
    if args.mistral:
        refs = {q: [tuple(r) for r in found] for q, found in _load(args.mistral).items()}
        mistral = FakeMistralConversations(refs, api_key=args.api_key, model=args.model, latency=args.latency,
                                           upstream=args.upstream)
        fakes.append((mistral, f"--research mistral --base-url {mistral.base_url} --model {args.model}"))
    if args.web:
        web = FakeWeb(_load(args.web), latency=args.page_latency)
        fakes.append((web, f"pages under {web.base}/ (add --fetch-private: they are on 127.0.0.1)"))
    if not fakes:
        parser.error("give at least one of --wiki, --searx, --mistral, --web")
    for fake, _ in fakes:
        fake.start()
    for fake, usage in fakes:
        print(f"{fake.name} listening on {fake.base}: {usage}", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for fake, _ in fakes:
            fake.close()


if __name__ == "__main__":
    main()
