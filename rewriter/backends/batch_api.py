"""Mistral's Batch API: requests uploaded as one JSONL file, run on Mistral's side, collected as files.

The wire, as documented by Mistral (https://docs.mistral.ai/capabilities/batch/ and the
``files`` / ``batch`` operations of the OpenAPI file in ``mistralai/platform-docs-public``):

* ``POST /v1/files``, multipart fields ``purpose=batch`` and ``file``: a file object ``{"id", "object":
  "file", "bytes", "filename", "purpose", "num_lines", ...}``; ``GET /v1/files/{id}/content``: its bytes.
* ``POST /v1/batch/jobs`` ``{"input_files": [id], "endpoint": "/v1/chat/completions", "model",
  "metadata": {str: str}, "timeout_hours"}``; ``GET /v1/batch/jobs/{id}``; ``POST
  /v1/batch/jobs/{id}/cancel``: a job ``{"id", "status", "output_file", "error_file", "errors",
  "total_requests", "completed_requests", "succeeded_requests", "failed_requests", "created_at",
  "started_at", "completed_at", "metadata"}``; status one of QUEUED, RUNNING, SUCCESS, FAILED,
  TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED, CANCELLED.
* Input lines ``{"custom_id", "body"}``; output and error lines ``{"id", "custom_id", "response":
  {"status_code", "body"}, "error"}``.

:class:`BatchBackend` is a :class:`~rewriter.backends.base.ChatBackend` whose ``complete`` does not
send: it files the request and blocks until a job's results hold it (``rewriter.batchjobs`` drives
the jobs). :class:`JobsClient` is the HTTP side, with the transport retries of every backend.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from .. import console
from ..errors import LLMError
from ..settings import Settings
from ..turns import waiting
from .base import Call, ChatRequest, ChatResponse, TransportError, completion_of, redact_url, retry_after, retry_wait

ENDPOINT = "/v1/chat/completions"
FINISHED = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")


@dataclass(frozen=True)
class Result:
    """One line of a job's output or error file."""

    custom_id: str
    status_code: int | None
    body: Any
    error: str | None
    job: str

    @classmethod
    def from_line(cls, line: dict, job: str) -> Result | None:
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str):
            return None
        response = line.get("response") if isinstance(line.get("response"), dict) else {}
        status = response.get("status_code")
        error = line.get("error")
        if error is not None and not isinstance(error, str):
            error = json.dumps(error, ensure_ascii=False)[:300]
        return cls(custom_id, status if isinstance(status, int) else None, response.get("body"), error, job)

    def to_line(self) -> dict:
        return {"custom_id": self.custom_id, "response": {"status_code": self.status_code, "body": self.body},
                "error": self.error, "job": self.job}


class Unanswered(LLMError):
    """A request its job ended without answering (failed, expired, cancelled): the article records it."""


class BatchBackend:
    """Requests wait here for a job; ``rewriter.batchjobs`` submits them and hands back the results."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = settings.model
        self.base_url = redact_url(settings.base_url)
        self._lock = threading.Lock()
        # The driver waits on ``_idle`` (work done or requests filed); the threads waiting for one
        # request wait on that request's own condition, so a delivery or a task starting wakes only
        # those it concerns (one condition for all woke a thousand threads at every change).
        self._idle = threading.Condition(self._lock)
        self._answer: dict[str, threading.Condition] = {}
        self._results: dict[str, Result] = {}
        self._missing: dict[str, str] = {}       # custom_id -> why its job gave no answer
        self.pending: dict[str, dict] = {}       # custom_id -> body, waiting for a job
        self._closed: str | None = None
        # Work in progress (article and chunk tasks queued or running); a task waiting here or on its
        # chunks is not counted. Zero with requests pending: every article waits, the wave is whole.
        self._running = 0
        # Threads waiting per request, and how many of them a delivery already counted as running
        # again (so the driver never sees an idle moment while woken threads have yet to run).
        self._waiters: dict[str, int] = {}
        self._credited: dict[str, int] = {}

    # -- the driver's side --------------------------------------------------------------

    def deliver(self, results: list[Result], missing: dict[str, str] | None = None) -> None:
        with self._lock:
            for result in results:
                self._results[result.custom_id] = result
                self._wake(result.custom_id)
            for custom_id, why in (missing or {}).items():
                if custom_id not in self._results:
                    self._missing[custom_id] = why
                    self._wake(custom_id)
            self._idle.notify_all()

    def _wake(self, custom_id: str) -> None:
        self.pending.pop(custom_id, None)
        woken = self._waiters.get(custom_id, 0) - self._credited.get(custom_id, 0)
        if woken > 0:
            self._running += woken
            self._credited[custom_id] = self._credited.get(custom_id, 0) + woken
        answer = self._answer.get(custom_id)
        if answer is not None:
            answer.notify_all()

    def known(self, custom_id: str) -> bool:
        with self._lock:
            return custom_id in self._results

    def stop(self, why: str) -> None:
        """Every waiting request fails with ``why`` (interrupt, or a job that cannot be had)."""
        with self._lock:
            self._closed = why
            for custom_id in list(self._waiters):
                self._wake(custom_id)
            self._idle.notify_all()

    def add_running(self, n: int) -> None:
        with self._lock:
            self._running += n
            if self._running <= 0:
                self._idle.notify_all()

    def wave_ready(self, timeout: float) -> dict[str, dict]:
        """The requests waiting, once no work is left but waiting (else {} after at most ``timeout``)."""
        with self._lock:
            if self._running > 0 or not self.pending:
                self._idle.wait(timeout)
            return dict(self.pending) if self._running == 0 and self.pending else {}

    # -- the stages' side ----------------------------------------------------------------

    def complete(self, request: ChatRequest) -> ChatResponse:
        # Waiting for the job: the article's turn goes to another one meanwhile (taken back only
        # once the lock below is released, so the two are never waited on in opposite orders).
        with waiting():
            result, why = self._answered(request)
        if result is None:
            raise Unanswered(f"{request.task}: no reply from the Batch API: {why}",
                             calls=[self._call(request, {}, why)])
        return self._response(request, result)

    def _answered(self, request: ChatRequest) -> tuple[Result | None, str | None]:
        with self._lock:
            if request.id not in self._results and request.id not in self._missing:
                self.pending[request.id] = request.body
                self._waiters[request.id] = self._waiters.get(request.id, 0) + 1
                self._running -= 1
                if self._running <= 0:
                    self._idle.notify_all()
                answer = self._answer.setdefault(request.id, threading.Condition(self._lock))
                try:
                    while (request.id not in self._results and request.id not in self._missing
                           and self._closed is None):
                        answer.wait()
                finally:
                    self._waiters[request.id] -= 1
                    if not self._waiters[request.id]:
                        del self._waiters[request.id]
                        self._answer.pop(request.id, None)
                    if self._credited.get(request.id, 0) > 0:
                        self._credited[request.id] -= 1
                    else:
                        self._running += 1
            return self._results.get(request.id), self._missing.get(request.id) or self._closed

    def _response(self, request: ChatRequest, result: Result) -> ChatResponse:
        if result.status_code != 200 or not isinstance(result.body, dict):
            why = result.error or _error_text(result.body) or f"HTTP {result.status_code}"
            message = f"{request.task}: the Batch API job {result.job} answered HTTP {result.status_code}: {why}"
            raise TransportError(message, status=result.status_code,
                                 calls=[self._call(request, {}, f"HTTP {result.status_code}: {why}")])
        text, finish, usage, references = completion_of(result.body)
        return ChatResponse(text=text, finish_reason=finish, usage=usage, references=references,
                            calls=[self._call(request, usage, None)])

    def _call(self, request: ChatRequest, usage: dict, error: str | None) -> Call:
        return Call(task=request.task, model=self.model, base_url=self.base_url, duration_s=0.0,
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                    schema_hash=request.schema_hash, cached=False, attempt=request.attempt, error=error)

    def list_models(self) -> list[str]:
        from .openai_compat import OpenAICompatible
        backend = OpenAICompatible(self.settings)
        try:
            return backend.list_models()
        finally:
            backend.close()

    def close(self) -> None:
        self.stop("the batch ended")


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return "; ".join(str(d.get("msg")) for d in detail if isinstance(d, dict))
        return str(body.get("message") or (body.get("error") or {}).get("message", "") if isinstance(
            body.get("error"), dict) else body.get("message") or "")
    return ""


class _Transient(Exception):
    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


class JobsClient:
    """Files and batch jobs on the configured base URL (``.../v1``), with transport retries."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        # No redirects: the key must not follow one anywhere.
        self._http = httpx.Client(headers=headers, timeout=max(settings.timeout, 60.0), follow_redirects=False)
        self.calls = 0       # HTTP requests made, retries included

    def close(self) -> None:
        self._http.close()

    def upload(self, name: str, data: bytes) -> dict:
        return self._json("POST", "/files", files={"file": (name, data, "application/jsonl")},
                          data={"purpose": "batch"})

    def create_job(self, file_id: str, metadata: dict[str, str], timeout_hours: int) -> dict:
        return self._json("POST", "/batch/jobs", json={"input_files": [file_id], "endpoint": ENDPOINT,
                                                       "model": self.settings.model, "metadata": metadata,
                                                       "timeout_hours": timeout_hours})

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/batch/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/batch/jobs/{job_id}/cancel")

    def download(self, file_id: str) -> bytes:
        return self._send("GET", f"/files/{file_id}/content").content

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self._send(method, path, **kwargs)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise TransportError(f"{method} {redact_url(self.url)}{path} answered with a body that is not a JSON "
                                 "object; is the base URL Mistral's (https://api.mistral.ai/v1)?",
                                 status=response.status_code, fatal=True)
        return payload

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        s, what = self.settings, f"{method} {path}"

        def once() -> httpx.Response:
            self.calls += 1
            try:
                response = self._http.request(method, self.url + path, **kwargs)
                if response.status_code in (408, 429) or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code}", retry_after(response.headers))
                response.read()
            except httpx.TransportError as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from None
            return response

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return retry_wait(state.attempt_number, getattr(exc, "wait", None), s.max_retry_wait)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient), reraise=True, wait=wait,
            stop=tenacity.stop_after_attempt(s.max_retries + 1) | tenacity.stop_before_delay(s.max_retry_total),
            before_sleep=lambda state: console.status(
                f"Batch API {what}: {state.outcome.exception()}; retrying in {state.next_action.sleep:.1f} s",
                style="dim"))
        url = redact_url(self.url)
        try:
            response = retrying(once)
        except _Transient as exc:
            raise TransportError(f"Batch API {what} on {url} failed: {exc}; the job state is saved, run the "
                                 "same command again to resume", fatal=True) from None
        if response.status_code in (401, 403):
            raise TransportError(f"API key rejected by {url} (HTTP {response.status_code}); check "
                                 f"${s.api_key_env}", status=response.status_code, fatal=True)
        if response.status_code == 404:
            raise TransportError(f"Batch API {what} not found on {url} (HTTP 404): {_body_text(response)}; "
                                 "the Batch API needs Mistral's API (https://api.mistral.ai/v1)",
                                 status=404, fatal=True)
        if response.status_code >= 400:
            raise TransportError(f"Batch API {what} refused by {url} (HTTP {response.status_code}): "
                                 f"{_body_text(response)}", status=response.status_code, fatal=True)
        return response


def _body_text(response: httpx.Response) -> str:
    try:
        return _error_text(response.json()) or response.text[:300]
    except ValueError:
        return response.text[:300]


def read_lines(data: bytes, job: str) -> list[Result]:
    """The results of an output or error file; lines that are not results are skipped."""
    results = []
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        result = Result.from_line(line, job) if isinstance(line, dict) else None
        if result is not None:
            results.append(result)
    return results

