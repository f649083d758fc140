"""Asking the model: a task is a value, one asker runs it over a backend.

A :class:`Task` carries its name, messages, schema, the project's checks on the reply and how to
parse it into typed results. :class:`Asker` runs it: the reply cache first, then the backend (see
``rewriter.backends``), then validation against the full schema and the task's checks, re-asking
with what was wrong a bounded number of times. The request goes out as an OpenAI-compatible chat
completion with a strict ``json_schema`` response format; the reply is validated locally because
servers differ in how much of it they enforce (vLLM ignores ``strict``, llama.cpp skips keywords it
does not know, Mistral rejects some keywords outright).

Two kinds of retry, kept apart: transport retries are the backend's; validation re-asks are here.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from .backends import ChatBackend, build_backend
from .backends.base import Call, ChatRequest, TransportError, redact_url
from .cache import ReplyCache, cache_key, canonical_json
from .errors import LLMError
from .resources import errors_against, schema_text
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
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)


@dataclass
class Task:
    """One question for the model. ``check`` returns what is wrong with a schema-valid reply (empty:
    usable); ``accept``, when given, is the schema checked locally instead of ``schema`` (which is
    still the one sent): a looser envelope whose items the caller judges one by one; ``parse`` turns
    the checked reply into the caller's results (``Reply.data``)."""

    name: str
    messages: list[dict]
    schema: dict
    check: Callable[[Any], list[str]] | None = None
    accept: dict | None = None
    max_attempts: int = 3
    parse: Callable[[Any], Any] | None = None


@dataclass
class Reply:
    data: Any
    calls: list[Call]
    attempts: int  # validation rounds used; 0 for a cache hit


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
    return _contract(schema_text(schema))[0]


@functools.lru_cache(maxsize=64)
def _contract(text: str) -> tuple[str, str]:
    """The schema hash and the wire schema's JSON of a schema, from its text: every request of a
    task has the same schema, and walking it twice per request cost more than building the request."""
    schema = json.loads(text)
    return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest(), json.dumps(wire_schema(schema))


def build_asker(settings: Settings, *, limiter=None, backend: ChatBackend | None = None) -> Asker:
    """The one factory stages' asker comes from: the configured backend (or ``backend``), the reply cache."""
    return Asker(settings, backend if backend is not None else build_backend(settings, limiter=limiter))


class Asker:
    """Runs tasks over one backend: cache, request, validation, re-ask."""

    def __init__(self, settings: Settings, backend: ChatBackend):
        self.settings = settings
        self.backend = backend
        self._cache = ReplyCache(settings.cache_dir) if settings.use_cache else None

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()
        if self._cache is not None:
            self._cache.close()

    def request_for(self, task: Task) -> tuple[str, dict]:
        """The reply cache key and the first request's body (what the Batch API uploads as ``custom_id``
        and ``body``)."""
        s = self.settings
        wire = json.loads(_contract(schema_text(task.schema))[1])     # a dict of its own for each request
        key = cache_key(base_url=redact_url(s.base_url), model=s.model, messages=task.messages, wire_schema=wire,
                        temperature=s.temperature, max_tokens=s.max_tokens)
        body = {
            "model": s.model,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": _schema_name(task.name), "schema": wire, "strict": True}},
            "messages": list(task.messages),
        }
        return key, body

    def run(self, task: Task) -> Reply:
        """Ask for JSON matching ``task.schema``; re-ask with what failed, at most ``task.max_attempts`` times.

        Each attempt sends a new message list: the original messages, the last reply and a note on
        exactly what was wrong with it. Only a reply that passes the schema and ``task.check`` is
        returned and cached.
        """
        s = self.settings
        digest = schema_hash(task.schema)
        key, request = self.request_for(task)
        local = task.schema if task.accept is None else task.accept
        hit = self._from_cache(key, task, local, digest)
        if hit is not None:
            return hit
        calls: list[Call] = []
        messages = task.messages
        current, raw, errors = list(messages), None, []
        for attempt in range(1, task.max_attempts + 1):
            sent = ChatRequest(id=key if attempt == 1 else f"{key}.{attempt}", task=task.name,
                               body={**request, "messages": current}, schema_hash=digest, attempt=attempt)
            try:
                response = self.backend.complete(sent)
            except TransportError as exc:
                calls += exc.calls
                exc.raw, exc.attempts, exc.calls = raw, attempt, calls
                raise
            calls += response.calls
            raw, finish = response.text, response.finish_reason
            if finish in TRUNCATED:
                calls[-1].error = f"truncated (finish_reason {finish})"
                # Asking again would truncate again: give up on this item with the reason.
                raise LLMError(f"{task.name}: reply truncated at max_tokens={s.max_tokens} (finish_reason "
                               f"{finish!r}); raise --max-tokens or shorten the article",
                               raw=raw, attempts=attempt, calls=calls)
            data, errors = _parse_and_check(raw, local, task.check)
            if not errors:
                if self._cache is not None:
                    self._cache.put(key, data=data, raw=raw, usage=response.usage)
                return Reply(data=_parsed(task, data), calls=calls, attempts=attempt)
            calls[-1].error = "invalid reply: " + errors[0]
            current = [*messages, {"role": "assistant", "content": raw or "(empty reply)"},
                       {"role": "user", "content": _reask_message(errors)}]
        raise LLMError(f"{task.name}: no valid reply after {task.max_attempts} attempt(s); last problem: "
                       f"{errors[0]}", raw=raw, attempts=task.max_attempts, calls=calls)

    def _from_cache(self, key: str, task: Task, schema: dict, digest: str) -> Reply | None:
        """A cached reply, re-checked so that a stricter schema or check never lets an old one through."""
        entry = self._cache.get(key) if self._cache is not None else None
        if entry is None or _validation_errors(entry["data"], schema, task.check):
            return None
        call = Call(task=task.name, model=self.settings.model, base_url=redact_url(self.settings.base_url),
                    duration_s=0.0, prompt_tokens=0, completion_tokens=0, schema_hash=digest, cached=True, attempt=0)
        return Reply(data=_parsed(task, entry["data"]), calls=[call], attempts=0)


def _parsed(task: Task, data: Any) -> Any:
    return data if task.parse is None else task.parse(data)


def _schema_name(task: str) -> str:
    """json_schema names allow letters, digits, _ and - only, 64 at most."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", task)[:64] or "reply"


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


