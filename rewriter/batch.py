"""Every article of a folder through the pipeline, with bounded concurrency.

One bad article or failing call never stops the others. All workers share
one client and one rate limiter. Finished requests are cached, so an
interrupted batch run again completes without asking for them twice.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InputError, RewriterError
from .limiter import RateLimiter
from .loader import atomic_write_text, discover
from .outdirs import output_names
from .pipeline import RunOptions, run_article
from .resources import validate
from .settings import Settings


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


def _outcome(path: Path, fn: Callable[[], Any]) -> ArticleOutcome:
    start = time.perf_counter()
    try:
        result = fn()
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


def run_batch(folder: str | Path, settings: Settings, options: RunOptions, *, concurrency: int = 4,
              on_start: Callable[[int], None] | None = None,
              on_done: Callable[[ArticleOutcome], None] | None = None) -> BatchResult:
    """Run every article under ``folder``; write ``<out_root>/summary.json`` even when interrupted.

    An error that every other article would meet too (key rejected, model not found, server
    unreachable) stops the batch: articles not yet started are reported as not run.
    """
    folder = Path(folder)
    paths = discover([folder])
    if not paths:
        raise InputError(f"{folder}: no .txt, .md or .markdown article in this folder")
    if on_start:
        on_start(len(paths))
    names = output_names(paths, folder)
    llm = None
    if settings.model_enabled:
        from .client import build_client
        limiter = RateLimiter(settings.requests_per_second, settings.tokens_per_minute)
        llm = build_client(settings, limiter=limiter)
    start = time.perf_counter()
    outcomes: dict[Path, ArticleOutcome] = {}
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="rewriter")
    stop = threading.Event()   # set by the first error that every other article would meet too

    def work(path: Path) -> ArticleOutcome | None:
        if stop.is_set():
            return None
        outcome = _outcome(path, lambda: run_article(path, settings, options, llm=llm, out_name=names[path]))
        if outcome.fatal:
            stop.set()
        return outcome

    futures = {pool.submit(work, p): p for p in paths}
    stopped_by = None
    try:
        for future in as_completed(futures):
            outcome = future.result()
            if outcome is None:
                continue
            outcomes[futures[future]] = outcome
            if on_done:
                on_done(outcome)
            if outcome.fatal:
                stopped_by = outcome.error
                break
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # Articles in flight finish (their replies land in the cache); those not started never start.
        pool.shutdown(wait=True, cancel_futures=True)
        for future, path in futures.items():
            if path not in outcomes and future.done() and not future.cancelled() and future.result():
                outcomes[path] = future.result()
            elif path not in outcomes and stopped_by:
                outcomes[path] = ArticleOutcome(str(path), ok=False,
                                                error=f"{path}: not run; the batch stopped after: {stopped_by}")
        result = BatchResult([outcomes[p] for p in paths if p in outcomes], time.perf_counter() - start,
                             interrupted)
        summary = result.summary()
        validate(summary, "summary")
        atomic_write_text(options.out_root / "summary.json", json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        if llm is not None:
            llm.close()
    return result
