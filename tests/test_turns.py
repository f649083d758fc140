"""Local work in turns (rewriter/turns.py): one article thread at a time, except while it waits."""

from __future__ import annotations

import threading
import time

import pytest

from rewriter import claims, corrections, turns
from rewriter.batch import run_batch, workers_for
from rewriter.pipeline import RunOptions
from rewriter.turns import Turns, waiting
from tests.fake_llm import FakeLLM, auto_reply
from tests.test_batch_api import FAST, SEEDS, batch_api


class Inside:
    """How many threads are inside the wrapped functions at once, at most."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def wrap(self, fn):
        def inside(*args, **kwargs):
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.001)     # hands the interpreter to any other thread that could run
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1
        return inside


def test_a_thread_that_waits_lets_the_next_one_work():
    shared, order = Turns(), []
    started = threading.Event()

    def first():
        with shared.taken():
            order.append("first works")
            with waiting():
                started.set()
                time.sleep(0.05)          # the second one works meanwhile
            order.append("first again")

    def second():
        started.wait()
        with shared.taken():
            order.append("second works")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == ["first works", "second works", "first again"]


def test_waiting_without_a_turn_changes_nothing_and_a_turn_is_not_taken_twice():
    with waiting():
        pass
    shared = Turns()
    with shared.taken():
        with pytest.raises(RuntimeError, match="already holds"):
            shared.take()
    assert getattr(turns._held, "turns", None) is None


def test_batch_api_articles_do_their_local_work_one_at_a_time(tmp_path, monkeypatch):
    inside = Inside()
    monkeypatch.setattr(claims, "messages_for", inside.wrap(claims.messages_for))
    monkeypatch.setattr(corrections, "build_messages", inside.wrap(corrections.build_messages))
    with FakeLLM(responder=auto_reply, batch_latency=0.05) as fake:
        result = batch_api(fake, tmp_path, options=FAST)
    assert all(o.ok for o in result.outcomes) and len(result.outcomes) == 5
    assert inside.most == 1


def test_batch_workers_do_their_local_work_one_at_a_time_and_wait_in_parallel(tmp_path, monkeypatch):
    inside, answering = Inside(), Inside()
    monkeypatch.setattr(claims, "messages_for", inside.wrap(claims.messages_for))
    monkeypatch.setattr(corrections, "build_messages", inside.wrap(corrections.build_messages))
    slow = answering.wrap(lambda body: time.sleep(0.2) or auto_reply(body))   # the server's side
    with FakeLLM(responder=slow) as fake:
        result = run_batch(SEEDS, fake.settings(cache_dir=tmp_path / "cache"), RunOptions(out_root=tmp_path / "out"),
                           concurrency=5)
    assert all(o.ok for o in result.outcomes) and len(result.outcomes) == 5
    assert inside.most == 1          # local work in turns
    assert answering.most >= 3       # while requests waited side by side


def test_batch_keeps_concurrency_requests_in_flight_and_never_more(tmp_path):
    """-j is the requests in flight: a few more articles than that are under way (workers_for), so
    a slot is not left idle while an article works locally, yet the server never sees more."""
    answering = Inside()
    slow = answering.wrap(lambda body: time.sleep(0.2) or auto_reply(body))
    with FakeLLM(responder=slow) as fake:
        result = run_batch(SEEDS, fake.settings(cache_dir=tmp_path / "cache"), RunOptions(out_root=tmp_path / "out"),
                           concurrency=2)
    assert all(o.ok for o in result.outcomes) and len(result.outcomes) == 5
    assert workers_for(2) == 4
    assert answering.most == 2
