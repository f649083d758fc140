"""`rewriter doctor` against the loopback fake: one verdict per check, exit 1 on any failure."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from rewriter.cli import cli
from tests.fake_llm import FakeLLM

KEY = "sk-test-SECRET-123"


def doctor(base_url, *args, key=KEY):
    env = {"MISTRAL_API_KEY": key} if key else {}
    return CliRunner().invoke(cli, ["doctor", "--base-url", base_url, "--model", "fake-model", *args], env=env)


def verdicts(result):
    return {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()}


def test_doctor_passes_against_a_working_server():
    with FakeLLM(api_key=KEY) as fake:
        fake.enqueue({"status": "ok", "count": 3})
        result = doctor(fake.base_url)
        body = fake.chat_requests[0]

    assert result.exit_code == 0, result.output
    assert verdicts(result) == {"reachable": "ok", "key": "ok", "model": "ok", "json_schema": "ok"}
    assert body["response_format"]["json_schema"]["strict"] is True
    assert KEY not in result.output


def test_doctor_bypasses_the_cache(tmp_path):
    with FakeLLM(api_key=KEY) as fake:
        fake.enqueue({"status": "ok", "count": 3}, {"status": "ok", "count": 3})
        assert doctor(fake.base_url).exit_code == 0
        assert doctor(fake.base_url).exit_code == 0
        assert len(fake.chat_requests) == 2
    assert not (tmp_path / "cache").exists()      # REWRITER_CACHE_DIR, set for every test


def test_doctor_fails_when_strict_schema_is_ignored():
    with FakeLLM(api_key=KEY, ignore_schema=True) as fake:
        result = doctor(fake.base_url)

    assert result.exit_code == 1
    assert verdicts(result)["json_schema"] == "FAIL"
    line = next(line for line in result.stdout.splitlines() if "json_schema" in line)
    assert "strict json_schema not honoured: at $:" in line and "fake_llm ignores response_format" in line
    assert verdicts(result)["reachable"] == verdicts(result)["model"] == "ok"


def test_doctor_reports_a_rejected_key_without_printing_it():
    wrong = "sk-wrong-OTHER-999"
    with FakeLLM(api_key=KEY) as fake:
        result = doctor(fake.base_url, key=wrong)
        requests = len(fake.requests)

    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if line.split()[1] == "key")
    assert line.startswith("FAIL") and "API key rejected by" in line and "$MISTRAL_API_KEY" in line
    assert wrong not in result.output and KEY not in result.output
    assert requests == 1  # no retry on 401, no schema request after it


def test_doctor_reports_an_unlisted_model():
    with FakeLLM(models=("other-model", "fake-model-2")) as fake:
        result = doctor(fake.base_url, key=None)
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if line.split()[1] == "model")
    assert line.startswith("FAIL") and "'fake-model' is not listed" in line and "other-model" in line


def test_doctor_reports_an_unreachable_endpoint():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = doctor(f"http://127.0.0.1:{port}/v1", "--timeout", "2")
    assert result.exit_code == 1
    assert set(verdicts(result).values()) == {"FAIL"}
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.stdout


# ---------------------------------------------------------------- research providers

def line_for(result, name):
    return next(line for line in result.stdout.splitlines() if line.split()[1] == name)


def test_doctor_checks_each_research_provider_with_one_test_query():
    from tests.fake_search import FakeSearx, FakeWiki

    with FakeLLM(api_key=KEY) as fake, FakeWiki({"en": {"Paris": "Paris is the capital of France."}}) as wiki, \
            FakeSearx([("https://example.org/paris", "Paris", "capital")]) as searx:
        fake.enqueue({"status": "ok", "count": 3})
        result = doctor(fake.base_url, "--research", "wikipedia,searxng", "--wikipedia-url", wiki.url_template,
                        "--searx-url", searx.base, "--contact", "desk@example.org")
        assert wiki.searches() == [("en", "Paris", "3")] and searx.searches() == [("Paris", "json", "en")]
    assert result.exit_code == 0, result.output
    assert verdicts(result) == {"reachable": "ok", "key": "ok", "model": "ok", "json_schema": "ok",
                                "wikipedia": "ok", "searxng": "ok"}
    assert "answered a test search ('Paris')" in line_for(result, "wikipedia")
    assert "REWRITER_CONTACT" not in line_for(result, "wikipedia")


def test_doctor_says_when_a_provider_is_not_the_documented_shape_or_not_configured():
    from tests.fake_search import Fault, FakeWiki

    with FakeLLM(api_key=KEY) as fake, FakeWiki({"en": {}}) as wiki:
        fake.enqueue({"status": "ok", "count": 3})
        wiki.fail("search", Fault.raw('{"hits": []}'))
        result = doctor(fake.base_url, "--research", "wikipedia,searxng", "--wikipedia-url", wiki.url_template)
    assert result.exit_code == 1
    assert line_for(result, "wikipedia").startswith("FAIL") and "without a 'pages' list" in result.stdout
    assert line_for(result, "searxng").startswith("FAIL") and "needs --searx-url URL" in result.stdout


def test_doctor_checks_that_mistral_runs_web_search_without_printing_the_key():
    from tests.fake_search import FakeMistralConversations

    refs = {"Mistral AI": [("https://example.org/mistral", "Mistral AI")]}
    with FakeMistralConversations(refs, api_key=KEY, model="fake-model") as fake:
        result = doctor(fake.base_url, "--research", "mistral", "--timeout", "5")
        [body] = fake.bodies()
    line = line_for(result, "mistral")
    assert line.startswith("ok") and "ran web_search: 1 reference(s), 300 connector tokens" in line
    assert body["tools"] == [{"type": "web_search"}] and body["store"] is False
    assert KEY not in result.output


def test_one_base_url_serves_chat_and_conversations_when_the_fake_relays_to_a_fake_llm():
    from tests.fake_search import FakeMistralConversations

    with FakeLLM(api_key=KEY) as chat, FakeMistralConversations(
            {"Mistral AI": [("https://example.org/mistral", "Mistral AI")]}, api_key=KEY,
            upstream=chat.base_url[: -len("/v1")]) as fake:
        chat.enqueue({"status": "ok", "count": 3})
        result = doctor(fake.base_url, "--research", "mistral", "--timeout", "5")
        assert len(chat.chat_requests) == 1 and len(fake.bodies()) == 1
    assert result.exit_code == 0, result.output
    assert set(verdicts(result).values()) == {"ok"}
