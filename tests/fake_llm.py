"""A fake OpenAI-compatible chat server: a real HTTP server on loopback, for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` and ``GET /v1/models``, records every
request, and serves queued replies, so a test can assert on what was sent as
well as on what came out. It behaves like Mistral where that matters: it
rejects parameters Mistral rejects (422), unknown models (404) and wrong keys
(401), and can answer with content chunks or a truncated reply.

In tests::

    from tests.fake_llm import FakeLLM, Fault, fake_llm   # fake_llm is a pytest fixture

Each recorded :class:`Request` carries ``received`` and ``replied`` (``time.monotonic()``) and the
``status`` answered, so a test can tell which requests were sent, or answered, before or during
some moment. The module
needs no pytest unless the fixture is used: ``python -m tests.fake_llm`` and ``bench/`` work
after a plain ``pip install -e .``.

    with FakeLLM(api_key="sk-test") as fake:
        fake.enqueue({"claims": []}, Fault.rate_limited(retry_after=0.2), "not json")
        asker = build_asker(fake.settings(cache_dir=tmp_path))
        ...
        assert fake.chat_requests[0]["response_format"]["json_schema"]["strict"] is True

A queued reply is a JSON-able object (served as the assistant's content,
``json.dumps``-ed), a string (served as raw content), or a :class:`Fault`.
When the queue is empty the ``responder(request_body)`` callable answers if
given, else the server returns HTTP 500 "fake_llm: reply queue empty", so an
unexpected request fails loudly.

Standalone::

    python -m tests.fake_llm --port 8765 --script replies.json [--latency 0.2]
        [--tokens-per-second 50] [--auto] [--api-key KEY] [--model NAME ...]

``--auto`` answers any request the script does not cover with :func:`auto_reply`.
The script is a JSON list, served in order, one item per chat request::

    [
      {"claims": []},                                        JSON content
      "this is not JSON",                                     raw string content
      {"fault": "status", "status": 429, "headers": {"Retry-After": "1"}},
      {"fault": "status", "status": 503, "body": {"message": "overloaded"}},
      {"fault": "drop"},                                      close the socket, no response
      {"fault": "delay", "delay": 2.5, "body": {"claims": []}},
      {"fault": "truncate", "body": "{\\"claims\\": ["},         finish_reason "length"
      {"fault": "chunks", "body": {"claims": []}},             Mistral content chunks
      {"fault": "raw", "body": "```json\\n{}\\n```"}
    ]

An object with a ``"fault"`` key is a fault (fields as in :class:`Fault`);
anything else is a reply.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from rewriter.resources import load_schema

try:
    import pytest
except ImportError:  # standalone and bench use (`pip install -e .`): only the fixture needs pytest
    pytest = None

# Parameters Mistral answers with HTTP 422 "Extra inputs are not permitted".
FORBIDDEN_PARAMS = ("seed", "max_completion_tokens", "stream_options", "user", "store")
FINDING_ID = re.compile(r"\b[a-z]{2}-[0-9a-f]{10}\b")
AUTO_TEXT = "fake_llm auto reply: needs a human"


@dataclass
class Fault:
    """Something other than a plain reply.

    kind: ``status`` (answer ``status`` with ``headers`` and ``body``), ``drop``
    (close the connection without a response), ``delay`` (serve ``body`` as the
    reply after ``delay`` seconds), ``truncate`` (serve ``body`` cut in half with
    finish_reason "length"), ``chunks`` (serve ``body`` as Mistral content
    chunks), ``raw`` (serve the string ``body`` as content, unchanged).
    """

    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0

    @classmethod
    def http(cls, status: int, body: Any = None, headers: dict[str, str] | None = None) -> "Fault":
        return cls("status", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, retry_after_ms: int | None = None) -> "Fault":
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return cls.http(429, headers=headers)

    @classmethod
    def drop(cls) -> "Fault":
        return cls("drop")

    @classmethod
    def slow(cls, seconds: float, reply: Any) -> "Fault":
        return cls("delay", body=reply, delay=seconds)

    @classmethod
    def truncated(cls, reply: Any = '{"claims": [{"sentence": 1, "quote": "abc') -> "Fault":
        return cls("truncate", body=reply)

    @classmethod
    def chunks(cls, reply: Any) -> "Fault":
        return cls("chunks", body=reply)

    @classmethod
    def raw(cls, text: str) -> "Fault":
        return cls("raw", body=text)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None
    received: float = field(default_factory=time.monotonic)  # when the whole request had arrived
    replied: float | None = None  # when the response was written; None if none was (drop, client gone)
    status: int | None = None     # the HTTP status answered


def auto_reply(body: dict) -> dict:
    """A minimal instance of the request's json_schema, built from the schema and the finding ids.

    The schema is the project's full ``schemas/<name>.json`` when the name is
    one of them (the wire copy lacks ``minLength``), else the one sent. An array whose items need a ``finding_id`` gets one item per finding id
    seen in the user messages (ids like ``pl-0123456789``: two letters, a dash, 10 hex
    digits); other arrays stay empty. Enums prefer "needs_human", strings are
    empty unless they must not be, numbers sit at their minimum. So the
    corrections task gets one "needs_human" proposal per finding and the
    claims task an empty list.
    """
    sent = body["response_format"]["json_schema"]
    try:
        schema = load_schema(sent["name"])
    except (OSError, ValueError):
        schema = sent["schema"]
    text = "\n".join(_text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user")
    ids = list(dict.fromkeys(FINDING_ID.findall(text)))

    def minimal(node: dict) -> Any:
        if "enum" in node:
            return "needs_human" if "needs_human" in node["enum"] else node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            return {name: minimal(node["properties"][name]) for name in node.get("required", [])}
        if kind == "array":
            items = node.get("items") or {}
            if "finding_id" in items.get("required", []):
                return [{**minimal(items), "finding_id": fid} for fid in ids]
            return []
        if kind == "string":
            return AUTO_TEXT if node.get("minLength") else ""
        if kind in ("integer", "number"):
            return node.get("minimum", 0)
        if kind == "boolean":
            return False
        return None

    return minimal(schema)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return content if isinstance(content, str) else ""


class FakeLLM:
    """The server, run in a thread; use as a context manager.

    ``api_key``: when set, requests whose ``Authorization`` is not ``Bearer <key>`` get 401.
    ``models``: served by GET /models; a chat request for another model gets 404.
    ``strict_params``: 422 for parameters Mistral rejects and temperatures outside 0-1.
    ``ignore_schema``: answer every chat request with JSON that matches no project schema.
    ``responder``: answers when the queue is empty (e.g. :func:`auto_reply`).
    ``latency`` and ``tokens_per_second``: extra delay on every reply, for benchmarks.
    """

    def __init__(self, *, api_key: str | None = None, models: tuple[str, ...] = ("fake-model",),
                 strict_params: bool = True, ignore_schema: bool = False,
                 responder: Callable[[dict], Any] | None = None, latency: float = 0.0,
                 tokens_per_second: float = 0.0, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.models = list(models)
        self.strict_params = strict_params
        self.ignore_schema = ignore_schema
        self.responder = responder
        self.latency = latency
        self.tokens_per_second = tokens_per_second
        self.requests: list[Request] = []
        self._queue: deque = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = LoopbackServer((host, port), _Handler)
        self._server.fake = self
        # A short poll interval makes close() quick: shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake_llm", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_records(self) -> list[Request]:
        """The chat completion requests, in order, with their times."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    @property
    def chat_requests(self) -> list[dict]:
        """Bodies of the chat completion requests, in order."""
        return [r.body for r in self.chat_records]

    def enqueue(self, *replies: Any) -> "FakeLLM":
        with self._lock:
            self._queue.extend(replies)
        return self

    def settings(self, **overrides):
        """Settings pointing at this server, with fast transport retries; ``overrides`` win."""
        from rewriter.settings import Settings

        values = {"api_key": self.api_key, "max_retry_wait": 0.05, "timeout": 5.0, **overrides}
        return dataclasses.replace(Settings.from_env(base_url=self.base_url, model=self.models[0]), **values)

    def start(self) -> "FakeLLM":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeLLM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server closes."""
        if seconds > 0:
            self._closing.wait(seconds)

    def _next_reply(self, body: dict) -> Any:
        if self.ignore_schema:
            return {"note": "fake_llm ignores response_format", "schema_honoured": False}
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Fault.http(500, {"object": "error", "message": "fake_llm: reply queue empty", "type": "fake_llm"})

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


class LoopbackServer(ThreadingHTTPServer):
    """A threaded server that keeps up with a benchmark: a listen backlog of 128 rather than
    socketserver's 5, which refused connections at ``-j 64``; threads that never hold up exit."""

    request_queue_size = 128
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake_llm/1"
    # Keep-alive, as real servers do: clients reuse connections, and benchmarks measure that.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle's algorithm on, the body waited for the
    # client's delayed ACK, about 40 ms a request on loopback.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeLLM:
        return self.server.fake

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._request = Request("GET", self.path, _headers(self.headers), None)
        self.fake._record(self._request)
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"object": "error", "message": f"no route {self.path}", "type": "not_found"})
        data = [{"id": m, "object": "model", "owned_by": "fake_llm"} for m in self.fake.models]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        self._request = Request("POST", self.path, _headers(self.headers), body)
        self.fake._record(self._request)
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"object": "error", "message": f"no route {self.path}", "type": "not_found"})
        if not isinstance(body, dict):
            return self._json(400, {"object": "error", "message": "body is not a JSON object", "type": "invalid"})
        if self.fake.strict_params and (problems := _rejected_params(body)):
            return self._json(422, {"detail": problems})
        if body.get("model") not in self.fake.models:
            return self._json(404, {"object": "error", "message": f"Invalid model: {body.get('model')}",
                                    "type": "invalid_model", "param": None, "code": "1500"})
        self._serve(self.fake._next_reply(body), body)

    def _authorized(self) -> bool:
        key = self.fake.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, {"message": "Unauthorized", "request_id": "fake"})
        return False

    def _serve(self, reply: Any, body: dict) -> None:
        finish, delay = "stop", 0.0
        if isinstance(reply, Fault):
            if reply.kind == "status":
                return self._json(reply.status, reply.body if reply.body is not None else _error_body(reply.status),
                                  reply.headers)
            if reply.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            delay = reply.delay
            content = reply.body if isinstance(reply.body, str) else json.dumps(reply.body, ensure_ascii=False)
            if reply.kind == "truncate":
                content, finish = content[: max(1, len(content) // 2)], "length"
            elif reply.kind == "chunks":
                half = len(content) // 2
                content = [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me check the schema."}]},
                           {"type": "text", "text": content[:half]},
                           {"type": "reference", "reference_ids": [1]},
                           {"type": "text", "text": content[half:]}]
        else:
            content = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        prompt_tokens = sum(len(_text(m.get("content"))) for m in body.get("messages", [])) // 4
        completion_tokens = len(_text(content) if isinstance(content, list) else content) // 4
        if self.fake.tokens_per_second:
            delay += completion_tokens / self.fake.tokens_per_second
        self.fake.sleep(delay + self.fake.latency)
        self._json(200, {
            "id": "fake-chat", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self._request.replied, self._request.status = time.monotonic(), status
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test): nothing to tell it


def _headers(message) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


def _rejected_params(body: dict) -> list[dict]:
    """Mistral-style 422 details for what Mistral would refuse."""
    problems = [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted",
                 "input": body[name]} for name in FORBIDDEN_PARAMS if name in body]
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not 0 <= temperature <= 1:
        problems.append({"type": "less_than_equal" if temperature > 1 else "greater_than_equal",
                         "loc": ["body", "temperature"], "input": temperature,
                         "msg": "Input should be between 0 and 1"})
    return problems


def _error_body(status: int) -> dict:
    if status == 429:
        return {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited"}
    return {"object": "error", "message": f"fake_llm: injected HTTP {status}", "type": "fake_llm"}


if pytest is not None:
    @pytest.fixture
    def fake_llm():
        """A running FakeLLM with no key check; enqueue replies, then point settings at ``fake_llm.settings()``."""
        with FakeLLM() as fake:
            yield fake


def load_script(path: str) -> list[Any]:
    """Replies and faults from a script file (format in the module docstring)."""
    with open(path, encoding="utf-8") as handle:
        items = json.load(handle)
    if not isinstance(items, list):
        raise SystemExit(f"{path}: the script must be a JSON list of replies and faults")
    fields = {f.name for f in dataclasses.fields(Fault)} - {"kind"}
    return [Fault(item["fault"], **{k: v for k, v in item.items() if k in fields})
            if isinstance(item, dict) and "fault" in item else item for item in items]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_llm", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON list of replies and faults, served in order")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="simulated output speed")
    parser.add_argument("--auto", action="store_true", help="answer with auto_reply when the script runs out")
    parser.add_argument("--api-key", help="expect this bearer key (401 otherwise)")
    parser.add_argument("--model", action="append", help="model to list and accept (repeatable)")
    args = parser.parse_args(argv)
    fake = FakeLLM(api_key=args.api_key, models=tuple(args.model or ["fake-model"]), latency=args.latency,
                   tokens_per_second=args.tokens_per_second, responder=auto_reply if args.auto else None,
                   port=args.port)
    if args.script:
        fake.enqueue(*load_script(args.script))
    with fake:
        print(f"fake_llm listening on {fake.base_url}", file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
