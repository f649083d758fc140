"""Local work in turns: one article thread at a time runs the pipeline's Python, the others wait
on the model, the network or their turn.

Python runs one thread at a time anyway (the GIL), but hundreds of article threads all wanting it
pay for the privilege: every system call (each file written, each stat) hands the interpreter to
another thread and waits to get it back, and the Batch API path wakes a whole wave of threads at
once. Measured on 300 articles through the Batch API: 300 context switches an article without
turns, 33 with them, and a fifth less CPU. A thread that takes a turn keeps it until it waits on
something outside (:func:`waiting`), so the next thread starts where the last one stopped.

Both batch paths use it: the Batch API's article threads, and ``rewriter batch``'s workers, which
mostly wait on the model and otherwise fought over the interpreter the same way (-j 64 on 200
articles: 44 ms of CPU an article without turns, 38.5 with them).

The rule that keeps it from deadlocking: a thread holding a turn waits on nothing but local,
turn-free work (a lock held for a moment, the cache's own thread) except through :func:`waiting`.
The modules that wait on outside services (the backends, the HTTP fetcher) and the code that waits
on its own pool's tasks (``pipeline.in_chunk_order``) do so; a thread that holds no turn
(``rewriter run``, tests) is unaffected.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

_held = threading.local()


class Turns:
    """The turn that article threads share (one per batch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait for the turn; the calling thread holds it until :meth:`give` (or :func:`waiting`)."""
        if getattr(_held, "turns", None) is self:
            raise RuntimeError("this thread already holds its turn")
        self._lock.acquire()
        _held.turns = self

    def give(self) -> None:
        """Hand the turn on, if the calling thread holds it."""
        if getattr(_held, "turns", None) is self:
            _held.turns = None
            self._lock.release()

    @contextmanager
    def taken(self) -> Iterator[None]:
        """The block runs holding the turn (given back however it ends)."""
        self.take()
        try:
            yield
        finally:
            self.give()


    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a turn."""
        with self.taken():
            return fn(*args)


class InTurns(Executor):
    """A pool whose tasks run in ``turns``."""

    def __init__(self, pool: Executor, turns: Turns) -> None:
        self._pool = pool
        self._turns = turns

    def submit(self, fn, /, *args, **kwargs):
        return self._pool.submit(self._turns.run, functools.partial(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@contextmanager
def waiting() -> Iterator[None]:
    """Around a wait on something outside: the calling thread's turn, if it holds one, goes to
    another thread meanwhile and is taken back after."""
    turns = getattr(_held, "turns", None)
    if turns is None:
        yield
        return
    turns.give()
    try:
        yield
    finally:
        turns.take()
