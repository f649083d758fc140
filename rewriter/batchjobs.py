"""`rewriter batch --via batch-api`: every article's requests through Mistral's Batch API, in waves.

Each article runs the same pipeline as the synchronous batch, in its own thread, over a
:class:`~rewriter.backends.batch_api.BatchBackend`: a request waits there instead of being sent.
Once no article can go on (each one waits for a reply, or is done), the waiting requests are a
wave: uploaded as JSONL (``custom_id`` = the reply cache key, ``body`` = the exact request the
synchronous path sends), run as one job per :data:`MAX_REQUESTS` requests or :data:`MAX_BYTES`
bytes, polled with back-off, and their results handed back; the articles go on to their next
request (the corrections after the claims), which makes the next wave. Re-asks for invalid
replies join the next wave too: waves happen anyway (claims, then corrections), so a re-ask costs
no extra job unless it is the last stage's, and it keeps the half price.

The job state is saved in ``OUT/.batch-api/state.json`` after every step (upload, job creation,
each poll, download), and every downloaded result in ``OUT/.batch-api/results/``: run the same
command again after an interruption and nothing already submitted is submitted again, nothing
already downloaded is downloaded again, and replies in the reply cache are never asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import console
from .backends.batch_api import FINISHED, BatchBackend, JobsClient, read_lines
from .batch import (ArticleOutcome, BatchResult, _outcome, _Signalled, _signals_interrupt, articles_of, longest_first,
                    write_summary)
from .errors import InputError, Interrupted, RewriterError
from .loader import atomic_write
from .pipeline import RunOptions, run_article
from .settings import Settings
from .turns import Turns

STATE_DIR = ".batch-api"
# Conservative defaults, both settable (--max-requests, --max-bytes): Mistral documents at most
# 10,000 inline requests per job and 512 MB per uploaded file; a job of 10,000 requests of a few
# kilobytes each stays far below that file size.
MAX_REQUESTS = 10_000
MAX_BYTES = 100 * 1024 * 1024
# Articles held in memory (and threads) at once; the next group starts when one is done.
GROUP = 1000
POLL_CAP = 60.0


@dataclass
class JobOptions:
    poll_every: float = 5.0          # first wait between polls; grows by half each time, up to POLL_CAP
    timeout_hours: int = 24
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES
    group: int = GROUP
    # Price per million tokens (input, output) for the cost estimate, and the Batch API's share of it.
    price_input: float | None = None
    price_output: float | None = None
    batch_share: float = 0.5


class JobState:
    """``OUT/.batch-api/state.json``: every job this folder's batch submitted, saved after each step."""

    def __init__(self, out_root: Path):
        self.folder = out_root / STATE_DIR
        self.path = self.folder / "state.json"
        self.jobs: list[dict[str, Any]] = []
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.jobs = list(data["jobs"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{self.path}: the saved Batch API state cannot be read ({exc}); move it aside "
                                 "to start over (jobs already submitted are then submitted again)") from None

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps({"version": 1, "jobs": self.jobs}, indent=2) + "\n").encode())

    def results_path(self, job: dict) -> Path:
        return self.folder / "results" / f"{job['id']}.jsonl"

    def in_flight(self) -> list[dict]:
        return [job for job in self.jobs if not job.get("collected")]


class Jobs:
    """Submits waves, polls and collects jobs, and hands results to the backend."""

    def __init__(self, state: JobState, client: JobsClient, backend: BatchBackend, options: JobOptions,
                 metadata: dict[str, str]):
        self.state, self.client, self.backend, self.options = state, client, backend, options
        self.metadata = metadata
        self.submitted_now: list[str] = []

    def load_collected(self) -> None:
        """Results downloaded by an earlier command: served again, never asked for again."""
        for job in self.state.jobs:
            if job.get("collected"):
                try:
                    data = self.state.results_path(job).read_bytes()
                except OSError:
                    job["collected"] = False      # downloaded once, lost since: download again
                    continue
                self.backend.deliver(read_lines(data, job["id"]))

    def wave(self, pending: dict[str, dict]) -> None:
        """Submit what is waiting and not already in a job; then collect every job in flight."""
        taken = {cid for job in self.state.in_flight() for cid in job["ids"]}
        fresh = {cid: body for cid, body in pending.items() if cid not in taken}
        for ids, data in _split(fresh, self.options.max_requests, self.options.max_bytes):
            job = {"id": None, "file": None, "ids": ids, "status": "NEW", "collected": False,
                   "wave": 1 + max((j.get("wave", 0) for j in self.state.jobs), default=0)}
            self.state.jobs.append(job)
            self._upload(job, data)
        for job in self.state.in_flight():
            if job["file"] is None:
                continue      # its upload never finished (interrupted): its requests are waiting again
            if job["id"] is None:
                self._create(job)
        self._collect([job for job in self.state.in_flight() if job["id"] is not None])
        unanswered = {cid: "not in the jobs submitted" for cid in pending if not self.backend.known(cid)}
        for job in self.state.jobs:
            if job.get("collected"):
                for cid in job["ids"]:
                    if cid in unanswered:
                        unanswered[cid] = f"job {job['id']} ended {job['status']} without answering it"
        self.backend.deliver([], unanswered)

    def _upload(self, job: dict, data: bytes) -> None:
        name = f"rewriter-wave{job['wave']}-{len(self.state.jobs)}.jsonl"
        uploaded = self.client.upload(name, data)
        job["file"], job["status"] = uploaded["id"], "UPLOADED"
        job["bytes"] = len(data)
        self.state.save()

    def _create(self, job: dict) -> None:
        created = self.client.create_job(job["file"], self.metadata, self.options.timeout_hours)
        job["id"], job["status"] = created["id"], created.get("status", "QUEUED")
        job["submitted_at"] = time.time()
        self.submitted_now.append(job["id"])
        self.state.save()
        console.status(f"Batch API: job {job['id']} submitted ({len(job['ids'])} request(s))")

    def _collect(self, jobs: list[dict]) -> None:
        wait = self.options.poll_every
        while jobs:
            for job in list(jobs):
                seen = self.client.job(job["id"])
                _update(job, seen)
                if job["status"] in FINISHED:
                    self._download(job, seen)
                    jobs.remove(job)
            self.state.save()
            if jobs:
                done = sum(j.get("counts", {}).get("completed", 0) for j in jobs)
                total = sum(len(j["ids"]) for j in jobs)
                failed = sum(j.get("counts", {}).get("failed", 0) for j in jobs)
                console.status(f"Batch API: {len(jobs)} job(s) running · {done}/{total} requests done · "
                               f"{failed} failed · next check in {wait:.1f} s", style="dim")
                time.sleep(wait)
                wait = min(POLL_CAP, wait * 1.5)

    def _download(self, job: dict, seen: dict) -> None:
        data = b""
        for key in ("output_file", "error_file"):
            if seen.get(key):
                part = self.client.download(seen[key])
                data += part if part.endswith(b"\n") or not part else part + b"\n"
        path = self.state.results_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        job["collected"], job["collected_at"] = True, time.time()
        results = read_lines(data, job["id"])
        usage = [r.body.get("usage") or {} for r in results if isinstance(r.body, dict)]
        job["prompt_tokens"] = sum(int(u.get("prompt_tokens") or 0) for u in usage)
        job["completion_tokens"] = sum(int(u.get("completion_tokens") or 0) for u in usage)
        self.state.save()
        self.backend.deliver(results)

    def cancel(self) -> list[dict]:
        for job in self.state.in_flight():
            if job["id"] is not None:
                _update(job, self.client.cancel(job["id"]))
        self.state.save()
        return self.state.jobs

    def refresh(self) -> list[dict]:
        for job in self.state.in_flight():
            if job["id"] is not None:
                _update(job, self.client.job(job["id"]))
        self.state.save()
        return self.state.jobs


def _update(job: dict, seen: dict) -> None:
    job["status"] = str(seen.get("status") or job["status"])
    job["counts"] = {key: int(seen.get(f"{key}_requests") or 0) for key in ("total", "completed", "succeeded",
                                                                           "failed")}
    if seen.get("errors"):
        job["errors"] = seen["errors"]


def _split(requests: dict[str, dict], max_requests: int, max_bytes: int):
    """JSONL files of at most ``max_requests`` lines and ``max_bytes`` bytes each."""
    ids: list[str] = []
    lines: list[bytes] = []
    size = 0
    for cid, body in requests.items():
        line = (json.dumps({"custom_id": cid, "body": body}, ensure_ascii=False) + "\n").encode("utf-8")
        if ids and (len(ids) >= max_requests or size + len(line) > max_bytes):
            yield ids, b"".join(lines)
            ids, lines, size = [], [], 0
        ids.append(cid)
        lines.append(line)
        size += len(line)
    if ids:
        yield ids, b"".join(lines)


class _Counted:
    """A thread pool that counts the work it holds (queued or running, not waiting on the model),
    so the driver knows when every article waits: then the wave is complete. Its tasks run in
    ``turns`` (rewriter/turns.py): one at a time, except while they wait."""

    def __init__(self, backend: BatchBackend, turns: Turns, workers: int, prefix: str):
        self.backend = backend
        self.turns = turns
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix)

    def submit(self, fn, *args):
        self.backend.add_running(1)

        def run():
            try:
                return self.turns.run(fn, *args)
            finally:
                self.backend.add_running(-1)
        return self._pool.submit(run)

    @contextmanager
    def parked(self):
        """The caller waits on this pool's futures: it is not work the wave must wait for."""
        self.backend.add_running(-1)
        try:
            yield
        finally:
            self.backend.add_running(1)

    def shutdown(self, **kwargs) -> None:
        self._pool.shutdown(**kwargs)


def run_batch_api(folder: str | Path, settings: Settings, options: RunOptions, jobs_options: JobOptions, *,
                  on_start: Callable[[int], None] | None = None,
                  on_done: Callable[[ArticleOutcome], None] | None = None) -> BatchResult:
    """Every article under ``folder`` through the Batch API; ``OUT/summary.json`` even when interrupted."""
    from .asker import build_asker

    folder = Path(folder)
    paths, names = articles_of(folder, options, on_start)
    backend = BatchBackend(settings)
    client = JobsClient(settings)
    state = JobState(options.out_root)
    jobs = Jobs(state, client, backend, jobs_options, metadata={"tool": "rewriter", "folder": folder.name[:100]})
    jobs.load_collected()
    asker = build_asker(settings, backend=backend)
    start = time.perf_counter()
    outcomes: dict[Path, ArticleOutcome] = {}
    order = longest_first(paths)
    interrupted_by = None
    stopped_by = None
    with _signals_interrupt():
        try:
            for first in range(0, len(order), max(1, jobs_options.group)):
                group = order[first:first + jobs_options.group]
                stopped_by = _run_group(group, settings, options, asker, backend, jobs, names,
                                        outcomes, on_done)
                if stopped_by:
                    break
        except KeyboardInterrupt as exc:
            interrupted_by = exc.name if isinstance(exc, _Signalled) else "SIGINT"
            backend.stop(f"the batch was interrupted by {interrupted_by}")
        except RewriterError as exc:
            stopped_by = str(exc)
            backend.stop(stopped_by)
        finally:
            asker.close()
            client.close()
            result = _result(paths, outcomes, start, interrupted_by, stopped_by)
            summary_path = write_summary(options.out_root, result, extra={"batch_api": _report(state, jobs,
                                                                                                jobs_options)})
    if interrupted_by:
        raise Interrupted(f"batch interrupted by {interrupted_by}: the job state is saved in {state.path}; run the "
                          "same command again to resume without submitting anything twice "
                          f"(summary in {summary_path})")
    return result


def _run_group(group, settings, options, asker, backend, jobs, names, outcomes, on_done) -> str | None:
    turns = Turns()
    pool = _Counted(backend, turns, max(1, len(group)), "rewriter")
    chunk_pool = _Counted(backend, turns, 4096, "rewriter-chunk")
    futures = {}
    finished: queue.SimpleQueue = queue.SimpleQueue()    # futures as they end, so the driver never scans them all
    try:
        for path in group:
            future = pool.submit(lambda p=path: _outcome(p, lambda: run_article(
                p, settings, options, asker=asker, out_name=names[p], chunk_pool=chunk_pool)))
            futures[future] = path
            future.add_done_callback(finished.put)
        while futures:
            while not finished.empty():
                future = finished.get()
                outcome = future.result()
                path = futures.pop(future)
                if outcome is not None:
                    outcomes[path] = outcome
                    if on_done:
                        on_done(outcome)
                    if outcome.fatal:
                        backend.stop(outcome.error or "a fatal error")
                        return outcome.error
            waiting = backend.wave_ready(timeout=0.05)
            if waiting:
                jobs.wave(waiting)
    except BaseException as exc:
        # Articles waiting for a reply end now (recording why), so the pools below can shut down.
        backend.stop("the batch was interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc))
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        chunk_pool.shutdown(wait=True)
    return None


def _result(paths, outcomes, start, interrupted_by, stopped_by) -> BatchResult:
    reason = (f"the batch stopped after: {stopped_by}" if stopped_by else
              f"the batch was interrupted by {interrupted_by}" if interrupted_by else None)
    listed = []
    for path in paths:
        outcome = outcomes.get(path)
        if outcome is None and reason:
            outcome = ArticleOutcome(str(path), ok=False, error=f"{path}: not run; {reason}")
        if outcome is not None:
            listed.append(outcome)
    return BatchResult(listed, time.perf_counter() - start, interrupted_by is not None)


def _report(state: JobState, jobs: Jobs, options: JobOptions) -> dict[str, Any]:
    """Jobs, counts, tokens, time from submit to collect, and the cost next to the synchronous cost."""
    listed = []
    for job in state.jobs:
        seconds = (round(job["collected_at"] - job["submitted_at"], 3)
                   if job.get("collected_at") and job.get("submitted_at") else None)
        listed.append({"id": job["id"], "input_file": job["file"], "status": job["status"], "wave": job.get("wave"),
                       "requests": len(job["ids"]), "counts": job.get("counts", {}),
                       "prompt_tokens": job.get("prompt_tokens", 0), "completion_tokens": job.get("completion_tokens", 0),
                       "seconds_submit_to_collect": seconds, "submitted_by_this_command": job["id"] in jobs.submitted_now})
    prompt = sum(j["prompt_tokens"] for j in listed)
    completion = sum(j["completion_tokens"] for j in listed)
    cost = None
    if options.price_input is not None and options.price_output is not None:
        sync = (prompt * options.price_input + completion * options.price_output) / 1_000_000
        cost = {"price_input_per_million": options.price_input, "price_output_per_million": options.price_output,
                "batch_share": options.batch_share, "synchronous": round(sync, 6),
                "batch_api": round(sync * options.batch_share, 6)}
    return {"jobs": listed, "prompt_tokens": prompt, "completion_tokens": completion, "cost": cost,
            "http_calls": jobs.client.calls,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def job_lines(jobs: list[dict]) -> list[str]:
    """`--status` and `--cancel`: one line per job."""
    if not jobs:
        return ["no Batch API job recorded for this --out folder"]
    lines = []
    for job in jobs:
        counts = job.get("counts") or {}
        lines.append(f"{job['id'] or '(not created)'}  {job['status']:<22} wave {job.get('wave', '?')}  "
                     f"{counts.get('succeeded', 0)} ok / {counts.get('failed', 0)} failed of {len(job['ids'])}"
                     + ("  collected" if job.get("collected") else ""))
    return lines


def open_jobs(settings: Settings, out_root: Path) -> Jobs:
    """The saved jobs of ``out_root`` with a client to ask about them (for --status and --cancel)."""
    state = JobState(out_root)
    return Jobs(state, JobsClient(settings), BatchBackend(settings), JobOptions(), metadata={})

