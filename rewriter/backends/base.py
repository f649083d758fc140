"""What every model backend speaks: one chat request in, one response out.

A backend sends a request exactly as built (the OpenAI-compatible chat completion body) and gives
back the reply's text, finish reason, usage and references, with a :class:`Call` record for each
HTTP request it made. Caching, validation and re-asking are the asker's (``rewriter.asker``), never
a backend's; transport retries are the backend's own, in one layer.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

from ..errors import LLMError


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


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to send. ``body`` is the exact JSON body; ``id`` names it uniquely and
    stably (the reply cache key, with the attempt for re-asks): the Batch API's ``custom_id``."""

    id: str
    task: str
    body: dict
    schema_hash: str
    attempt: int


@dataclass
class ChatResponse:
    text: str
    finish_reason: str | None
    usage: dict
    # Mistral's ``reference`` content chunks (``reference_ids``) and any tool references.
    references: list[dict] = field(default_factory=list)
    # The HTTP requests it took, the answering one last.
    calls: list[Call] = field(default_factory=list)


class ChatBackend(Protocol):
    """Where requests go: an OpenAI-compatible server, Mistral's Batch API, or a test's function."""

    model: str
    base_url: str       # as recorded: credentials removed (see redact_url)

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise :class:`TransportError` when no response can be had."""

    def list_models(self) -> list[str]:
        """The model ids the server offers."""

    def close(self) -> None:
        """Release connections."""


class Limiter(Protocol):
    """Rate limits shared by all workers (see ``rewriter.limiter``)."""

    def acquire(self, estimated_tokens: int) -> None:
        """Block until one more request of about this many tokens may go out."""

    def release(self) -> None:
        """The request that :meth:`acquire` let go is over (answered or failed)."""

    def record(self, tokens: int) -> None:
        """Count the tokens a reply actually used."""

    def pause(self, seconds: float) -> None:
        """Hold every worker back: the server asked to wait (429 with Retry-After)."""

    closed: bool

    def close(self) -> None:
        """Let no further request go (every other request would meet the same error, or the batch stops)."""


class TransportError(LLMError):
    """The server could not be used: ``status`` is the HTTP status, None when no response came.

    ``fatal`` means every other request would fail the same way (key rejected, model or
    endpoint not found, server unreachable): callers stop rather than try the next item.
    """

    def __init__(self, message: str, *, status: int | None = None, fatal: bool = False, calls=None):
        super().__init__(message, calls=calls)
        self.status = status
        self.fatal = fatal


def completion_of(payload: dict) -> tuple[str, str | None, dict, list[dict]]:
    """Text, finish_reason, usage and references of a chat completion body (sync or from a batch).

    Content may be a string or (Mistral) a list of chunks: only ``text`` chunks make the text;
    ``reference`` chunks are kept as references; ``thinking`` chunks are skipped.
    """
    choices = payload.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    content = (choice.get("message") or {}).get("content")
    references: list[dict] = []
    if isinstance(content, list):
        references = [chunk for chunk in content if isinstance(chunk, dict) and chunk.get("type") == "reference"]
        content = "".join(chunk.get("text") or "" for chunk in content
                          if isinstance(chunk, dict) and chunk.get("type") == "text")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return (content if isinstance(content, str) else ""), choice.get("finish_reason"), usage, references


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def redact_url(url: str) -> str:
    """``url`` without the user name and password it may carry: ``http://user:key@host/v1`` → ``http://host/v1``.

    Every URL that is recorded (report, call records) or printed goes through this; the
    request itself is sent to the URL as given, credentials included.
    """
    return _USERINFO.sub(r"\1", url)


def tokens_of(usage: dict) -> tuple[int, int]:
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def retry_wait(attempt: int, asked: float | None, cap: float) -> float:
    """Seconds before try ``attempt + 1``: what the server asked for (plus a little jitter), else
    exponential backoff with jitter; capped by ``cap``. Shared by every transport retry layer."""
    if asked is not None:
        return min(cap, asked + random.uniform(0, min(1.0, asked * 0.1)))
    return min(cap, 2 ** (attempt - 1) + random.uniform(0, 1))


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
