"""One article through the whole pipeline: detect → claims → evidence → corrections → verify → emit."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from . import __version__, claims, corrections, detect, emit, evidence, figures, jsontext, research, verify
from .errors import OutputError
from .loader import Article, atomic_write_text, load, repo_root_of
from .models import Finding, Proposal
from .outdirs import check_inside, output_name
from .settings import Settings
from .text import chunks, language, stated_date
from .turns import waiting

# Articles up to this many words go to the model in one piece: two requests in all.
MAX_CHUNK_WORDS = 3000
# Chunks of one long article asked at once by `rewriter run` (batch uses its --concurrency):
# a 100,000-word article has 34, whose corrections replies take seconds each.
CHUNK_WORKERS = 32


@dataclass
class RunOptions:
    out_root: Path = Path("out")
    sources_dir: Path | None = None
    fetch: bool = False
    encoding: str = "utf-8"
    today: dt.date | None = None
    # Pages read per query and per article (searches are bounded by the settings).
    pages_per_query: int = research.PAGES_PER_QUERY
    pages_per_article: int = research.PAGES_PER_ARTICLE
    # Tokens of evidence offered per finding (None: evidence.EVIDENCE_TOKENS).
    evidence_tokens: int | None = None


@dataclass
class RunResult:
    report: dict[str, Any]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)


class _Stages:
    """Wall time per stage, for the report; ``on_stage`` hears each stage begin (for progress)."""

    def __init__(self, on_stage: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_stage = on_stage

    @contextmanager
    def __call__(self, name: str):
        if self.on_stage:
            self.on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


def repo_relative(path: Path) -> str:
    """The article's path as git sees it from the enclosing repository's root (or as given)."""
    root = repo_root_of(path.parent)
    return path.resolve().relative_to(root).as_posix() if root else path.as_posix()


def run_article(path: str | Path, settings: Settings, options: RunOptions | None = None,
                asker=None, on_stage: Callable[[str], None] | None = None, out_name: str | None = None,
                chunk_pool: Executor | None = None) -> RunResult:
    """Run every stage on one article and write ``out/<stem>/`` (or ``out/<out_name>/``).

    The folder's name comes from :func:`rewriter.outdirs.output_name` (batch passes
    :func:`rewriter.outdirs.output_names`), so it stays inside ``options.out_root``.

    ``asker`` may be shared (batch). A key, model or server error that every later request would
    meet too is raised; any other failure of a model stage is recorded in the report.

    An article longer than one chunk has its chunks asked in parallel: on ``chunk_pool`` (batch
    shares one among its workers, so the chunks of long articles never multiply its concurrency),
    else on a pool of :data:`CHUNK_WORKERS` threads of its own. Results are taken in chunk order,
    so the report is the same as if the chunks had been asked one after another.
    """
    options = options or RunOptions()
    if asker is None and settings.model_enabled:
        from .asker import build_asker
        with build_asker(settings) as own:
            return _run(path, settings, options, own, on_stage, out_name, chunk_pool)
    return _run(path, settings, options, asker, on_stage, out_name, chunk_pool)


def in_chunk_order(fn: Callable[[Any], Any], items: list, pool: Executor | None) -> list:
    """``[fn(item) for item in items]``, run on ``pool`` when there is more than one item.

    The first exception (in item order) is raised once every item has finished or been cancelled,
    so no request is left running behind the caller's back.
    """
    if pool is None or len(items) < 2:
        return [fn(item) for item in items]
    futures = [pool.submit(fn, item) for item in items]
    try:
        # A pool that counts its work (the Batch API's waves) is told its submitter only waits, and
        # the submitter's turn (rewriter/turns.py) goes to the items meanwhile.
        with getattr(pool, "parked", nullcontext)(), waiting():
            return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)
        raise


class _OneAtATime:
    """The article's evidence as the corrections stage reads it, one chunk's thread at a time: its
    snippet index is built on first use and records what was offered. Picking snippets is local
    work, so the lock costs nothing the GIL would not; the requests still go in parallel."""

    def __init__(self, evidence) -> None:
        self._evidence = evidence
        self._lock = threading.Lock()

    def snippets_for(self, *args, **kwargs):
        with self._lock:
            return self._evidence.snippets_for(*args, **kwargs)

    def origin(self, *args, **kwargs):
        with self._lock:
            return self._evidence.origin(*args, **kwargs)


def _run(path, settings: Settings, options: RunOptions, asker, on_stage, out_name, chunk_pool) -> RunResult:
    article = load(path, options.encoding)
    out_dir = options.out_root / (out_name or output_name(article.path))
    check_inside(options.out_root, out_dir)
    spans = chunks(article.text, MAX_CHUNK_WORDS)
    own_pool = None
    if settings.model_enabled and chunk_pool is None and len(spans) > 1:
        chunk_pool = own_pool = ThreadPoolExecutor(max_workers=min(CHUNK_WORKERS, len(spans)),
                                                   thread_name_prefix="rewriter-chunk")
    try:
        return _stages(article, settings, options, asker, _Stages(on_stage), out_dir, spans, chunk_pool)
    finally:
        if own_pool is not None:
            own_pool.shutdown(wait=True, cancel_futures=True)


def _stages(article: Article, settings: Settings, options: RunOptions, asker, stage: _Stages, out_dir: Path,
            spans: list[tuple[int, int]], chunk_pool: Executor | None) -> RunResult:
    text = article.text
    online = settings.model_enabled
    with stage("detect"):
        detection = detect.detect(text)
    findings: list[Finding] = list(detection.findings)
    ctx = claims.ArticleContext(today=(options.today or dt.date.today()).isoformat(),
                                language=language(text), date=stated_date(text))
    calls: list = []
    errors: list[dict[str, str]] = []
    claim_findings: list[Finding] = []
    plan: list = []
    if online:
        with stage("claims"):
            # Chunks are disjoint and a claim lies inside its chunk, so no chunk's claims can
            # overlap another's: each chunk needs only the detector findings as ``taken``.
            taken = [(f.start, f.end) for f in findings]
            gaps = [f for f in findings if f.kind in claims.GAP_KINDS]

            def claims_of(chunk):
                in_chunk = [g for g in gaps if chunk[0] <= g.start < chunk[1]]
                return claims.find_claims(asker, text, chunk, ctx, taken, in_chunk)

            for result in in_chunk_order(claims_of, spans, chunk_pool):
                calls += result.calls
                claim_findings += result.claims
                plan += result.plan
                if result.error:
                    errors.append({"stage": "claims", "message": result.error})
        if any(not call.cached for call in calls):
            # The model is answering, not the cache: the corrections take seconds, and a first chart
            # would start the chart engine (850 ms) only after them.
            figures.expect_charts(findings)

    with stage("evidence"):
        gathered = evidence.gather(text, detection.references, sources_dir=options.sources_dir,
                                   fetch=options.fetch and not settings.offline, settings=settings,
                                   evidence_dir=out_dir / "evidence")

    searched = None
    if online and settings.research and plan:
        with stage("research"):
            searched = _research(plan, gathered, settings, options)
            calls += searched.calls

    everything = sorted(findings + claim_findings, key=lambda f: f.start)
    proposals: list[Proposal] = []
    terms = research.terms_for(plan, claim_findings)
    offered: dict[str, list[str]] = {}
    with stage("corrections"):
        if online:
            shared = _OneAtATime(gathered) if chunk_pool is not None and len(spans) > 1 else gathered

            def proposals_of(chunk):
                in_chunk = [f for f in everything if chunk[0] <= f.start < chunk[1]]
                return corrections.propose(asker, text, chunk, in_chunk, ctx, shared,
                                           evidence_tokens=options.evidence_tokens, terms=terms)

            for result in in_chunk_order(proposals_of, spans, chunk_pool):
                offered.update(result.offered)
                calls += result.calls
                proposals += result.proposals
                if result.error:
                    errors.append({"stage": "corrections", "message": result.error})
        else:
            proposals = corrections.offline_proposals(everything)

    by_id = {f.id: f for f in everything}
    with stage("verify"):
        proposals = verify.verify(text, by_id, proposals, gathered)
        charts = Path(settings.cache_dir) / "charts" if settings.use_cache else None
        proposals = figures.fill(text, by_id, proposals, gathered, out_dir / figures.FIGURES_DIR, charts,
                                 lang=ctx.language)
    gathered.close()

    repo_path = repo_relative(article.path)
    try:
        with stage("emit"):
            files = emit.write_outputs(out_dir, article, by_id, proposals, repo_path=repo_path)
        if searched is not None:
            searched.attach_offered(offered)
        report = build_report(article, repo_path, ctx, settings, findings, claim_findings, detection.references,
                              gathered, proposals, errors, calls, stage.seconds, online, plan, searched)
        files["report"] = out_dir / "report.json"
        # Tests hold the report to schemas/report.json; validating it on every run would cost more
        # than all the other local work together.
        atomic_write_text(files["report"], jsontext.dumps(report) + "\n", durable=False)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write results ({exc.strerror or exc}); "
                          "choose another --out folder") from None
    return RunResult(report=report, out_dir=out_dir, files=files)


def _research(plan, gathered, settings: Settings, options: RunOptions) -> research.ResearchResult:
    """Build the providers for this article and run the research stage over them."""
    from .search import Searcher, build_providers

    limits = replace(research.Limits.from_settings(settings), pages_per_query=options.pages_per_query,
                     pages_per_article=options.pages_per_article)
    searcher = Searcher(build_providers(settings), settings)
    try:
        return research.research(plan, gathered, searcher, limits=limits)
    finally:
        searcher.close()


def usage_summary(calls: list, settings: Settings) -> dict[str, Any]:
    from .backends.base import redact_url
    made = [c for c in calls if not c.cached]
    return {
        "model": settings.model,
        "base_url": redact_url(settings.base_url),
        "requests": len(made),
        "prompt_tokens": sum(c.prompt_tokens for c in made),
        "completion_tokens": sum(c.completion_tokens for c in made),
        "cache_hits": sum(1 for c in calls if c.cached),
        "calls": [c.to_dict() for c in calls],
    }


def build_report(article: Article, repo_path: str, ctx, settings: Settings, findings, claim_findings, references,
                 gathered, proposals, errors, calls, stages, online, plan=(), searched=None) -> dict[str, Any]:
    usage = usage_summary(calls, settings)
    usage["stages"] = dict(stages)
    if searched is not None:
        usage["searches"] = searched.search_count
        usage["pages_read"] = sum(1 for p in searched.pages if p["status"] == "read" and not p.get("cached"))
    return {
        "version": 1,
        "tool": f"rewriter {__version__}",
        "article": {
            "path": article.path.as_posix(), "file": article.path.name, "stem": article.stem,
            "absolute_path": article.path.resolve().as_posix(), "repo_path": repo_path,
            "sha256": article.sha256, "encoding": article.encoding, "bom": article.bom,
            "language": ctx.language, "date": ctx.date,
        },
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "offline": not online,
        "findings": [f.to_dict() for f in findings],
        "claims": [c.to_dict() for c in claim_findings],
        "references": [r.to_dict() for r in references],
        "evidence": gathered.to_dict(),
        "research": (searched.to_dict() if searched is not None
                     else {"providers": list(settings.research) if online else [],
                           "items": [item.to_dict() for item in plan], "searches": [],
                           "pages": [], "dropped": [], "seconds": 0.0}),
        "proposals": [p.to_dict() for p in proposals],
        "errors": errors,
        "usage": usage,
    }
