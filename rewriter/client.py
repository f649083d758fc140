"""The one module that talks to the model.

Every stage asks through :class:`LLMClient`, built by :func:`build_client`.
A request goes out as an OpenAI-compatible chat completion with a strict
``json_schema`` response format; the reply is then validated locally against
the full schema, because servers differ in how much of it they enforce (vLLM
ignores ``strict``, llama.cpp skips keywords it does not know, Mistral rejects
some keywords outright).

Two kinds of retry, kept apart:

* transport (:meth:`LLMClient._with_retries`): 429, 5xx, timeouts and dropped
  connections, with exponential backoff and jitter that honours Retry-After;
* validation (:meth:`LLMClient.ask`): a reply that is not valid JSON, breaks
  the schema or fails the caller's checks is sent back with what was wrong.
"""

from __future__ import annotations

import copy
import email.utils
import hashlib
import json
import random
import re
import socket
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Protocol

import openai
import tenacity

from . import console
from .cache import ReplyCache, cache_key, canonical_json
from .errors import ConfigError, LLMError
from .resources import errors_against
from .settings import Settings

# Keywords Mistral's strict mode rejects (format, minLength, maxLength, pattern, as
# found by other Mistral integrations) and metadata the model has no use for. Numeric
# bounds (minimum, maximum) stay: Mistral accepts them. The full schema is checked locally.
STRIPPED_KEYWORDS = frozenset({"format", "minLength", "maxLength", "pattern", "$schema", "$id", "title"})
# Keywords whose value maps names to schemas: the names are data, never stripped.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# Keywords whose value is data, not schema.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples", "required"})

TRUNCATED = ("length", "model_length")
# Sent as the bearer token when no key is configured: local servers need none, and the
# SDK must not fall back to $OPENAI_API_KEY.
NO_KEY = "not-needed"
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)


class Limiter(Protocol):
    """Rate limits shared by all workers (see ``rewriter.limiter``)."""

    def acquire(self, estimated_tokens: int) -> None:
        """Block until one more request of about this many tokens may go out."""

    def record(self, tokens: int) -> None:
        """Count the tokens a reply actually used."""

    def pause(self, seconds: float) -> None:
        """Hold every worker back: the server asked to wait (429 with Retry-After)."""


@dataclass
class Call:
    """One HTTP request made (``cached`` False) or one cache hit (``cached`` True, ``attempt`` 0).

    ``attempt`` is the validation round (1 = first ask, 2 = first re-ask...);
    transport retries within a round share its number. ``error`` says why the
    request did not give the final reply.
    """

    task: str
    model: str
    base_url: str
    duration_s: float
    prompt_tokens: int
    completion_tokens: int
    schema_hash: str
    cached: bool
    attempt: int
    error: str | None = None
    # Tokens a server-side tool spent (Mistral's usage.connector_tokens, e.g. web_search results).
    connector_tokens: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Reply:
    data: Any
    calls: list[Call]
    attempts: int  # validation rounds used; 0 for a cache hit


class TransportError(LLMError):
    """The server could not be used: ``status`` is the HTTP status, None when no response came.

    ``fatal`` means every other request would fail the same way (key rejected, model or
    endpoint not found, server unreachable): callers stop rather than try the next item.
    """

    def __init__(self, message: str, *, status: int | None = None, fatal: bool = False):
        super().__init__(message)
        self.status = status
        self.fatal = fatal


@dataclass
class Check:
    """One verdict of ``rewriter doctor``."""

    name: str
    ok: bool
    detail: str


def wire_schema(schema: dict) -> dict:
    """A copy of ``schema`` without the keywords strict servers reject."""

    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in STRIPPED_KEYWORDS:
                continue
            if key in _NAMED_SCHEMAS and isinstance(value, dict):
                out[key] = {name: strip(sub) for name, sub in value.items()}
            elif key in _DATA_KEYWORDS:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = strip(value)
        return out

    return strip(schema)


def schema_hash(schema: dict) -> str:
    """sha256 of the canonical JSON of the full schema: which contract a reply was checked against."""
    return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest()


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def redact_url(url: str) -> str:
    """``url`` without the user name and password it may carry: ``http://user:key@host/v1`` → ``http://host/v1``.

    Every URL that is recorded (report, call records) or printed goes through this; the
    request itself is sent to the URL as given, credentials included.
    """
    return _USERINFO.sub(r"\1", url)


def build_client(settings: Settings, *, limiter: Limiter | None = None) -> LLMClient:
    """The one factory: stages never build SDK clients themselves."""
    if settings.offline:
        raise ConfigError("offline mode: no request may be sent to the model")
    if not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base URL {redact_url(settings.base_url)!r} must start with http:// or https://")
    return LLMClient(settings, limiter=limiter)


class LLMClient:
    def __init__(self, settings: Settings, *, limiter: Limiter | None = None):
        self.settings = settings
        self.limiter = limiter
        # Everything explicit, so the SDK reads no OPENAI_* variable for these; its own
        # retries are off because tenacity is the one transport retry layer.
        self._sdk = openai.OpenAI(
            api_key=settings.api_key or NO_KEY, base_url=settings.base_url,
            organization="", project="", admin_api_key="", webhook_secret="",
            timeout=settings.timeout, max_retries=0,
        )
        # Empty strings keep the SDK off $OPENAI_ORG_ID / $OPENAI_PROJECT_ID; None sends no header.
        self._sdk.organization = self._sdk.project = None
        self._cache = ReplyCache(settings.cache_dir) if settings.use_cache else None

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._sdk.close()
        if self._cache is not None:
            self._cache.close()

    # -- validation: the re-ask loop -------------------------------------------------

    def ask(self, task: str, messages: list[dict], schema: dict, *,
            check: Callable[[Any], list[str]] | None = None, max_attempts: int = 3,
            accept: dict | None = None) -> Reply:
        """Ask for JSON matching ``schema``; re-ask with what failed, at most ``max_attempts`` times.

        Each attempt sends a new message list: the original messages, the last
        reply and a note on exactly what was wrong with it. Only a reply that
        passes the schema and ``check`` is returned and cached. ``accept``, when
        given, is the schema checked locally instead of ``schema`` (which is still
        the one sent): a looser envelope whose items the caller judges one by one.
        """
        s = self.settings
        wire = wire_schema(schema)
        digest = schema_hash(schema)
        key = cache_key(base_url=redact_url(s.base_url), model=s.model, messages=messages, wire_schema=wire,
                        temperature=s.temperature, max_tokens=s.max_tokens)
        local = schema if accept is None else accept
        hit = self._from_cache(key, task, local, digest, check)
        if hit is not None:
            return hit

        request = {
            "model": s.model,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": _schema_name(task), "schema": wire, "strict": True}},
        }
        calls: list[Call] = []
        current, raw, errors = list(messages), None, []
        for attempt in range(1, max_attempts + 1):
            try:
                payload = self._chat({**request, "messages": current}, task, digest, attempt, calls)
            except TransportError as exc:
                exc.raw, exc.attempts, exc.calls = raw, attempt, calls
                raise
            raw, finish = _reply_text(payload)
            if finish in TRUNCATED:
                calls[-1].error = f"truncated (finish_reason {finish})"
                # Asking again would truncate again: give up on this item with the reason.
                raise LLMError(f"{task}: reply truncated at max_tokens={s.max_tokens} (finish_reason "
                               f"{finish!r}); raise --max-tokens or shorten the article",
                               raw=raw, attempts=attempt, calls=calls)
            data, errors = _parse_and_check(raw, local, check)
            if not errors:
                if self._cache is not None:
                    self._cache.put(key, data=data, raw=raw, usage=payload.get("usage") or {})
                return Reply(data=data, calls=calls, attempts=attempt)
            calls[-1].error = "invalid reply: " + errors[0]
            current = [*messages, {"role": "assistant", "content": raw or "(empty reply)"},
                       {"role": "user", "content": _reask_message(errors)}]
        raise LLMError(f"{task}: no valid reply after {max_attempts} attempt(s); last problem: {errors[0]}",
                       raw=raw, attempts=max_attempts, calls=calls)

    def _from_cache(self, key: str, task: str, schema: dict, digest: str, check) -> Reply | None:
        """A cached reply, re-checked so that a stricter schema or check never lets an old one through."""
        entry = self._cache.get(key) if self._cache is not None else None
        if entry is None or _validation_errors(entry["data"], schema, check):
            return None
        call = Call(task=task, model=self.settings.model, base_url=redact_url(self.settings.base_url), duration_s=0.0,
                    prompt_tokens=0, completion_tokens=0, schema_hash=digest, cached=True, attempt=0)
        return Reply(data=entry["data"], calls=[call], attempts=0)

    # -- transport -----------------------------------------------------------------

    def _chat(self, request: dict, task: str, digest: str, attempt: int, calls: list[Call]) -> dict:
        """POST one chat completion (with transport retries), recording a Call per HTTP request."""
        s = self.settings
        estimate = len(canonical_json(request)) // 4

        def send() -> dict:
            if self.limiter is not None:
                self.limiter.acquire(estimate)
            start = time.monotonic()

            def record(error: str | None, usage: dict) -> None:
                calls.append(Call(task=task, model=s.model, base_url=redact_url(s.base_url),
                                  duration_s=round(time.monotonic() - start, 3),
                                  prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                  completion_tokens=int(usage.get("completion_tokens") or 0),
                                  schema_hash=digest, cached=False, attempt=attempt, error=error))

            try:
                response = self._sdk.chat.completions.with_raw_response.create(**request)
            except openai.APIError as exc:
                record(_short_error(exc), {})
                raise
            payload = _json_body(response.http_response)
            if payload is None:
                record("body is not JSON", {})
                raise TransportError(f"{redact_url(s.base_url)} answered with a body that is not JSON "
                                     f"(HTTP {response.http_response.status_code}); is the base URL right?",
                                     status=response.http_response.status_code)
            usage = payload.get("usage") or {}
            record(None, usage)
            if self.limiter is not None and usage:
                spent = usage.get("total_tokens") or (usage.get("prompt_tokens") or 0) + (
                    usage.get("completion_tokens") or 0)
                self.limiter.record(int(spent))
            return payload

        return self._with_retries(send, what="POST /chat/completions")

    def list_models(self) -> list[str]:
        """Ids the server lists under GET /models."""

        def send() -> list[str]:
            response = self._sdk.models.with_raw_response.list()
            payload = _json_body(response.http_response) or {}
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


def retry_wait(attempt: int, asked: float | None, cap: float) -> float:
    """Seconds before try ``attempt + 1``: what the server asked for (plus a little jitter), else
    exponential backoff with jitter; capped by ``cap``. Shared by every transport retry layer."""
    if asked is not None:
        return min(cap, asked + random.uniform(0, min(1.0, asked * 0.1)))
    return min(cap, 2 ** (attempt - 1) + random.uniform(0, 1))


# -- doctor --------------------------------------------------------------------------

_DOCTOR_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["status", "count"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "count": {"type": "integer"}},
}
_DOCTOR_MESSAGES = [{"role": "user", "content": 'Reply with a JSON object whose "status" is "ok" and whose '
                                                '"count" is 3.'}]


def diagnose(settings: Settings) -> list[Check]:
    """Check the configured endpoint: reachable, key accepted, model listed, strict json_schema honoured.

    Bypasses the cache and transport retries (a diagnosis reports the first
    failure as it is), and never puts the key in a verdict.
    """
    url, env = redact_url(settings.base_url), settings.api_key_env
    with build_client(replace(settings, use_cache=False, max_retries=0)) as client:
        models, failure = None, None
        try:
            models = client.list_models()
        except TransportError as exc:
            failure = exc
        if models is not None:
            checks = [Check("reachable", True, f"{url} answered GET /models"),
                      Check("key", True, "accepted" if settings.api_key else f"none sent (${env} unset); "
                                                                            "the server asked for none")]
        elif failure.status is None:
            return [Check("reachable", False, str(failure))] + [
                Check(name, False, "not checked: endpoint unreachable") for name in ("key", "model", "json_schema")]
        elif failure.status in (401, 403):
            return [Check("reachable", True, f"{url} answered (HTTP {failure.status})"),
                    Check("key", False, str(failure))] + [
                Check(name, False, "not checked: key rejected") for name in ("model", "json_schema")]
        else:
            checks = [Check("reachable", True, f"{url} answered (HTTP {failure.status})"),
                      Check("key", True, "not refused")]

        if models is None:
            checks.append(Check("model", False, str(failure)))
        elif settings.model in models:
            checks.append(Check("model", True, f"'{settings.model}' is listed"))
        else:
            listed = ", ".join(models[:10]) + (", ..." if len(models) > 10 else "") or "none"
            checks.append(Check("model", False, f"'{settings.model}' is not listed by {url}; it lists: {listed}"))

        try:
            client.ask("doctor", _DOCTOR_MESSAGES, _DOCTOR_SCHEMA, max_attempts=1)
            checks.append(Check("json_schema", True, "the reply matched a strict json_schema"))
        except LLMError as exc:
            if isinstance(exc, TransportError) or exc.raw is None:
                checks.append(Check("json_schema", False, str(exc)))
            else:
                problem = (_parse_and_check(exc.raw, _DOCTOR_SCHEMA, None)[1] or [str(exc)])[0]
                checks.append(Check("json_schema", False, f"strict json_schema not honoured: {problem} in "
                                    f"{exc.raw[:80]!r}; rewriter still validates and re-asks, at extra cost"))
    return checks


# -- helpers -------------------------------------------------------------------------

def _schema_name(task: str) -> str:
    """json_schema names allow letters, digits, _ and - only, 64 at most."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", task)[:64] or "reply"


def _reply_text(payload: dict) -> tuple[str, str | None]:
    """The assistant's text and finish_reason, read from the raw JSON body.

    Content may be a string or (Mistral) a list of chunks: only ``text``
    chunks count; ``thinking`` and ``reference`` chunks are skipped.
    """
    choices = payload.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    content = (choice.get("message") or {}).get("content")
    if isinstance(content, list):
        content = "".join(chunk.get("text") or "" for chunk in content
                          if isinstance(chunk, dict) and chunk.get("type") == "text")
    return (content if isinstance(content, str) else ""), choice.get("finish_reason")


def _parse_and_check(raw: str, schema: dict, check) -> tuple[Any, list[str]]:
    """The parsed reply and what is wrong with it (empty when it can be used)."""
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:  # some servers wrap JSON in a ```json fence despite response_format
        text = fenced.group(1).strip()
    if not text:
        return None, ["the reply was empty; send the JSON object"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"the reply is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                      "send only the JSON object, nothing before or after it"]
    except (ValueError, RecursionError):     # nested past Python's limit, or a number too long to read
        return None, ["the reply is JSON nested or sized past what can be read; send the flat JSON object "
                      "the schema describes"]
    return data, _validation_errors(data, schema, check)


def _validation_errors(data: Any, schema: dict, check, limit: int = 10) -> list[str]:
    messages = errors_against(data, schema, limit)
    if not messages and check is not None:
        messages = list(check(data))[:limit]
    return messages


def _reask_message(errors: list[str]) -> str:
    """Written for the model to act on: what failed, where, and what to send instead."""
    listed = "\n".join(f"- {error}" for error in errors)
    return ("Your previous reply cannot be used:\n"
            f"{listed}\n"
            "Send the complete JSON object again with these problems fixed, keeping everything that was right. "
            "It must match the JSON schema exactly: the required keys, no other keys, and only JSON "
            "(no text around it, no code fences).")


def _json_body(response) -> dict | None:
    try:
        payload = json.loads(response.text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _transient(exc: BaseException) -> bool:
    """Worth trying again: rate limits, server errors, timeouts, dropped connections."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in (408, 429) or exc.status_code >= 500)


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


def retry_after(headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


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
    return TransportError(clean(text), status=status, fatal=status in (401, 403, 404))
