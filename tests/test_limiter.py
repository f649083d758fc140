"""The shared rate limiter, driven by a fake clock so no test sleeps for real."""

from __future__ import annotations

import threading

from rewriter.limiter import RateLimiter


class FakeClock:
    """A clock that advances only when the limiter waits on its condition."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter_with_fake_time(**kwargs) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, **kwargs)

    def wait(timeout=None):  # the condition's wait: advance the fake clock instead of sleeping
        clock.now += timeout or 0
        return False

    limiter._cond.wait = wait
    return limiter, clock


def test_requests_per_second_spaces_requests_evenly():
    limiter, clock = limiter_with_fake_time(requests_per_second=4)
    sent = []
    for _ in range(5):
        limiter.acquire()
        sent.append(clock.now)
    assert [round(b - a, 6) for a, b in zip(sent, sent[1:])] == [0.25] * 4


def test_tokens_per_minute_waits_for_the_bucket_to_refill():
    limiter, clock = limiter_with_fake_time(tokens_per_minute=6000)
    limiter.acquire(6000)          # the whole budget
    start = clock.now
    limiter.acquire(1000)          # 1000 tokens refill in 10 s at 100 tokens/s
    assert round(clock.now - start, 6) == 10.0


def test_record_charges_the_real_cost_in_place_of_the_estimate():
    limiter, clock = limiter_with_fake_time(tokens_per_minute=6000)
    limiter.acquire(1000)
    limiter.record(4000)           # the reply cost 3000 more than estimated
    start = clock.now
    limiter.acquire(3000)          # 2000 left; 1000 more need 10 s
    assert round(clock.now - start, 6) == 10.0


def test_a_request_larger_than_the_budget_still_goes_once_the_bucket_is_full():
    limiter, clock = limiter_with_fake_time(tokens_per_minute=600)
    start = clock.now
    limiter.acquire(5000)
    assert clock.now == start


def test_pause_holds_every_worker_until_retry_after_has_passed():
    limiter, clock = limiter_with_fake_time()
    limiter.pause(3.0)
    limiter.pause(1.0)             # a shorter pause never shortens a longer one
    start = clock.now
    limiter.acquire()
    assert round(clock.now - start, 6) == 3.0
    assert limiter.pauses == 1


def test_real_threads_share_one_pause():
    limiter = RateLimiter()
    limiter.pause(0.2)
    import time
    start = time.monotonic()
    threads = [threading.Thread(target=limiter.acquire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - start >= 0.19


def test_close_releases_waiting_workers_and_refuses_later_requests():
    import pytest

    from rewriter.errors import Interrupted

    limiter = RateLimiter()
    limiter.pause(30.0)            # every worker is waiting on a long Retry-After
    stopped = []

    def worker():
        try:
            limiter.acquire()
        except Interrupted:
            stopped.append(True)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    limiter.close()
    for t in threads:
        t.join(5)
    assert stopped == [True] * 4 and not any(t.is_alive() for t in threads)
    with pytest.raises(Interrupted, match="no new request"):
        limiter.acquire()


def test_in_flight_caps_the_requests_out_at_once_and_a_release_lets_the_next_go():
    limiter = RateLimiter(in_flight=2)
    limiter.acquire()
    limiter.acquire()
    third = threading.Thread(target=limiter.acquire)
    third.start()
    third.join(0.2)
    assert third.is_alive()            # both slots taken: the third request waits
    limiter.release()
    third.join(5)
    assert not third.is_alive()


def test_closing_stops_a_request_waiting_for_a_slot():
    from rewriter.errors import Interrupted
    limiter = RateLimiter(in_flight=1)
    limiter.acquire()
    raised = []

    def second():
        try:
            limiter.acquire()
        except Interrupted as exc:
            raised.append(exc)

    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.1)
    limiter.close()
    waiter.join(5)
    assert not waiter.is_alive() and len(raised) == 1


def test_requests_waiting_for_a_slot_go_by_rank_then_in_the_order_they_came():
    import time

    from rewriter.limiter import ranked
    limiter = RateLimiter(in_flight=1)
    limiter.acquire()                   # the one slot, taken
    went = []

    def request(rank: int, name: str) -> None:
        with ranked(rank):
            limiter.acquire()
        went.append(name)
        limiter.release()

    threads = []
    for rank, name in [(5, "late article"), (1, "early article, first"), (3, "middle"), (1, "early article, second")]:
        threads.append(threading.Thread(target=request, args=(rank, name)))
        threads[-1].start()
        time.sleep(0.05)                # each waiting before the next comes
    limiter.release()
    for t in threads:
        t.join(5)
    assert went == ["early article, first", "early article, second", "middle", "late article"]


def test_a_freed_slot_wakes_only_the_request_at_the_head_of_the_queue(monkeypatch):
    """Each waiting request sleeps on a condition of its own: a release wakes one thread, not every
    waiting one (at -j 64 one shared condition cost 180 context switches an article)."""
    import time

    from rewriter import limiter as limiter_module
    wakeups = []

    class Counted(threading.Condition):
        def wait(self, timeout=None):
            woken = super().wait(timeout)
            if threading.current_thread().name.startswith("request"):   # threading's own Events use it too
                wakeups.append(threading.current_thread().name)
            return woken

    monkeypatch.setattr(limiter_module.threading, "Condition", Counted)
    limiter = RateLimiter(in_flight=1)
    limiter.acquire()
    waiters = 20

    def request():
        limiter.acquire()
        limiter.release()

    threads = [threading.Thread(target=request, name=f"request {i}") for i in range(waiters)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(limiter._waiting) < waiters and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(limiter._waiting) == waiters
    limiter.release()                   # each request, once through, lets the next one go
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    # One wake-up per request when its turn comes (a spurious one or two at most); one shared
    # condition woke all of those still waiting at every release and every start (about 100 here).
    assert len(wakeups) <= waiters + 2, len(wakeups)
