"""First runs that don't surprise: an unreachable server is one line, fast, not 35 s of retries."""

from __future__ import annotations

import socket
import time

import httpx
import openai
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.backends.openai_compat import unreachable
from tests.conftest import SEEDS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_against_nothing_listening_fails_in_one_line_under_3_s(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["run", str(SEEDS[0]), "--base-url", f"http://127.0.0.1:{free_port()}/v1",
                                      "--model", "m", "--no-cache"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "cannot reach http://127.0.0.1:" in lines[0] and "refused" in lines[0]
    assert "gave up after 2 request(s)" in lines[0]   # one quick retry, no backoff ladder
    assert elapsed < 3.0


def test_refused_and_unresolved_names_are_unreachable_but_timeouts_are_not():
    request = httpx.Request("POST", "http://x/v1/chat/completions")

    def wrapped(cause: BaseException) -> openai.APIConnectionError:
        exc = openai.APIConnectionError(request=request)
        exc.__cause__ = httpx.ConnectError(str(cause))
        exc.__cause__.__cause__ = cause
        return exc

    assert unreachable(wrapped(ConnectionRefusedError(111, "Connection refused")))
    assert unreachable(wrapped(socket.gaierror(-2, "Name or service not known")))
    assert not unreachable(openai.APITimeoutError(request=request))
    assert not unreachable(wrapped(ConnectionResetError(104, "Connection reset by peer")))


def test_batch_says_an_error_common_to_all_articles_once(tmp_path, monkeypatch):
    import shutil
    from tests.conftest import ARTICLES
    shutil.copytree(ARTICLES, tmp_path / "articles")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["batch", "articles", "-j", "1", "--base-url",
                                      f"http://127.0.0.1:{free_port()}/v1", "--model", "m", "--no-cache"])
    assert result.exit_code == 1
    refused = [line for line in result.stderr.splitlines() if "Connection refused" in line]
    assert len(refused) == 1, result.stderr
    assert f"not run ({len(SEEDS) - 1} articles): the batch stopped after the error above" in result.stderr
    assert "next: rewriter review" not in result.stderr   # nothing to review


def test_run_ends_with_the_next_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(SEEDS[0]), "--offline"])
    assert result.exit_code == 0
    assert result.stderr.rstrip().splitlines()[-1] == f"next: rewriter review out/{SEEDS[0].stem}"


def test_critic_markup_keeps_paragraphs_and_line_breaks_outside_deletions(tmp_path, monkeypatch):
    import re
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["run", str(SEEDS[0]), "--offline"]).exit_code == 0
    critic = (tmp_path / "out" / SEEDS[0].stem / f"{SEEDS[0].stem}.critic.md").read_text(encoding="utf-8")
    article = SEEDS[0].read_text(encoding="utf-8")
    deletions = re.findall(r"\{--(.*?)--\}", critic, re.S)
    assert deletions and not any("\n" in d for d in deletions)
    # Every line of the article that is not a table row is its own paragraph.
    prose = [line for line in article.splitlines() if line.strip() and not line.lstrip().startswith("|")]
    paragraphs = [p for p in critic.split("\n\n") if p.strip()]
    assert len(paragraphs) >= len(prose) - len(deletions)
    assert ("\n\n\n" in critic) == ("\n\n\n" in article)   # a blank line already there is not doubled
    first, second = article.splitlines()[:2]
    assert critic.startswith(f"{first}\n\n")


class _Refusing:
    """The SDK client's stand-in: every POST is refused; ``on_post(n)`` runs first, n counting from 1."""

    def __init__(self, on_post=lambda n: None) -> None:
        self.posts = 0
        self.on_post = on_post

    def post(self, *args, **kwargs):
        self.posts += 1
        self.on_post(self.posts)
        exc = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
        exc.__cause__ = ConnectionRefusedError(111, "Connection refused")
        raise exc


def _refused_backend(tmp_path, client: _Refusing):
    """A backend over ``client`` with a one-slot limiter, and a request for it."""
    from rewriter.backends.base import ChatRequest
    from rewriter.backends.openai_compat import OpenAICompatible
    from rewriter.limiter import RateLimiter
    from rewriter.settings import Settings
    limiter = RateLimiter(in_flight=1)
    backend = OpenAICompatible(Settings.from_env(base_url="http://127.0.0.1:9/v1", model="m", cache_dir=tmp_path),
                               limiter=limiter)
    backend._client.get()
    backend._client._value = client
    request = ChatRequest(id="k", task="claims", body={"model": "m", "messages": []}, schema_hash="h", attempt=1)
    return backend, limiter, request


def test_a_refused_request_keeps_its_slot_for_its_quick_retry_and_then_closes_the_limiter(tmp_path):
    """At -j 1 the one slot stays with the refused request through its retry: the request waiting
    behind it never goes (it would meet the same refusal), and is stopped once the retry is refused too."""
    import threading

    import pytest

    from rewriter.backends.base import TransportError
    from rewriter.errors import Interrupted
    behind: list[str] = []

    def waiting_request():
        try:
            limiter.acquire()
            behind.append("sent")
            limiter.release()
        except Interrupted:
            behind.append("stopped")

    other = threading.Thread(target=waiting_request)

    def first_post(n: int) -> None:
        if n == 1:
            other.start()
            time.sleep(0.1)        # the other request is waiting for the slot by now

    client = _Refusing(first_post)
    backend, limiter, request = _refused_backend(tmp_path, client)
    with pytest.raises(TransportError, match=r"gave up after 2 request\(s\)"):
        backend.complete(request)
    other.join(5)
    assert client.posts == 2 and behind == ["stopped"]


def test_a_refused_request_is_not_retried_once_the_batch_is_stopping(tmp_path):
    """The slot kept for the quick retry is given back, and nothing sent, if the batch was
    interrupted meanwhile (no new request after a signal)."""
    import pytest

    from rewriter.errors import Interrupted
    client = _Refusing(lambda n: limiter.close())      # the batch is interrupted while the request is out
    backend, limiter, request = _refused_backend(tmp_path, client)
    with pytest.raises(Interrupted):
        backend.complete(request)
    assert client.posts == 1 and limiter._out == 0
