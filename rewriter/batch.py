"""Every article of a folder through the pipeline, with bounded concurrency.

One bad article or failing call never stops the others. All workers share
one client and one rate limiter. Finished requests are cached, so an
interrupted batch run again completes without asking for them twice.

SIGINT and SIGTERM stop it the same way: no new article starts and no new
request is sent, the replies in flight land in the cache, summary.json lists
what was done and what was not run, and :class:`~rewriter.errors.Interrupted`
says so in one line. A second signal quits at once.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import console, jsontext
from .errors import InputError, Interrupted, OutputError, RewriterError
from .limiter import RateLimiter, current_rank, ranked
from .loader import atomic_write, discover
from .outdirs import check_writable, output_names
from .pipeline import RunOptions, run_article
from .settings import Settings
from .turns import InTurns, Turns


@dataclass
class ArticleOutcome:
    path: str
    ok: bool
    error: str | None = None
    findings: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    out_dir: str | None = None
    fatal: bool = False      # the error would stop every other article too

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BatchResult:
    outcomes: list[ArticleOutcome]
    seconds: float
    interrupted: bool = False

    @property
    def failed(self) -> list[ArticleOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def totals(self) -> dict[str, int]:
        keys = ("requests", "prompt_tokens", "completion_tokens", "cache_hits")
        return {k: sum(getattr(o, k) for o in self.outcomes) for k in keys}

    def summary(self) -> dict[str, Any]:
        return {
            "version": 1,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "articles": [o.to_dict() for o in self.outcomes],
            "failed": [o.path for o in self.failed],
            "interrupted": self.interrupted,
            "totals": {**self.totals(), "articles": len(self.outcomes), "seconds": round(self.seconds, 3)},
        }


def _outcome(path: Path, fn: Callable[[], Any]) -> ArticleOutcome | None:
    """What running one article came to; None if the batch stopped it before it finished."""
    start = time.perf_counter()
    try:
        result = fn()
    except Interrupted:
        return None
    except RewriterError as exc:
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        return ArticleOutcome(str(path), ok=False, error=message, seconds=time.perf_counter() - start,
                              fatal=getattr(exc, "fatal", False))
    except Exception as exc:  # one broken article must not stop the batch
        return ArticleOutcome(str(path), ok=False, error=f"{path}: unexpected {type(exc).__name__}: {exc}",
                              seconds=time.perf_counter() - start)
    report = result.report
    usage = report["usage"]
    errors = "; ".join(e["message"] for e in report["errors"]) or None
    return ArticleOutcome(
        str(path), ok=errors is None, error=errors and f"{path}: {errors}",
        findings=len(report["findings"]) + len(report["claims"]),
        statuses=dict(Counter(p["status"] for p in report["proposals"])),
        requests=usage["requests"], prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"], cache_hits=usage["cache_hits"],
        seconds=time.perf_counter() - start, out_dir=str(result.out_dir))


class _Signalled(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread like Ctrl-C so the batch unwinds the same way."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextmanager
def _signals_interrupt():
    """While the batch runs, SIGINT and SIGTERM raise :class:`_Signalled`; after the first one, a
    second signal of either kind quits at once (the default action). Signals the process was told
    to ignore stay ignored; off the main thread, nothing changes (Python allows no handler there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]

    def handler(signum, frame):
        for s in handled:
            signal.signal(s, signal.SIG_DFL)
        raise _Signalled(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in handled}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)   # None: not set from Python


def write_summary(out_root: Path, result: BatchResult, extra: dict[str, Any] | None = None) -> Path:
    """``out_root/summary.json``, written atomically.

    Tests hold it to ``schemas/summary.json`` (as they do report.json): checked here, on a thousand
    articles, jsonschema took a millisecond an article, more than writing it.
    """
    summary = {**result.summary(), **(extra or {})}
    path = out_root / "summary.json"
    # A file name with undecodable bytes holds lone surrogates: written as JSON escapes.
    data = (jsontext.dumps(summary) + "\n").encode("utf-8", "backslashreplace")
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the batch summary ({exc.strerror or exc}); "
                          "choose another --out folder") from None
    return path


def longest_first(paths: list[Path]) -> list[Path]:
    """The order articles start in: the largest files first (ties in the given order), so the last
    wave is made of short articles and no worker sits idle while one long article finishes."""
    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0      # run_article reports the error
    return sorted(paths, key=size, reverse=True)


def articles_of(folder: str | Path, options: RunOptions, on_start: Callable[[int], None] | None
                ) -> tuple[list[Path], dict[Path, str]]:
    """The articles under ``folder`` and their output folders' names, once ``--out`` is known to be
    writable (one line before any request); ``on_start`` hears how many there are."""
    folder = Path(folder)
    paths = discover([folder])
    if not paths:
        raise InputError(f"{folder}: no .txt, .md or .markdown article in this folder")
    check_writable(options.out_root)
    if on_start:
        on_start(len(paths))
    return paths, output_names(paths, folder)


class _Ranked(Executor):
    """A pool whose tasks send their requests with the rank of the thread that submitted them:
    a long article's chunks wait for a slot as the article itself would."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool

    def submit(self, fn, /, *args, **kwargs):
        rank = current_rank()

        def run():
            with ranked(rank):
                return fn(*args, **kwargs)
        return self._pool.submit(run)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def workers_for(concurrency: int) -> int:
    """Articles under way for ``concurrency`` requests in flight: twice as many.

    Between its requests an article does local work in turns with the others, and replies come
    in bunches; with a quarter more articles than slots, 200 articles at -j 16 still left slots
    idle for 0.5 s of a 30 s run (not counting the last wave), with twice as many 0.3 s.
    """
    return 2 * max(1, concurrency)


def run_batch(folder: str | Path, settings: Settings, options: RunOptions, *, concurrency: int = 4,
              on_start: Callable[[int], None] | None = None,
              on_done: Callable[[ArticleOutcome], None] | None = None) -> BatchResult:
    """Run every article under ``folder``; write ``<out_root>/summary.json`` even when interrupted.

    An error that every other article would meet too (key rejected, model not found, server
    unreachable) stops the batch: articles not yet started are reported as not run. SIGINT,
    SIGTERM or a KeyboardInterrupt stop it too (see the module's docstring), and end in
    :class:`~rewriter.errors.Interrupted` once summary.json is written. An ``--out`` that cannot
    be written is an :class:`~rewriter.errors.OutputError` before any request is made.
    """
    paths, names = articles_of(folder, options, on_start)
    asker = limiter = None
    if settings.model_enabled:
        from .asker import build_asker
        limiter = RateLimiter(settings.requests_per_second, settings.tokens_per_minute, in_flight=concurrency)
        asker = build_asker(settings, limiter=limiter)
    start = time.perf_counter()
    outcomes: dict[Path, ArticleOutcome] = {}
    # --concurrency is the number of requests in flight (the limiter's slots); more articles than
    # that are under way, so that while one article does its local work (detection, writing
    # its outputs) another has a request ready for the slot it would otherwise leave idle.
    pool = ThreadPoolExecutor(max_workers=workers_for(concurrency), thread_name_prefix="rewriter")
    # The chunks of long articles share one pool, their requests the same slots. Workers and chunks
    # do their local work in turns (rewriter/turns.py) and give the turn away while they wait (on
    # the model, or on their chunks), so a chunk waits only for a turn that no waiting thread
    # holds: no deadlock.
    turns = Turns()
    chunk_pool = InTurns(_Ranked(ThreadPoolExecutor(max_workers=max(1, concurrency),
                                                    thread_name_prefix="rewriter-chunk")), turns)
    stop = threading.Event()   # no article starts once set: a fatal error or an interrupt
    # Articles take their first turn in rank order, not in whichever order their threads wake:
    # the longest starts first, exactly (the pool hands them out in that order, so the one ahead
    # is always already under way, or over). Each waits on a gate of its own, opened by the one
    # ahead, so a start wakes one thread, not every thread waiting.
    gates: dict[int, threading.Event] = {}
    gates_lock = threading.Lock()

    def gate(rank: int) -> threading.Event:
        with gates_lock:
            return gates.setdefault(rank, threading.Event())

    def work(path: Path, rank: int) -> ArticleOutcome | None:
        if rank:
            gate(rank).wait()
            with gates_lock:
                del gates[rank]
        try:
            if stop.is_set():
                return None
            turns.take()
        finally:
            gate(rank + 1).set()
        try:
            with ranked(rank):
                outcome = _outcome(path, lambda: run_article(path, settings, options, asker=asker,
                                                             out_name=names[path], chunk_pool=chunk_pool))
        finally:
            turns.give()
        if outcome is not None and outcome.fatal:
            stop.set()
        return outcome

    def stop_all() -> None:
        stop.set()
        if limiter is not None:
            limiter.close()      # requests in flight finish; no new one is sent
        pool.shutdown(wait=False, cancel_futures=True)

    futures: dict[Path, Any] = {}
    stopped_by = interrupted_by = None

    def result_so_far() -> tuple[BatchResult, int]:
        """Every article: its outcome, or "not run" with the reason once the batch has stopped."""
        reason = (f"the batch stopped after: {stopped_by}" if stopped_by else
                  f"the batch was interrupted by {interrupted_by}" if interrupted_by else None)
        listed, not_run = [], 0
        for path in paths:
            future = futures.get(path)
            outcome = outcomes.get(path)
            if outcome is None and future is not None and future.done() and not future.cancelled():
                outcome = future.result()
            if outcome is None and reason:
                outcome = ArticleOutcome(str(path), ok=False, error=f"{path}: not run; {reason}")
                not_run += 1
            if outcome is not None:
                listed.append(outcome)
        return BatchResult(listed, time.perf_counter() - start, interrupted_by is not None), not_run

    with _signals_interrupt():
        try:
            for rank, path in enumerate(longest_first(paths)):
                futures[path] = pool.submit(work, path, rank)
            path_of = {future: path for path, future in futures.items()}
            for future in as_completed(path_of):
                outcome = future.result()
                if outcome is None:
                    continue
                outcomes[path_of[future]] = outcome
                if on_done:
                    on_done(outcome)
                if outcome.fatal:
                    stopped_by = outcome.error
                    stop_all()
                    break
        except KeyboardInterrupt as exc:
            interrupted_by = exc.name if isinstance(exc, _Signalled) else "SIGINT"
            stop_all()
            # Written now, in case the wait below is cut short by a second signal or a SIGKILL.
            write_summary(options.out_root, result_so_far()[0])
            in_flight = sum(1 for f in futures.values() if f.running())
            if in_flight:
                console.status(f"interrupted by {interrupted_by}: no new request is sent; waiting for the "
                               f"replies of {in_flight} article(s) in flight (a second signal quits at once)")
        finally:
            # Articles in flight finish their current request (its reply lands in the cache).
            pool.shutdown(wait=True, cancel_futures=True)
            chunk_pool.shutdown(wait=True)
            if asker is not None:
                asker.close()
            result, not_run = result_so_far()
            summary_path = write_summary(options.out_root, result)
    if interrupted_by:
        error = Interrupted(f"batch interrupted by {interrupted_by}: {len(paths) - not_run} of {len(paths)} "
                            f"article(s) done, {not_run} not run (listed in {summary_path}); run the same "
                            "command again to resume: finished requests come from the cache")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result
