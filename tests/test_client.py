"""The model client against the loopback fake: what is sent, retried, re-asked and cached."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path
from types import SimpleNamespace

import pytest

from rewriter.asker import STRIPPED_KEYWORDS, Task, build_asker, schema_hash, wire_schema
from rewriter.backends.openai_compat import _retry_after
from rewriter.errors import ConfigError, LLMError
from rewriter.resources import load_schema
from tests.fake_llm import FORBIDDEN_PARAMS, FakeLLM, Fault

KEY = "sk-test-SECRET-123"
CLAIMS = load_schema("claims")
MESSAGES = [{"role": "system", "content": "Find dubious claims."},
            {"role": "user", "content": "1. The Eiffel Tower was built in 1789."}]
GOOD = {"claims": [{"sentence": 1, "quote": "in 1789", "category": "factual_error",
                    "reason": "It was built in 1887-1889.", "settle_with": "Any history of the tower.",
                    "queries": [{"q": "Eiffel Tower construction", "lang": "en"}]}], "research": []}
BAD = {"claims": [{"sentence": 0, "quote": "in 1789", "category": "factual_error",
                   "reason": "It was built in 1887-1889.", "settle_with": "Any history of the tower.",
                    "queries": [{"q": "Eiffel Tower construction", "lang": "en"}]}], "research": []}


@pytest.fixture
def fake():
    with FakeLLM(api_key=KEY) as server:
        yield server


@pytest.fixture
def settings(fake, tmp_path):
    return fake.settings(cache_dir=tmp_path / "cache")


def ask(settings, messages=MESSAGES, schema=CLAIMS, **kwargs):
    with build_asker(settings) as asker:
        return asker.run(Task("claims", messages, schema, **kwargs))


def keywords(node):
    """Every key used as a schema keyword (property names excluded)."""
    if isinstance(node, list):
        return set().union(*map(keywords, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key == "properties":
            found |= set().union(*map(keywords, value.values())) if value else set()
        elif key not in ("enum", "required"):
            found |= keywords(value)
    return found


# -- the request ---------------------------------------------------------------------

def test_request_carries_strict_wire_schema_and_only_accepted_parameters(fake, settings):
    fake.enqueue(GOOD)
    reply = ask(settings)

    assert reply.data == GOOD and reply.attempts == 1
    (body,) = fake.chat_requests
    assert set(body) == {"model", "messages", "response_format", "temperature", "max_tokens"}
    assert not set(FORBIDDEN_PARAMS) & set(body)
    assert body["messages"] == MESSAGES
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("fake-model", 0.0, 8192)
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "claims"
    assert fmt["json_schema"]["schema"] == wire_schema(CLAIMS)
    assert not keywords(fmt["json_schema"]["schema"]) & STRIPPED_KEYWORDS
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_wire_schema_strips_rejected_keywords_but_not_property_names():
    schema = load_schema("corrections")
    wire = wire_schema(schema)

    assert not keywords(wire) & STRIPPED_KEYWORDS
    assert keywords(schema) & {"minLength", "$schema", "title"}  # the fixture really had some
    source = wire["properties"]["proposals"]["items"]["properties"]["sources"]["items"]
    assert "title" in source["properties"] and "title" in source["required"]  # a property, not the keyword
    confidence = wire["properties"]["proposals"]["items"]["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 1)
    assert "description" in source["properties"]["quote"]
    assert schema == load_schema("corrections")  # the original is untouched


def test_sdk_reads_no_openai_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-LEAK")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-LEAK")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-LEAK")
    with FakeLLM() as keyless:
        keyless.enqueue(GOOD)
        ask(keyless.settings(cache_dir=tmp_path, api_key=None))
        headers = keyless.requests[0].headers
    assert headers["authorization"] == "Bearer not-needed"
    assert "LEAK" not in json.dumps(headers)


def test_call_records_model_tokens_schema_hash_and_attempt(fake, settings):
    fake.enqueue(BAD, GOOD)
    reply = ask(settings)

    first, second = reply.calls
    assert (first.attempt, second.attempt) == (1, 2)
    assert "$.claims[0].sentence" in first.error and second.error is None
    for call in reply.calls:
        assert call.model == "fake-model" and call.base_url == fake.base_url and not call.cached
        assert call.schema_hash == schema_hash(CLAIMS)
        assert call.duration_s >= 0 and call.prompt_tokens > 0 and call.completion_tokens > 0
    prompt = sum(len(m["content"]) for m in fake.chat_requests[1]["messages"]) // 4
    assert second.prompt_tokens == prompt
    assert second.to_dict()["prompt_tokens"] == prompt


# -- validation and re-asking --------------------------------------------------------

def test_schema_violation_is_reasked_with_the_error_and_previous_reply(fake, settings):
    fake.enqueue(BAD, GOOD)
    reply = ask(settings)

    assert reply.data == GOOD and reply.attempts == 2
    first, second = fake.chat_requests
    assert first["messages"] == MESSAGES
    assert second["messages"][:2] == MESSAGES
    assistant, user = second["messages"][2:]
    assert assistant == {"role": "assistant", "content": json.dumps(BAD)}
    assert user["role"] == "user"
    assert "$.claims[0].sentence" in user["content"] and "less than the minimum of 1" in user["content"]
    assert "Send the complete JSON object again" in user["content"]
    assert second["response_format"] == first["response_format"]


def test_invalid_json_is_reasked(fake, settings):
    fake.enqueue("The claims are: none.", GOOD)
    assert ask(settings).attempts == 2
    reask = fake.chat_requests[1]["messages"]
    assert reask[2]["content"] == "The claims are: none."
    assert "not valid JSON" in reask[3]["content"]


def test_check_failures_are_reasked(fake, settings):
    fake.enqueue({"claims": [], "research": []}, GOOD)
    reply = ask(settings, check=lambda data: [] if data["claims"] else ["at $.claims: sentence 1 holds a claim"])
    assert reply.data == GOOD
    assert "at $.claims: sentence 1 holds a claim" in fake.chat_requests[1]["messages"][-1]["content"]


def test_gives_up_after_max_attempts_with_a_fresh_message_list_each_time(fake, settings):
    fake.enqueue(BAD, "nope", BAD)
    with pytest.raises(LLMError) as caught:
        ask(settings)

    error = caught.value
    assert error.attempts == 3 and len(error.calls) == 3
    assert error.raw == json.dumps(BAD)
    assert "no valid reply after 3 attempt(s)" in str(error) and "$.claims[0].sentence" in str(error)
    assert [len(body["messages"]) for body in fake.chat_requests] == [2, 4, 4]
    assert fake.chat_requests[2]["messages"][2]["content"] == "nope"


def test_fenced_json_is_accepted(fake, settings):
    fake.enqueue("```json\n" + json.dumps(GOOD) + "\n```")
    assert ask(settings).data == GOOD


def test_content_chunks_are_read_as_text_only(fake, settings):
    fake.enqueue(Fault.chunks(GOOD))
    assert ask(settings).data == GOOD
    assert len(fake.chat_requests) == 1


def test_truncated_reply_is_a_clear_final_error(fake, settings):
    fake.enqueue(Fault.truncated(), GOOD)
    with pytest.raises(LLMError) as caught:
        ask(settings)
    assert "reply truncated at max_tokens=8192" in str(caught.value)
    assert "raise --max-tokens or shorten the article" in str(caught.value)
    assert caught.value.attempts == 1 and caught.value.raw.startswith('{"claims"')
    assert len(fake.chat_requests) == 1


# -- transport -----------------------------------------------------------------------

@pytest.mark.parametrize("fault", [Fault.rate_limited(retry_after=0.2), Fault.rate_limited(retry_after_ms=200)],
                         ids=["retry-after", "retry-after-ms"])
def test_rate_limit_waits_as_asked(fake, settings, fault):
    fake.enqueue(fault, GOOD)
    start = time.monotonic()
    reply = ask(replace(settings, max_retry_wait=2.0))

    assert time.monotonic() - start >= 0.2
    assert len(fake.chat_requests) == 2
    assert reply.attempts == 1 and [c.error for c in reply.calls] == ["HTTP 429: Requests rate limit exceeded", None]


def test_retry_after_is_capped_by_max_retry_wait(fake, settings):
    fake.enqueue(Fault.rate_limited(retry_after=30), GOOD)
    start = time.monotonic()
    ask(settings)  # max_retry_wait is 0.05
    assert time.monotonic() - start < 2


def test_retries_stop_when_their_total_time_is_spent(fake, settings):
    fake.enqueue(*[Fault.rate_limited(retry_after=0.2) for _ in range(6)])
    with pytest.raises(LLMError, match="still rate limited"):
        ask(replace(settings, max_retry_wait=1.0, max_retries=5, max_retry_total=0.3))
    assert len(fake.chat_requests) == 2      # 0.2 s + 0.2 s would pass the 0.3 s budget


def test_retry_after_parses_seconds_milliseconds_and_http_dates():
    def exc(**headers):
        return SimpleNamespace(response=SimpleNamespace(headers=headers))

    assert _retry_after(exc(**{"retry-after": "1.5"})) == 1.5
    assert _retry_after(exc(**{"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert 1 <= _retry_after(exc(**{"retry-after": formatdate(time.time() + 3, usegmt=True)})) <= 3
    assert _retry_after(exc(**{"retry-after": formatdate(time.time() - 60, usegmt=True)})) == 0
    assert _retry_after(exc(**{"retry-after": "soon"})) is None
    assert _retry_after(exc()) is None


def test_server_errors_are_retried(fake, settings):
    fake.enqueue(Fault.http(500), Fault.http(503), GOOD)
    reply = ask(settings)
    assert reply.data == GOOD and len(fake.chat_requests) == 3
    assert [c.attempt for c in reply.calls] == [1, 1, 1]


def test_transport_retries_are_bounded(fake, settings):
    fake.enqueue(*[Fault.http(503)] * 4)
    with pytest.raises(LLMError) as caught:
        ask(replace(settings, max_retries=2))
    assert len(fake.chat_requests) == 3
    assert "HTTP 503" in str(caught.value) and "gave up after 3 request(s)" in str(caught.value)
    assert len(caught.value.calls) == 3


def test_timeout_then_success(fake, settings):
    fake.enqueue(Fault.slow(2.0, GOOD), GOOD)
    reply = ask(replace(settings, timeout=0.3))
    assert reply.data == GOOD and len(fake.chat_requests) == 2
    assert reply.calls[0].error == "timed out"


def test_dropped_connection_then_success(fake, settings):
    fake.enqueue(Fault.drop(), GOOD)
    reply = ask(settings)
    assert reply.data == GOOD and len(fake.chat_requests) == 2
    assert reply.calls[0].error == "connection failed or dropped"


def test_wrong_key_is_not_retried_and_not_shown(fake, settings):
    wrong = "sk-wrong-OTHER-999"
    with pytest.raises(LLMError) as caught:
        ask(replace(settings, api_key=wrong))
    message = str(caught.value)
    assert message == f"API key rejected by {fake.base_url} (HTTP 401); check $MISTRAL_API_KEY"
    assert wrong not in message and KEY not in message
    assert len(fake.requests) == 1


def test_missing_key_says_to_set_one(fake, settings):
    with pytest.raises(LLMError, match=r"needs an API key \(HTTP 401\); set \$MISTRAL_API_KEY"):
        ask(replace(settings, api_key=None))


def test_unknown_model_is_not_retried(fake, settings):
    with pytest.raises(LLMError, match=r"model 'nope' or the chat endpoint not found on .* \(HTTP 404\): Invalid model: nope"):
        ask(replace(settings, model="nope"))
    assert len(fake.requests) == 1


def test_rejected_parameter_is_not_retried_and_named(fake, settings):
    with pytest.raises(LLMError, match=r"server rejected parameter 'temperature' \(HTTP 422\): Input should be"):
        ask(replace(settings, temperature=1.5))
    assert len(fake.requests) == 1


def test_empty_fake_queue_fails_loudly(fake, settings):
    with pytest.raises(LLMError, match="fake_llm: reply queue empty"):
        ask(replace(settings, max_retries=0))


def test_limiter_is_told_about_each_request(fake, settings):
    events = []
    limiter = SimpleNamespace(acquire=lambda n: events.append(("acquire", n)),
                              record=lambda n: events.append(("record", n)),
                              release=lambda: events.append(("release", None)),
                              pause=lambda s: events.append(("pause", s)))
    fake.enqueue(Fault.rate_limited(retry_after=0.02), GOOD)
    with build_asker(settings, limiter=limiter) as asker:
        reply = asker.run(Task("claims", MESSAGES, CLAIMS))

    kinds = [kind for kind, _ in events]
    # Each request's slot is given back once it is answered, the 429 too, and before the wait.
    assert kinds == ["acquire", "release", "pause", "acquire", "release", "record"]
    assert events[0][1] > 0 and 0.02 <= events[2][1] <= 0.05
    assert events[5][1] == reply.calls[-1].prompt_tokens + reply.calls[-1].completion_tokens


def test_offline_settings_build_no_client(settings):
    with pytest.raises(ConfigError, match="offline"):
        build_asker(replace(settings, offline=True))


# -- the cache -----------------------------------------------------------------------

def test_second_identical_ask_is_served_from_cache(fake, settings):
    fake.enqueue(BAD, GOOD)
    first = ask(settings)
    second = ask(settings)

    assert len(fake.chat_requests) == 2  # both from the first ask, re-ask included
    assert second.data == first.data == GOOD
    (call,) = second.calls
    assert call.cached and call.prompt_tokens == call.completion_tokens == 0 and call.attempt == 0
    assert second.attempts == 0


def test_cache_key_changes_with_what_is_asked(fake, settings):
    fake.enqueue(GOOD, GOOD, GOOD)
    ask(settings)
    ask(replace(settings, max_tokens=100))
    ask(settings, messages=[*MESSAGES[:1], {"role": "user", "content": "Another article."}])
    assert len(fake.chat_requests) == 3


def test_api_key_never_reaches_the_cache(fake, settings):
    fake.enqueue(GOOD)
    ask(settings)
    files = [p for p in Path(settings.cache_dir).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path


def test_invalid_replies_are_never_cached(fake, settings):
    fake.enqueue(BAD, BAD, BAD)
    with pytest.raises(LLMError):
        ask(settings)
    fake.enqueue(GOOD)
    assert ask(settings).attempts == 1
    assert len(fake.chat_requests) == 4


def test_cached_reply_failing_todays_check_is_asked_again(fake, settings):
    fake.enqueue({"claims": [], "research": []}, GOOD)
    ask(settings)
    reply = ask(settings, check=lambda data: [] if data["claims"] else ["at $.claims: sentence 1 holds a claim"])
    assert reply.data == GOOD and not reply.calls[0].cached


def test_no_cache_neither_reads_nor_writes(fake, settings):
    fake.enqueue(GOOD, GOOD)
    off = replace(settings, use_cache=False)
    ask(off)
    ask(off)
    assert len(fake.chat_requests) == 2
    assert not Path(settings.cache_dir).exists()


def test_the_sdk_client_is_made_on_its_own_thread_and_its_error_reaches_the_caller(monkeypatch, tmp_path):
    """The client (which loads the CA certificates) is made while the caller goes on; whatever
    making it raised is raised where the client is first used, not lost in its thread."""
    import threading

    from rewriter.backends import openai_compat
    from rewriter.settings import Settings
    release = threading.Event()
    made_on = []

    def slow_client(settings):
        made_on.append(threading.current_thread().name)
        release.wait(5)
        raise ValueError("no CA bundle")

    monkeypatch.setattr(openai_compat, "_sdk_client", slow_client)
    backend = openai_compat.OpenAICompatible(Settings.from_env(base_url="http://127.0.0.1:9/v1", model="m",
                                                               cache_dir=tmp_path))
    assert not backend._client._done.is_set()         # the constructor did not wait for it
    release.set()
    with pytest.raises(ValueError, match="no CA bundle"):
        backend.list_models()
    assert made_on == ["rewriter-sdk-client"]


def test_the_rate_limiters_token_estimate_counts_the_messages_and_the_schema():
    """The estimate skips encoding the whole body again, and stays within a few per cent of it."""
    from rewriter.backends.openai_compat import _token_estimate
    from rewriter.cache import canonical_json
    article = (Path(__file__).parent.parent / "articles" / "000_8fabfc5d1ff5073f.txt").read_text(encoding="utf-8")
    body = {"model": "m", "temperature": 0, "max_tokens": 4000,
            "response_format": {"type": "json_schema", "json_schema": {"name": "claims", "strict": True,
                                                                      "schema": load_schema("claims")}},
            "messages": [{"role": "system", "content": "Réponds en JSON « strict »."},
                         {"role": "user", "content": article}]}
    full = len(canonical_json(body)) // 4
    assert abs(_token_estimate(body) - full) <= 0.05 * full
    without_schema = {**body, "response_format": {"type": "json_object"}}
    assert _token_estimate(body) - _token_estimate(without_schema) >= len(canonical_json(load_schema("claims"))) // 5
