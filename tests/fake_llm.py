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

Mistral's Files and Batch APIs, as documented (https://docs.mistral.ai/capabilities/batch/ and the
``files``/``batch`` operations of ``mistralai/platform-docs-public``'s OpenAPI file): ``POST /v1/files``
(multipart ``purpose``, ``file``), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``, ``POST
/v1/batch/jobs`` (``input_files``, ``endpoint``, ``model``, ``metadata``, ``timeout_hours``), ``GET
/v1/batch/jobs[/{id}]``, ``POST /v1/batch/jobs/{id}/cancel``. Each input line's ``body`` is answered
exactly as a synchronous chat request would be (queue, responder, 422s, 404s, usage), in the order
of the lines, when the job is created; the job shows QUEUED, then RUNNING, then its end status
``batch_latency`` seconds after creation. Output lines: ``{"id", "custom_id", "response":
{"status_code", "body"}, "error"}``; lines answered with a status other than 200 go to the error file.
Faults for jobs, consumed one per created job from ``fake.batch_faults`` (a list of dicts):
``{"fail_line": n}`` (line n answers 500), ``{"end": "TIMEOUT_EXCEEDED" | "CANCELLED" | "FAILED",
"done": k}`` (only the first k lines answered); ``fake.drop_downloads = n`` drops the next n file
downloads; ``POST .../cancel`` before the end keeps the first half of the lines.
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
    ``latency`` and ``tokens_per_second``: a chat reply comes ``latency`` + its completion tokens ÷
    ``tokens_per_second`` seconds after the request arrived (the fake's own work counted in), for
    benchmarks.
    """

    def __init__(self, *, api_key: str | None = None, models: tuple[str, ...] = ("fake-model",),
                 strict_params: bool = True, ignore_schema: bool = False,
                 responder: Callable[[dict], Any] | None = None, latency: float = 0.0,
                 tokens_per_second: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 batch_latency: float = 0.0):
        self.api_key = api_key
        self.models = list(models)
        self.strict_params = strict_params
        self.ignore_schema = ignore_schema
        self.responder = responder
        self.latency = latency
        self.tokens_per_second = tokens_per_second
        self.requests: list[Request] = []
        self._queue: deque = deque()
        self.batch_latency = batch_latency
        self.files: dict[str, dict] = {}
        self.batch_jobs: dict[str, dict] = {}
        self.batch_faults: list[dict] = []
        self.drop_downloads = 0
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

    # -- Files and Batch API ---------------------------------------------------------------

    def uploaded_lines(self, file_id: str) -> list[dict]:
        """The parsed JSONL lines of an uploaded file."""
        return [json.loads(line) for line in self.files[file_id]["data"].splitlines() if line.strip()]

    def count(self, method: str, prefix: str) -> int:
        """Requests of one route, e.g. ``count("POST", "/v1/files")``."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.path.startswith(prefix))

    def _add_file(self, name: str, data: bytes, purpose: str) -> dict:
        with self._lock:
            file_id = f"file-{len(self.files) + 1:04d}"
            self.files[file_id] = {"data": data, "meta": {
                "id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "sample_type": "batch_request" if purpose == "batch" else None,
                "num_lines": data.count(b"\n"), "source": "upload"}}
            return self.files[file_id]["meta"]

    def _create_job(self, spec: dict) -> tuple[int, dict]:
        files = spec.get("input_files")
        if not isinstance(files, list) or not files or spec.get("endpoint") != "/v1/chat/completions" \
                or not isinstance(spec.get("model"), str):
            return 422, {"detail": [{"type": "value_error", "loc": ["body", "endpoint"],
                                     "msg": "input_files, endpoint /v1/chat/completions and model are required"}]}
        if any(f not in self.files for f in files):
            return 404, {"object": "error", "message": "input file not found", "type": "not_found"}
        if spec["model"] not in self.models:
            return 404, {"object": "error", "message": f"Invalid model: {spec['model']}", "type": "invalid_model"}
        lines = [line for f in files for line in self.uploaded_lines(f)]
        fault = self.batch_faults.pop(0) if self.batch_faults else {}
        answered = []
        for index, line in enumerate(lines[:fault.get("done", len(lines))] if "end" in fault else lines):
            body = dict(line["body"], model=spec["model"])
            if fault.get("fail_line") == index:
                status, payload = 500, _error_body(500)
            else:
                status, payload = _answer(self, body)
            answered.append({"id": f"batch-line-{index}", "custom_id": line["custom_id"],
                             "response": {"status_code": status, "body": payload},
                             "error": None if status == 200 else payload.get("message", f"HTTP {status}")})
        with self._lock:
            job_id = f"job-{len(self.batch_jobs) + 1:04d}"
            self.batch_jobs[job_id] = {"spec": spec, "lines": lines, "answered": answered, "created": time.time(),
                                       "end": fault.get("end", "SUCCESS"), "cancelled": False, "files": {}}
        return 200, self._job_view(job_id)

    def _job_view(self, job_id: str) -> dict:
        job = self.batch_jobs[job_id]
        spec, age = job["spec"], time.time() - job["created"]
        done = age >= self.batch_latency or job["cancelled"]
        status = ("CANCELLED" if job["cancelled"] else job["end"]) if done else (
            "QUEUED" if age < self.batch_latency / 3 else "RUNNING")
        shown = job["answered"] if done else job["answered"][:int(len(job["answered"]) * age / max(self.batch_latency, 1e-9))]
        if done and not job["files"]:
            ok = [a for a in job["answered"] if a["response"]["status_code"] == 200]
            bad = [a for a in job["answered"] if a["response"]["status_code"] != 200]
            for key, part in (("output_file", ok), ("error_file", bad)):
                if part and status != "FAILED":
                    data = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in part).encode("utf-8")
                    job["files"][key] = self._add_file(f"{job_id}-{key}.jsonl", data, "batch_result")["id"]
        succeeded = sum(1 for a in shown if a["response"]["status_code"] == 200)
        return {"id": job_id, "object": "batch", "input_files": spec["input_files"], "metadata": spec.get("metadata"),
                "endpoint": spec["endpoint"], "model": spec["model"], "output_file": job["files"].get("output_file"),
                "error_file": job["files"].get("error_file"),
                "errors": [{"message": "fake_llm: injected job failure", "count": 1}] if status == "FAILED" else [],
                "status": status, "created_at": int(job["created"]), "total_requests": len(job["lines"]),
                "completed_requests": len(shown), "succeeded_requests": succeeded,
                "failed_requests": len(shown) - succeeded, "started_at": int(job["created"]),
                "completed_at": int(job["created"] + self.batch_latency) if done else None}

    def _cancel_job(self, job_id: str) -> dict:
        job = self.batch_jobs[job_id]
        if time.time() - job["created"] < self.batch_latency and not job["cancelled"]:
            job["cancelled"] = True
            job["answered"] = job["answered"][:len(job["answered"]) // 2]
        return self._job_view(job_id)


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
        path = self.path.split("?")[0].rstrip("/")
        parts = path.split("/")
        if path.startswith("/v1/files/") and len(parts) in (4, 5) and parts[3] in self.fake.files:
            entry = self.fake.files[parts[3]]
            if len(parts) == 4:
                return self._json(200, entry["meta"])
            if parts[4] == "content":
                if self.fake.drop_downloads > 0:
                    self.fake.drop_downloads -= 1
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                return self._bytes(200, entry["data"])
        if path == "/v1/batch/jobs":
            return self._json(200, {"object": "list", "data": [self.fake._job_view(j) for j in self.fake.batch_jobs],
                                    "total": len(self.fake.batch_jobs)})
        if path.startswith("/v1/batch/jobs/") and len(parts) == 5 and parts[4] in self.fake.batch_jobs:
            return self._json(200, self.fake._job_view(parts[4]))
        if path != "/v1/models":
            return self._json(404, {"object": "error", "message": f"no route {self.path}", "type": "not_found"})
        data = [{"id": m, "object": "model", "owned_by": "fake_llm"} for m in self.fake.models]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        arrived = time.monotonic()
        path = self.path.rstrip("/")
        if path == "/v1/files":
            return self._upload(raw)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        self._request = Request("POST", self.path, _headers(self.headers), body, received=arrived)
        self.fake._record(self._request)
        if not self._authorized():
            return
        if path == "/v1/batch/jobs":
            return self._json(*self.fake._create_job(body if isinstance(body, dict) else {}))
        parts = path.split("/")
        if path.endswith("/cancel") and len(parts) == 6 and parts[4] in self.fake.batch_jobs:
            return self._json(200, self.fake._cancel_job(parts[4]))
        if path != "/v1/chat/completions":
            return self._json(404, {"object": "error", "message": f"no route {self.path}", "type": "not_found"})
        if not isinstance(body, dict):
            return self._json(400, {"object": "error", "message": "body is not a JSON object", "type": "invalid"})
        if (refused := _refused(self.fake, body)) is not None:
            return self._json(*refused)
        self._serve(self.fake._next_reply(body), body)

    def _upload(self, raw: bytes) -> None:
        """multipart/form-data with ``purpose`` and ``file``, read with the stdlib's MIME parser."""
        import email.parser
        import email.policy

        self._request = Request("POST", self.path, _headers(self.headers), None)
        self.fake._record(self._request)
        if not self._authorized():
            return
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()} \
            if message.is_multipart() else {}
        if "file" not in fields or "purpose" not in fields:
            return self._json(422, {"detail": [{"type": "missing", "loc": ["body", "file"],
                                                "msg": "Field required"}]})
        purpose = fields["purpose"].get_payload(decode=True).decode()
        name = fields["file"].get_filename() or "upload.jsonl"
        self._json(200, self.fake._add_file(name, fields["file"].get_payload(decode=True), purpose))

    def _authorized(self) -> bool:
        key = self.fake.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, {"message": "Unauthorized", "request_id": "fake"})
        return False

    def _serve(self, reply: Any, body: dict) -> None:
        status, payload, headers, delay = _completion(self.fake, reply, body)
        if status is None:      # a dropped connection
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        # The delay runs from the request's arrival: the fake's own work (parsing, the reply, the
        # record) is part of it, as a real server's is of its latency, rather than added to it.
        self.fake.sleep(delay - (time.monotonic() - self._request.received))
        self._json(status, payload, headers)

    def _bytes(self, status: int, data: bytes) -> None:
        self._json(status, data, content_type="application/octet-stream")

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self._request.replied, self._request.status = time.monotonic(), status
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test): nothing to tell it


def _refused(fake: FakeLLM, body: dict) -> tuple[int, dict] | None:
    """What a chat request is refused with before any reply: Mistral's 422s, an unknown model's 404."""
    if fake.strict_params and (problems := _rejected_params(body)):
        return 422, {"detail": problems}
    if body.get("model") not in fake.models:
        return 404, {"object": "error", "message": f"Invalid model: {body.get('model')}",
                     "type": "invalid_model", "param": None, "code": "1500"}
    return None


def _completion(fake: FakeLLM, reply: Any, body: dict) -> tuple[int | None, Any, dict, float]:
    """Status, body, headers and delay of the answer to ``body`` with ``reply``; status None: drop."""
    finish, delay = "stop", 0.0
    if isinstance(reply, Fault):
        if reply.kind == "status":
            return reply.status, (reply.body if reply.body is not None else _error_body(reply.status)), \
                reply.headers, 0.0
        if reply.kind == "drop":
            return None, None, {}, 0.0
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
    if fake.tokens_per_second:
        delay += completion_tokens / fake.tokens_per_second
    return 200, {
        "id": "fake-chat", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }, {}, delay + fake.latency


def _answer(fake: FakeLLM, body: dict) -> tuple[int, dict]:
    """A batch line's answer: what the synchronous endpoint would answer (a drop counts as a 500)."""
    refused = _refused(fake, body)
    if refused is not None:
        return refused
    status, payload, _, _ = _completion(fake, fake._next_reply(body), body)
    if status is None:
        return 500, _error_body(500)
    return status, payload


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
    parser.add_argument("--latency", type=float, default=0.0, help="seconds from each request's arrival to its reply")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="simulated output speed")
    parser.add_argument("--auto", action="store_true", help="answer with auto_reply when the script runs out")
    parser.add_argument("--api-key", help="expect this bearer key (401 otherwise)")
    parser.add_argument("--model", action="append", help="model to list and accept (repeatable)")
    parser.add_argument("--batch-latency", type=float, default=0.0, help="seconds a batch job takes to finish")
    args = parser.parse_args(argv)
    fake = FakeLLM(api_key=args.api_key, models=tuple(args.model or ["fake-model"]), latency=args.latency,
                   tokens_per_second=args.tokens_per_second, responder=auto_reply if args.auto else None,
                   port=args.port, batch_latency=args.batch_latency)
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
