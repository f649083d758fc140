"""One rate limiter shared by every worker of a batch.

Requests per second and tokens per minute are token buckets; a Retry-After
seen by any worker pauses them all, so concurrency never turns into a storm
of 429s. ``in_flight`` caps the requests out at once (``--concurrency``): a
batch runs more articles than that, so one article's local work never leaves a
request slot idle. Requests waiting for a slot go in the order of their
thread's rank (:func:`ranked`; a batch ranks articles in the order they start,
the longest first), then in the order they came: a long article's last request
goes before a short one's first, so the long ones end first and the last wave
is short. Closing it (an interrupted batch) lets no further request go.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .errors import Interrupted


_rank = threading.local()


@contextmanager
def ranked(rank: int) -> Iterator[None]:
    """Requests this thread sends in the block wait for a slot behind those of lower rank only."""
    outer = getattr(_rank, "value", 0)
    _rank.value = rank
    try:
        yield
    finally:
        _rank.value = outer


def current_rank() -> int:
    return getattr(_rank, "value", 0)


class RateLimiter:
    def __init__(self, requests_per_second: float = 0.0, tokens_per_minute: int = 0, *,
                 in_flight: int = 0, clock=time.monotonic) -> None:
        self.requests_per_second = requests_per_second
        self.tokens_per_minute = tokens_per_minute
        self.in_flight = in_flight       # 0: no cap
        self._out = 0
        # (rank, arrival, condition) of each request waiting for a slot: each waits on a condition of
        # its own, and only the head of the queue is woken when a slot frees. One shared condition
        # woke every waiting thread at every release, each to take the interpreter and sleep again:
        # at -j 64, 180 context switches an article.
        self._waiting: list[tuple[int, int, threading.Condition]] = []
        self._arrivals = itertools.count()
        self._clock = clock
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)   # waits on the rate, and requests with no cap
        now = clock()
        self._next_request = now
        self._tokens = float(tokens_per_minute)
        self._tokens_at = now
        self._paused_until = now
        self._estimates = threading.local()
        self.pauses = 0
        self.closed = False

    def _refill(self, now: float) -> None:
        if self.tokens_per_minute:
            rate = self.tokens_per_minute / 60.0
            self._tokens = min(float(self.tokens_per_minute), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now

    def _delay(self, now: float, tokens: int) -> float:
        """Seconds to wait before a request of ``tokens`` may go, 0 if it may go now."""
        delay = max(0.0, self._paused_until - now)
        if self.requests_per_second:
            delay = max(delay, self._next_request - now)
        if self.tokens_per_minute:
            # A request larger than the whole budget waits for a full bucket, then goes.
            need = min(tokens, self.tokens_per_minute)
            if self._tokens < need:
                delay = max(delay, (need - self._tokens) / (self.tokens_per_minute / 60.0))
        return delay

    def acquire(self, estimated_tokens: int = 0) -> None:
        """Block until one request of about ``estimated_tokens`` tokens may be sent; each acquire
        is matched by one :meth:`release` once the request has its answer (or failed).

        Raises :class:`~rewriter.errors.Interrupted` once the limiter is closed, waiters included.
        """
        with self._cond:
            ticket = None
            if self.in_flight:
                ticket = (current_rank(), next(self._arrivals), threading.Condition(self._lock))
                heapq.heappush(self._waiting, ticket)
            while True:
                if self.closed:
                    raise Interrupted("no new request: the batch is stopping")
                if ticket is not None and (self._out >= self.in_flight or self._waiting[0] is not ticket):
                    ticket[2].wait()      # woken at the head of the queue (release, the one ahead going) or by close()
                    continue
                now = self._clock()
                self._refill(now)
                delay = self._delay(now, estimated_tokens)
                if delay <= 0:
                    break
                self._cond.wait(delay)
            if self.requests_per_second:
                self._next_request = max(now, self._next_request) + 1.0 / self.requests_per_second
            self._tokens -= estimated_tokens
            self._estimates.value = estimated_tokens
            self._out += 1
            if ticket is not None:
                heapq.heappop(self._waiting)    # this request's, at the head: the next may take a free slot
                self._wake_head()

    def _wake_head(self) -> None:
        """The request now first in the queue looks again at the slots (the lock is held)."""
        if self._waiting:
            self._waiting[0][2].notify()

    def release(self) -> None:
        """The request let go by :meth:`acquire` is over: its slot is free for the next one."""
        with self._cond:
            self._out -= 1
            self._wake_head()
            self._cond.notify_all()   # a request with no cap may be waiting on the rate

    def record(self, tokens: int) -> None:
        """Charge what the request really cost, in place of this thread's estimate."""
        with self._cond:
            self._tokens -= tokens - getattr(self._estimates, "value", 0)
            self._estimates.value = 0

    def pause(self, seconds: float) -> None:
        """The server asked us to wait (Retry-After): every worker waits that long."""
        with self._cond:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1
            self._cond.notify_all()     # the waits on the rate look at the new pause

    def close(self) -> None:
        """Let no further request go: waiting workers and later ones get ``Interrupted``."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            for _, _, waiter in self._waiting:
                waiter.notify()
