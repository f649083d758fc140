"""The OpenAI-compatible backend: Mistral, vLLM, Ollama, llama.cpp, LM Studio, through the ``openai`` SDK.

One chat completion per :meth:`OpenAICompatible.complete`, with the one transport retry layer
(tenacity): 429, 5xx, timeouts and dropped connections, with exponential backoff and jitter that
honours Retry-After (``retry-after-ms`` too); the SDK's own retries are off. Failures become one
line a person can act on, without the key.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable

import openai
import tenacity

from .. import console
from ..errors import Interrupted
from ..settings import Settings
from ..turns import waiting
from .base import (Call, ChatRequest, ChatResponse, Limiter, TransportError, completion_of, redact_url, retry_after,
                   retry_wait)

# Sent as the bearer token when no key is configured: local servers need none, and the
# SDK must not fall back to $OPENAI_API_KEY.
NO_KEY = "not-needed"


class OpenAICompatible:
    """A :class:`~rewriter.backends.base.ChatBackend` over ``POST {base_url}/chat/completions``."""

    def __init__(self, settings: Settings, *, limiter: Limiter | None = None):
        self.settings = settings
        self.limiter = limiter
        self.model = settings.model
        self.base_url = redact_url(settings.base_url)
        # The SDK's HTTP client loads the system's CA certificates when it is made, 50-70 ms that
        # hold no lock: made on a thread of its own, it is ready by the time the first article's
        # detection has run, instead of delaying it.
        self._client = _Ready(lambda: _sdk_client(settings))

    @property
    def _sdk(self) -> openai.OpenAI:
        return self._client.get()

    def close(self) -> None:
        self._sdk.close()

    def complete(self, request: ChatRequest) -> ChatResponse:
        """POST one chat completion (with transport retries), recording a Call per HTTP request."""
        s = self.settings
        estimate = _token_estimate(request.body)
        calls: list[Call] = []
        # A refused connection keeps its slot through its one quick retry (and the limiter is closed
        # if that fails too): another article's request would otherwise take the slot meanwhile, only
        # to meet the same refusal.
        kept, refused = False, 0

        def send() -> dict:
            nonlocal kept, refused
            if self.limiter is not None and not kept:
                self.limiter.acquire(estimate)
            elif kept and self.limiter.closed:      # interrupted during the retry's wait: it is not sent
                kept = False
                self.limiter.release()
                raise Interrupted("no new request: the batch is stopping")
            kept = False
            start = time.monotonic()

            def record(error: str | None, usage: dict) -> None:
                calls.append(Call(task=request.task, model=s.model, base_url=self.base_url,
                                  duration_s=round(time.monotonic() - start, 3),
                                  prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                  completion_tokens=int(usage.get("completion_tokens") or 0),
                                  schema_hash=request.schema_hash, cached=False, attempt=request.attempt,
                                  error=error))

            try:
                # The body goes as it is (the SDK's own checks and conversions of a typed request
                # cost a millisecond and more a request, and the request is already ours, exact);
                # the reply comes back as text, parsed once, here.
                text = self._sdk.post("/chat/completions", body=request.body, cast_to=str)
            except openai.APIError as exc:
                record(_short_error(exc), {})
                gone = unreachable(exc)
                refused += gone
                if self.limiter is not None and (getattr(exc, "status_code", None) in FATAL_STATUSES
                                                 or refused > 1):
                    # Every other request would get the same answer: none goes out, not even one
                    # that is already waiting for this request's slot.
                    self.limiter.close()
                kept = gone and refused == 1 and self.limiter is not None
                raise
            finally:
                if self.limiter is not None and not kept:
                    self.limiter.release()
            payload = _json_object(text)
            if payload is None:
                record("body is not JSON", {})
                raise TransportError(f"{self.base_url} answered the chat completion with a body that is not "
                                     "JSON; is the base URL right?")
            usage = payload.get("usage") or {}
            record(None, usage)
            if self.limiter is not None and usage:
                spent = usage.get("total_tokens") or (usage.get("prompt_tokens") or 0) + (
                    usage.get("completion_tokens") or 0)
                self.limiter.record(int(spent))
            return payload

        try:
            with waiting():     # the request, its retries and the rate limit: a batch worker's turn goes meanwhile
                payload = self._with_retries(send, what="POST /chat/completions")
        except TransportError as exc:
            exc.calls = calls
            raise
        finally:
            if kept:            # no retry came (--max-retries 0, or out of time)
                self.limiter.release()
        text, finish, usage, references = completion_of(payload)
        return ChatResponse(text=text, finish_reason=finish, usage=usage, references=references, calls=calls)

    def list_models(self) -> list[str]:
        """Ids the server lists under GET /models."""

        def send() -> list[str]:
            payload = _json_object(self._sdk.get("/models", cast_to=str)) or {}
            return [m["id"] for m in payload.get("data") or [] if isinstance(m, dict) and "id" in m]

        return self._with_retries(send, what="GET /models")

    def _with_retries(self, send: Callable[[], Any], *, what: str) -> Any:
        """Run ``send`` (one HTTP request), again on transient failures; map the final failure to a TransportError."""
        s = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_transient),
            stop=(tenacity.stop_after_attempt(s.max_retries + 1)
                  | tenacity.stop_before_delay(s.max_retry_total)
                  | _unreachable_again),
            wait=self._wait,
            before_sleep=lambda state: None if unreachable(state.outcome.exception()) else console.status(
                f"{what}: {_short_error(state.outcome.exception())}; retrying in "
                f"{state.next_action.sleep:.1f} s (request {state.attempt_number + 1} of {s.max_retries + 1})",
                style="dim"),
            reraise=True,
        )
        try:
            return retrying(send)
        except openai.APIError as exc:
            tries = retrying.statistics.get("attempt_number", 1)
            raise _describe(exc, s, tries=tries, what=what) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next try: what the server asked for, else exponential backoff with jitter.

        Either way capped by ``settings.max_retry_wait``. A server-requested wait
        also pauses every worker sharing the limiter.
        """
        if unreachable(state.outcome.exception()):
            return UNREACHABLE_WAIT
        asked = _retry_after(state.outcome.exception())
        wait = retry_wait(state.attempt_number, asked, self.settings.max_retry_wait)
        if asked is not None and self.limiter is not None:
            self.limiter.pause(wait)
        return wait


def _json_object(text: str) -> dict | None:
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _transient(exc: BaseException) -> bool:
    """Worth trying again: rate limits, server errors, timeouts, dropped connections."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in (408, 429) or exc.status_code >= 500)


# The key is rejected, or the model or endpoint does not exist: every request would get the same.
FATAL_STATUSES = (401, 403, 404)

# A refused connection or a name that does not resolve is tried once more, this soon, then given up:
# nothing is listening (or there is no such host), and backing off for half a minute only hides it.
UNREACHABLE_WAIT = 0.25


def unreachable(exc: BaseException | None) -> bool:
    """The connection was refused or the host name did not resolve (DNS), anywhere in the cause chain.

    Unlike a timeout or a dropped connection, waiting does not help; one quick retry covers a
    server that is just starting.
    """
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
            return True
        text = str(exc)
        if any(sign in text for sign in _UNREACHABLE_SIGNS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


_UNREACHABLE_SIGNS = ("Connection refused", "Name or service not known", "nodename nor servname",
                      "Temporary failure in name resolution", "No address associated with hostname",
                      "getaddrinfo failed")


def _unreachable_again(state: tenacity.RetryCallState) -> bool:
    """Stop once an unreachable server has had its one quick retry."""
    return state.attempt_number >= 2 and state.outcome is not None and unreachable(state.outcome.exception())


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    return None if response is None else retry_after(response.headers)


def _server_message(exc: openai.APIStatusError) -> tuple[str, str | None]:
    """The server's own words and the parameter it names, from the error bodies servers use.

    Mistral: ``{"detail": [{"loc": ["body", "seed"], "msg": ...}]}`` or
    ``{"message": ...}``; OpenAI and vLLM: ``{"error": {"message", "param"}}``.
    """
    try:
        body = exc.response.json()
    except ValueError:
        return exc.response.text.strip()[:300], None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return str(body)[:300], None
    detail = body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = [str(part) for part in first.get("loc") or [] if part != "body"]
        return "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict)), (loc[0] if loc else None)
    message = body.get("message") or detail or body.get("error") or json.dumps(body)
    return str(message)[:300], body.get("param")


def _token_estimate(body: dict) -> int:
    """About the request's prompt tokens, for the rate limiter (4 characters a token; the reply's
    usage then charges the real count): its messages' text and the rest of the body, without
    encoding the article once more for it (0.2 ms a request)."""
    size = len(json.dumps({k: v for k, v in body.items() if k != "messages"}, ensure_ascii=False))
    for message in body.get("messages") or ():
        content = message.get("content")
        size += len(content) if isinstance(content, str) else len(json.dumps(content, ensure_ascii=False))
    return size // 4


def _sdk_client(settings: Settings) -> openai.OpenAI:
    # Everything explicit, so the SDK reads no OPENAI_* variable for these; its own
    # retries are off because tenacity is the one transport retry layer.
    sdk = openai.OpenAI(
        api_key=settings.api_key or NO_KEY, base_url=settings.base_url,
        organization="", project="", admin_api_key="", webhook_secret="",
        timeout=settings.timeout, max_retries=0,
    )
    # Empty strings keep the SDK off $OPENAI_ORG_ID / $OPENAI_PROJECT_ID; None sends no header.
    sdk.organization = sdk.project = None
    return sdk


class _Ready:
    """A value made on a thread of its own; :meth:`get` waits for it (and raises what making it raised)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._done = threading.Event()
        self._value = self._error = None

        def run() -> None:
            try:
                self._value = make()
            except BaseException as exc:  # raised in the thread that asks for it
                self._error = exc
            finally:
                self._done.set()
        threading.Thread(target=run, name="rewriter-sdk-client", daemon=True).start()

    def get(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


def _short_error(exc: BaseException | None) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "connection failed or dropped"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_server_message(exc)[0]}"
    return str(exc)


def _describe(exc: openai.APIError, s: Settings, *, tries: int, what: str) -> TransportError:
    """One line a person can act on; the key itself never appears in it."""
    url, gave_up = redact_url(s.base_url), f" (gave up after {tries} request(s))" if tries > 1 else ""

    def clean(text: str) -> str:
        text = text.replace(s.base_url, url)
        return text.replace(s.api_key, "***") if s.api_key else text

    if isinstance(exc, openai.APITimeoutError):
        return TransportError(f"no reply from {url} within {s.timeout:g} s{gave_up}; raise --timeout "
                              "or check the server")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return TransportError(clean(f"cannot reach {url}: {cause}{gave_up}; is the server running and "
                                    "the base URL right? (`rewriter doctor` checks)"), fatal=True)
    status = exc.status_code
    message, param = _server_message(exc)
    if status in (401, 403):
        if s.api_key:
            text = f"API key rejected by {url} (HTTP {status}); check ${s.api_key_env}"
        else:
            text = f"{url} needs an API key (HTTP {status}); set ${s.api_key_env}"
    elif status == 404 and what.startswith("GET /models"):
        text = f"{url} has no /models endpoint (HTTP 404): {message}; is the base URL right (often .../v1)?"
    elif status == 404:
        text = (f"model '{s.model}' or the chat endpoint not found on {url} (HTTP 404): {message}; "
                "check --model and --base-url (`rewriter doctor` lists the models)")
    elif status in (400, 422) and param:
        text = f"server rejected parameter '{param}' (HTTP {status}): {message}"
    elif status in (400, 422):
        text = f"server rejected the request (HTTP {status}): {message}"
    elif status == 429:
        text = f"still rate limited by {url} (HTTP 429){gave_up}: {message}"
    else:
        text = f"{what} failed on {url} (HTTP {status}){gave_up}: {message}"
    return TransportError(clean(text), status=status, fatal=status in FATAL_STATUSES)
