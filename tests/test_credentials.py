"""Credentials in --base-url (http://user:key@host/v1) are used for the request, and recorded or shown nowhere."""

from __future__ import annotations

import base64
import json
import socket

from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.backends.base import redact_url
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

from .test_pipeline import CLAIMS, SEED

PASSWORD = "pw-SECRET-987"


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://ed:{PASSWORD}@")


def test_redact_url_strips_only_the_userinfo():
    assert redact_url("http://ed:k@127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("https://a%40b:k@l@host/v1?x=@y") == "https://host/v1?x=@y"
    assert redact_url("https://api.mistral.ai/v1") == "https://api.mistral.ai/v1"
    assert redact_url("http://host/v1/a@b") == "http://host/v1/a@b"


def test_credentials_in_the_base_url_are_sent_but_never_written(tmp_path):
    out = tmp_path / "out"
    with FakeLLM(responder=EditorModel(claims=CLAIMS)) as fake:
        url = with_userinfo(fake.base_url)
        result = CliRunner().invoke(cli, ["run", str(SEED), "--out", str(out), "--base-url", url,
                                          "--model", "fake-model"], catch_exceptions=False)
        sent = [r.headers.get("authorization") for r in fake.requests]
    assert result.exit_code == 0, result.output
    assert sent and set(sent) == {"Basic " + base64.b64encode(f"ed:{PASSWORD}".encode()).decode()}
    files = [p for p in out.rglob("*") if p.is_file()] + [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) > 5 and not [p for p in files if PASSWORD.encode() in p.read_bytes()]
    assert PASSWORD not in result.output
    usage = json.loads((out / SEED.stem / "report.json").read_text(encoding="utf-8"))["usage"]
    assert usage["base_url"] == fake.base_url
    assert {c["base_url"] for c in usage["calls"]} == {fake.base_url}


def test_doctor_and_error_lines_never_show_the_credentials():
    with FakeLLM(models=("fake-model", "evil\x1b]0;pwned\x07\x1b[2J")) as fake:
        fake.enqueue({"status": "ok", "count": 3})
        ok = CliRunner().invoke(cli, ["doctor", "--base-url", with_userinfo(fake.base_url), "--model", "other"])
    assert PASSWORD not in ok.output and f"{fake.base_url} answered GET /models" in ok.output
    # A model list is the server's text: shown escaped, never driving the terminal.
    assert "\x1b" not in ok.output and "evil\\x1b]0;pwned\\x07\\x1b[2J" in ok.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]       # closed once the block ends: nobody listens there
    down = CliRunner().invoke(cli, ["doctor", "--base-url", f"http://ed:{PASSWORD}@127.0.0.1:{port}/v1"])
    assert down.exit_code == 1 and f"cannot reach http://127.0.0.1:{port}/v1" in down.output
    assert PASSWORD not in down.output
    bad = CliRunner().invoke(cli, ["doctor", "--base-url", f"ftp://ed:{PASSWORD}@host/v1"])
    assert "base URL 'ftp://host/v1' must start with http:// or https://" in bad.output
    assert PASSWORD not in bad.output
