"""The fake server behaves like the servers it stands for, so tests that use it mean something."""

from __future__ import annotations

import json

import httpx
import pytest

from rewriter.asker import Task, build_asker, wire_schema
from rewriter.resources import load_schema, schema_errors
from tests.fake_llm import FakeLLM, Fault, auto_reply, fake_llm, load_script  # noqa: F401 (fixture)


def chat(fake, **body):
    request = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(f"{fake.base_url}/chat/completions", json=request, timeout=5)


def request_for(task, user_text):
    return {"messages": [{"role": "user", "content": user_text}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": task, "schema": wire_schema(load_schema(task)), "strict": True}}}


@pytest.mark.parametrize("param, value", [("seed", 1), ("max_completion_tokens", 10), ("store", False),
                                          ("user", "u"), ("stream_options", {}), ("temperature", 1.2)])
def test_parameters_mistral_rejects_get_422(fake_llm, param, value):
    response = chat(fake_llm, **{param: value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", param]


def test_usage_tracks_text_length(fake_llm):
    fake_llm.enqueue({"claims": []})
    usage = chat(fake_llm, messages=[{"role": "user", "content": "x" * 400}]).json()["usage"]
    assert usage["prompt_tokens"] == 100
    assert usage["completion_tokens"] == len(json.dumps({"claims": []})) // 4


def test_auto_reply_answers_each_finding_and_is_schema_valid():
    ids = ["pl-0123456789", "ar-abcdef0123"]
    corrections = auto_reply(request_for("corrections", f"Findings: {ids[0]} and {ids[1]}, again {ids[0]}."))
    assert schema_errors(corrections, "corrections") == []
    assert [p["finding_id"] for p in corrections["proposals"]] == ids
    assert {(p["action"], p["replacement"], p["confidence"], len(p["sources"]))
            for p in corrections["proposals"]} == {("needs_human", "", 0, 0)}

    claims = auto_reply(request_for("claims", "1. The tower was built in 1789."))
    assert claims == {"claims": [], "research": []} and schema_errors(claims, "claims") == []


def test_auto_reply_serves_a_client(tmp_path):
    with FakeLLM(responder=auto_reply) as fake:
        with build_asker(fake.settings(cache_dir=tmp_path)) as asker:
            reply = asker.run(Task("corrections", [{"role": "user", "content": "fix pl-0123456789"}],
                                   load_schema("corrections")))
    assert reply.data["proposals"][0]["finding_id"] == "pl-0123456789"


def test_script_items_become_replies_and_faults(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"claims": []}, "raw text",
        {"fault": "status", "status": 429, "headers": {"Retry-After": "1"}},
        {"fault": "delay", "delay": 0.5, "body": {"claims": []}},
    ]))
    items = load_script(str(script))
    assert items[:2] == [{"claims": []}, "raw text"]
    assert items[2] == Fault.rate_limited(retry_after=1)
    assert items[3] == Fault.slow(0.5, {"claims": []})


def test_key_and_model_checks(tmp_path):
    with FakeLLM(api_key="k") as fake:
        assert httpx.get(f"{fake.base_url}/models").status_code == 401
        ok = httpx.get(f"{fake.base_url}/models", headers={"Authorization": "Bearer k"})
        assert [m["id"] for m in ok.json()["data"]] == ["fake-model"]
        unknown = httpx.post(f"{fake.base_url}/chat/completions", headers={"Authorization": "Bearer k"},
                             json={"model": "nope", "messages": []})
        assert unknown.status_code == 404
        assert [r.method for r in fake.requests] == ["GET", "GET", "POST"]
