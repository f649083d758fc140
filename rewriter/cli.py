"""Command-line interface: parse options, call one library function, map errors.

Library modules never import click; this module is the only one that does.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from . import __version__
from .errors import InputError, RewriterError
from .settings import Settings


def model_options(fn):
    """Options that say which model to talk to, spelled the same by every command."""
    options = [
        click.option("--base-url", default=None, metavar="URL",
                     help="Chat API base URL [env MISTRAL_BASE_URL; default https://api.mistral.ai/v1]. "
                          "Any OpenAI-compatible server works: vLLM, Ollama, llama.cpp, LM Studio."),
        click.option("--model", default=None,
                     help="Model name [env REWRITER_MODEL; default mistral-small-latest]."),
        click.option("--api-key-env", default=None, metavar="NAME",
                     help="Environment variable holding the API key [default MISTRAL_API_KEY]. "
                          "Local servers may need none."),
        click.option("--temperature", type=float, default=0.0, show_default=True,
                     help="Sampling temperature, 0 to 1."),
        click.option("--timeout", type=click.FloatRange(0, min_open=True), default=120.0, show_default=True,
                     help="Seconds to wait for one reply."),
        click.option("--max-tokens", type=click.IntRange(256), default=8192, show_default=True,
                     help="Longest reply the model may write; a reply cut at this length is an error."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def cache_options(fn):
    """Where validated replies are cached, and a way to bypass the cache."""
    fn = click.option("--no-cache", is_flag=True, help="Neither read nor write the reply cache.")(fn)
    fn = click.option("--cache-dir", default=None, metavar="DIR",
                      help="Reply cache folder [env REWRITER_CACHE_DIR; default .cache/rewriter].")(fn)
    return fn


def output_options(fn):
    """Where results go and which evidence the pipeline may read, for `run` and `batch` alike."""
    options = [
        click.option("--offline", is_flag=True, help="Run only the stages that need no model."),
        click.option("--out", "out_root", default="out", show_default=True, type=click.Path(file_okay=False),
                     help="Folder for results: OUT/<stem>/ per article (and OUT/summary.json for batch)."),
        click.option("--sources", "sources_dir", default=None, type=click.Path(exists=True, file_okay=False),
                     help="Local library of .txt/.md/.html sources to cite [default: ./sources if present]."),
        click.option("--fetch", is_flag=True,
                     help="Download cited and proposed URLs to check quotes against them (off by default)."),
        click.option("--fetch-private", is_flag=True,
                     help="Let --fetch and research read pages on private addresses (a newsroom intranet); "
                          "refused by default."),
        click.option("--evidence-tokens", type=click.IntRange(50), default=None, metavar="N",
                     help="Tokens of evidence snippets offered to the model per finding [default 250]."),
        encoding_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def research_options(fn):
    """Which evidence providers to search, and how much, for `run`, `batch` and `doctor` alike."""
    options = [
        click.option("--research", default=None, metavar="NAME[,NAME...]",
                     help="Search for evidence with these providers [env REWRITER_RESEARCH; default wikipedia "
                          "when a model is configured, else none]: wikipedia (needs nothing), searxng (needs "
                          "--searx-url), mistral (needs a Mistral API key; one extra model request per article, "
                          "with connector tokens). `none` turns research off."),
        click.option("--searx-url", default=None, metavar="URL",
                     help="Your SearXNG instance, with its JSON format enabled [env REWRITER_SEARX_URL]."),
        click.option("--wikipedia-url", default=None, metavar="TEMPLATE",
                     help="Wiki base URL, {lang} for the language [env REWRITER_WIKIPEDIA_URL; default "
                          "https://{lang}.wikipedia.org]; a mirror you configure, so private addresses are allowed."),
        click.option("--contact", default=None, metavar="EMAIL|URL",
                     help="Contact sent in the User-Agent to search services [env REWRITER_CONTACT]; "
                          "Wikimedia asks every client for one."),
        click.option("--max-searches", type=click.IntRange(0), default=40, show_default=True,
                     help="Searches per article, all claims and gaps together."),
        click.option("--max-searches-per-target", type=click.IntRange(0), default=2, show_default=True,
                     help="Searches per claim or gap."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def run_options_from(out_root, sources_dir, fetch, encoding, evidence_tokens=None):
    from pathlib import Path

    from .pipeline import RunOptions
    return RunOptions(out_root=Path(out_root), sources_dir=sources_dir and Path(sources_dir),
                      fetch=fetch, encoding=encoding, evidence_tokens=evidence_tokens)


def _known_encoding(ctx, param, value: str) -> str:
    import codecs
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r} (try utf-8 or cp1252)") from None
    return value


def encoding_option(fn):
    return click.option("--encoding", default="utf-8", show_default=True, callback=_known_encoding,
                        help="Encoding of the articles, e.g. cp1252 for old Windows files, utf-16 "
                             "(a UTF-8/16/32 byte order mark decides by itself).")(fn)


def settings_from(options: dict, **extra) -> Settings:
    """Build settings from the shared model and cache options."""
    return Settings.from_env(
        base_url=options.get("base_url"),
        model=options.get("model"),
        api_key_env=options.get("api_key_env"),
        temperature=options.get("temperature"),
        timeout=options.get("timeout"),
        max_tokens=options.get("max_tokens"),
        cache_dir=options.get("cache_dir"),
        use_cache=not options.get("no_cache", False),
        fetch_private=options.get("fetch_private"),
        research=options.get("research"),
        searx_url=options.get("searx_url"),
        wikipedia_url=options.get("wikipedia_url"),
        contact=options.get("contact"),
        max_searches=options.get("max_searches"),
        max_searches_per_target=options.get("max_searches_per_target"),
        **extra,
    )


def friendly_errors(fn):
    """Turn the project's own errors into one clean line (set REWRITER_RAISE_ERRORS=1 to see tracebacks)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RewriterError as exc:
            if os.environ.get("REWRITER_RAISE_ERRORS"):
                raise
            from .terminal import printable
            error = click.ClickException(printable(str(exc)))   # may quote a crafted report or a server
            if isinstance(exc, InputError):
                error.exit_code = 2   # bad input, like a usage error: nothing was done
            raise error from None
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rewriter")
def cli():
    """Find what makes an article unfit to publish, and propose sourced fixes.

    \b
    Typical loop:
      rewriter check articles/          list placeholders, debris, dangling citations
      rewriter run articles/X.txt       ask the model for sourced corrections -> out/X/
      rewriter review out/X             accept or reject each change
      rewriter apply out/X --commit     write the accepted changes, commit them

    Nothing in articles/ changes until `apply`.
    """

def offline_hint(settings: Settings) -> str:
    return (f"Model stages skipped: set ${settings.api_key_env}, or --base-url URL for a local server "
            "(vLLM, Ollama, llama.cpp, LM Studio), to get corrections.")


@cli.command()
@click.argument("article", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["path", "rdjson"]), default="path", show_default=True,
              help="What goes to stdout: path, the report's path; rdjson, the proposals as reviewdog "
                   "suggestions (one-click suggested changes in a pull request).")
@output_options
@research_options
@model_options
@cache_options
@friendly_errors
def run(article, fmt, offline, out_root, sources_dir, fetch, encoding, **options):
    """Find problems in ARTICLE and propose sourced corrections, in OUT/<stem>/.

    \b
    Writes report.json, the rewritten article, changes.diff (for git apply),
    <stem>.critic.md and review.md. ARTICLE itself is never modified:
    review with `rewriter review OUT/<stem>`, then `rewriter apply OUT/<stem>`.
    """
    from .console import err, out, status
    from .outdirs import check_writable
    from .pipeline import run_article
    from .tables import run_summary

    settings = settings_from(options, offline=offline)
    if not settings.model_enabled and not offline:
        status(offline_hint(settings))
    run_options = run_options_from(out_root, sources_dir, fetch, encoding, options.get("evidence_tokens"))
    check_writable(run_options.out_root)   # before any request is spent
    with err.status("starting…") as spinner:
        result = run_article(article, settings, run_options, on_stage=lambda name: spinner.update(f"{name}…"))
    err.print(run_summary(result.report))
    out_dir = result.files["report"].parent
    if fmt == "rdjson":
        out(run_rdjson(out_dir, article, encoding))
    else:
        out(str(result.files["report"]))
    if result.report["errors"]:
        for error in result.report["errors"]:
            status(f"{article}: {error['message']}")
        raise SystemExit(1)
    status(next_step(out_dir))


def run_rdjson(out_dir, article: str, encoding: str) -> str:
    from .formats import run_suggestions
    from .loader import load
    from .record import load_report
    run = load_report(out_dir)
    return run_suggestions(run.article_path, load(article, encoding).text, run.findings, run.proposals)


def next_step(out_dir) -> str:
    from .terminal import printable
    return printable(f"next: rewriter review {out_dir}")

@cli.command()
@click.argument("folder", default="articles", type=click.Path(exists=True, file_okay=False))
@click.option("--concurrency", "-j", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Requests in flight at once, all articles together; twice as many articles are under way, "
                   "largest first, so one article's local work leaves no request slot idle.")
@click.option("--rps", "requests_per_second", default=0.0, show_default=True, type=click.FloatRange(0),
              help="At most this many requests per second, all workers together (0: no limit).")
@click.option("--tpm", "tokens_per_minute", default=0, show_default=True, type=click.IntRange(0),
              help="At most this many tokens per minute, all workers together (0: no limit).")
@click.option("--via", type=click.Choice(["sync", "batch-api"]), default="sync", show_default=True,
              help="sync: requests one by one from here; batch-api: Mistral's Batch API (half price, no rate "
                   "limits, results in minutes to hours), resumable.")
@click.option("--status", "show_status", is_flag=True, help="With --via batch-api: show the saved jobs of OUT "
                                                             "and their state on the server; run nothing.")
@click.option("--cancel", is_flag=True, help="With --via batch-api: cancel the jobs of OUT still running.")
@click.option("--poll", "poll_every", default=5.0, show_default=True, type=click.FloatRange(0.01),
              help="Batch API: seconds before the first status check (then 1.5x longer each time, up to 60).")
@click.option("--max-requests", default=10_000, show_default=True, type=click.IntRange(1),
              help="Batch API: requests per job at most (more make several jobs).")
@click.option("--timeout-hours", default=24, show_default=True, type=click.IntRange(1, 168),
              help="Batch API: hours a job may run before Mistral ends it (TIMEOUT_EXCEEDED).")
@click.option("--price-in", type=click.FloatRange(0), default=None, metavar="PRICE",
              help="Price per million input tokens, for the cost estimate in summary.json (none by default).")
@click.option("--price-out", type=click.FloatRange(0), default=None, metavar="PRICE",
              help="Price per million output tokens, for the cost estimate in summary.json.")
@click.option("--batch-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the synchronous price the Batch API charges (Mistral: half).")
@output_options
@research_options
@model_options
@cache_options
@friendly_errors
def batch(folder, concurrency, requests_per_second, tokens_per_minute, via, show_status, cancel, poll_every,
          max_requests, timeout_hours, price_in, price_out, batch_share, offline, out_root, sources_dir,
          fetch, encoding, **options):
    """Run every article in FOLDER (default articles/) through the whole pipeline.

    \b
    Results go to OUT/<stem>/ as with `rewriter run`, and OUT/summary.json.
    One bad article never stops the others. Exit status: 0 all done,
    1 some articles failed or were not run (listed), or OUT cannot be
    written, 2 usage error. Ctrl-C or SIGTERM: no new request is sent,
    replies in flight land in the cache, OUT/summary.json lists what was
    not run (a second signal quits at once). Run it again: finished
    requests come from the cache.

    \b
    --via batch-api: each stage's requests of all articles go as one
    Batch API job (claims, then corrections; re-asks join the next job);
    the job state is saved in OUT/.batch-api/ after every step, so an
    interrupted run resumes when run again, submitting nothing twice.
    --status shows those jobs, --cancel cancels the running ones.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .batch import run_batch
    from .console import err, out, status
    from .outdirs import check_writable
    from .tables import batch_summary
    from .terminal import printable

    settings = settings_from(options, offline=offline, requests_per_second=requests_per_second,
                             tokens_per_minute=tokens_per_minute)
    if (show_status or cancel) and via != "batch-api":
        raise click.UsageError("--status and --cancel are for --via batch-api")
    if via == "batch-api" and not settings.model_enabled:
        raise click.UsageError("--via batch-api needs the model: set $MISTRAL_API_KEY (or --base-url), "
                               "and drop --offline")
    if show_status or cancel:
        from pathlib import Path

        from .batchjobs import job_lines, open_jobs
        jobs = open_jobs(settings, Path(out_root))
        try:
            listed = jobs.cancel() if cancel else jobs.refresh()
        finally:
            jobs.client.close()
        for line in job_lines(listed):
            out(printable(line))
        return
    if not settings.model_enabled and not offline:
        status(offline_hint(settings))
    run_options = run_options_from(out_root, sources_dir, fetch, encoding, options.get("evidence_tokens"))
    check_writable(run_options.out_root)   # one line, before the progress bar and any request
    totals = {"requests": 0, "tokens": 0, "errors": 0}
    progress = Progress(TextColumn("articles"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err, transient=False)

    def stats() -> str:
        return f"requests {totals['requests']} · tokens {totals['tokens']} · errors {totals['errors']}"

    with progress:
        task = progress.add_task("batch", total=None, stats=stats())

        def on_done(outcome):
            totals["requests"] += outcome.requests
            totals["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
            totals["errors"] += 0 if outcome.ok else 1
            progress.update(task, advance=1, stats=stats())

        if via == "batch-api":
            from .batchjobs import JobOptions, run_batch_api
            job_options = JobOptions(poll_every=poll_every, timeout_hours=timeout_hours, max_requests=max_requests,
                                     price_input=price_in, price_output=price_out, batch_share=batch_share)
            result = run_batch_api(folder, settings, run_options, job_options,
                                   on_start=lambda total: progress.update(task, total=total), on_done=on_done)
        else:
            result = run_batch(folder, settings, run_options, concurrency=concurrency,
                               on_start=lambda total: progress.update(task, total=total), on_done=on_done)
    err.print(batch_summary(result))
    out(str(run_options.out_root / "summary.json"))
    if result.failed:
        for line in failure_lines(result.failed):
            status(line)
    if any(outcome.ok for outcome in result.outcomes):
        status(printable(f"next: rewriter review {run_options.out_root}/<stem>  (one folder per article; "
                         f"`rewriter check {folder}` lists what is left)"))
    if result.failed:
        raise SystemExit(1)


def _accept_statuses(ctx, param, value):
    from .review import ACCEPTABLE

    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [n for n in names if n not in ("all", *ACCEPTABLE)]
    if wrong or not names:
        raise click.BadParameter(f"{', '.join(wrong) or value!r} is not one of: all, {', '.join(ACCEPTABLE)}")
    return ",".join(names)


@cli.command(name="eval")
@click.argument("gold_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("articles", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Model to measure; repeat to compare models [default: REWRITER_MODEL or mistral-small-latest].")
@click.option("--base-url", default=None, metavar="URL", help="Chat API base URL [env MISTRAL_BASE_URL].")
@click.option("--api-key-env", default=None, metavar="NAME", help="Environment variable holding the API key.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="Sampling temperature, 0 to 1.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=120.0, show_default=True,
              help="Seconds to wait for one reply.")
@click.option("--max-tokens", type=click.IntRange(256), default=8192, show_default=True,
              help="Longest reply the model may write.")
@click.option("--price-in", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Price of a million prompt tokens, for the cost estimate (no built-in price table).")
@click.option("--price-out", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Price of a million completion tokens.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table, or JSON described by schemas/eval.json.")
@click.option("--out", "out_root", default="out/eval", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the runs: OUT/<model>/<stem>/.")
@click.option("--sources", "sources_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Local library of sources to cite.")
@click.option("--fetch", is_flag=True, help="Download cited URLs to check quotes against them.")
@research_options
@cache_options
@friendly_errors
def eval_command(gold_dir, articles, models, price_in, price_out, fmt, out_root, sources_dir, fetch, **options):
    """Measure models on annotated articles: run each through the pipeline, score it against GOLD_DIR.

    \b
    GOLD_DIR holds one <stem>.json per article (schemas/gold.json): the findings
    expected, dubious words with the correct fact, true claims that must not be
    flagged. ARTICLES default to articles/<file> for each gold file. Prints one
    row per model: detection recall and precision, dubious claims found, true
    claims wrongly flagged, proposals by status, verified share, requests,
    tokens, cost. Example: rewriter eval eval/gold --model mistral-small-latest
    --model mistral-large-latest --price-in 0.1 --price-out 0.3
    """
    from pathlib import Path

    from .console import out, status
    from .evaluate import evaluate, table
    from .outdirs import check_writable

    settings = settings_from(options)
    if not settings.model_enabled:
        status(offline_hint(settings))
    run_options = run_options_from(out_root, sources_dir, fetch, "utf-8")
    check_writable(run_options.out_root)
    result = evaluate(Path(gold_dir), [Path(a) for a in articles], settings, list(models) or [settings.model],
                      out_root=Path(out_root), run_options=run_options, price_in=price_in, price_out=price_out,
                      on_article=lambda model, article: status(f"{model}: {article}"))
    out(json.dumps(result, ensure_ascii=False, indent=2) if fmt == "json" else table(result))


def failure_lines(failed) -> list[str]:
    """What failed, for people: an error every article shares (the server is down) is said once,
    and the articles a fatal error left unrun are counted, not each given the same line."""
    not_run = [o for o in failed if o.error.startswith(f"{o.path}: not run; ")]
    causes: dict[str, list[str]] = {}
    for o in failed:
        if o not in not_run:
            causes.setdefault(o.error.removeprefix(f"{o.path}: "), []).append(o.path)
    lines = []
    for cause, paths in causes.items():
        lines.append(f"failed: {paths[0]}: {cause}" if len(paths) == 1 else
                     f"failed ({len(paths)} articles, the same error): {cause}")
    if not_run:
        reason = not_run[0].error.removeprefix(f"{not_run[0].path}: not run; ")
        lines.append(f"not run ({len(not_run)} article{'s' * (len(not_run) != 1)}): "
                     + ("the batch stopped after the error above" if causes and "stopped after" in reason else reason))
    return lines


@cli.command()
@click.argument("out_dir", metavar="OUT/STEM", type=click.Path(exists=True, file_okay=False))
@click.option("--accept", default=None, metavar="STATUS[,STATUS...]|all", callback=_accept_statuses,
              help="Accept without asking the changes of these statuses (verified, copyedit, cleanup, "
                   "reformat, needs_review; e.g. verified,copyedit,cleanup), or all of them.")
@click.option("--reject", type=click.Choice(["all"]), default=None,
              help="Reject without asking every change not accepted (with --accept: all the rest).")
@click.option("--redo", is_flag=True, help="Ask again about changes already decided.")
@click.argument("more_dirs", nargs=-1, metavar="[OUT/STEM...]", type=click.Path(exists=True, file_okay=False))
@click.option("--web", is_flag=True,
              help="Review in the browser instead: a page on 127.0.0.1 with the article and each change "
                   "inline, for one or several runs (`review out/* --web`); Ctrl-C stops it.")
@click.option("--no-open", is_flag=True, help="With --web: print the page's URL, do not open a browser.")
@friendly_errors
def review(out_dir, accept, reject, redo, more_dirs, web, no_open):
    """Accept, reject or edit each change of a run, one at a time, like `git add -p`.

    \b
    Answers: y accept, n reject, e edit the replacement (in $VISUAL or $EDITOR
    when set), a / d accept / reject the rest of this kind, s skip, q quit,
    ? help; uppercase works too. Then the gaps left for a human (a missing
    figure, a source): e types your text, recorded as yours, not verified.
    Colour unless NO_COLOR is set or stdout is not a terminal. Every answer
    is saved at once to OUT/STEM/decisions.json (Ctrl-C or SIGTERM loses
    none); a second review asks only about undecided changes. Control
    characters in the text shown are escaped. Then: `rewriter apply OUT/STEM`.

    With --web, the same decisions are taken on a page (the URL, with its
    secret token, is printed): j/k move, y/n accept or reject, e edits a change
    or fills a placeholder with your own text (recorded as yours, not verified).
    """
    from pathlib import Path

    import signal

    from .console import out, status
    from .review import review_bulk, review_interactive
    from .terminal import printable

    out_dir = Path(out_dir)
    if web or more_dirs:
        if not web:
            raise click.UsageError("several OUT/STEM folders are reviewed with --web; in the terminal, one at a time")
        if accept or reject or redo:
            raise click.UsageError("--web takes no --accept, --reject or --redo: decide on the page")
        from .webreview import serve

        def stop(signum, frame):   # `kill` stops the server as Ctrl-C does
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, stop)
        return serve([out_dir, *map(Path, more_dirs)], open_browser=not no_open,
                     show=lambda line: (out(printable(line)), sys.stdout.flush()))

    if accept or reject:
        decisions = review_bulk(out_dir, accept, reject == "all", redo=redo)
        c = decisions.counts()
        status(printable(f"{c['accepted']} accepted, {c['rejected']} rejected, {c['undecided']} undecided; "
                         f"saved in {decisions.path}"))
        return

    def terminated(signum, frame):   # `kill`, a closed terminal: stop as Ctrl-C does, with the summary
        raise KeyboardInterrupt

    stopped = []

    def ask(prompt: str, choices: list[str]) -> str:
        if stopped:  # end of input, Ctrl-C or SIGTERM came: quit at the next question
            return "q" if choices else ""
        try:
            if choices:
                return click.prompt(prompt, type=click.Choice(choices, case_sensitive=False),
                                    show_choices=False, prompt_suffix=" ")
            return click.prompt(prompt, default="", show_default=False, prompt_suffix=" ")
        except click.Abort:  # what was decided is saved already
            stopped.append(True)
            return "q" if choices else ""

    from .terminal import review_printer, text_editor
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        review_interactive(out_dir, ask, review_printer(), redo=redo, edit=text_editor())
    finally:
        signal.signal(signal.SIGTERM, previous)


@cli.command("apply")
@click.argument("out_dir", metavar="OUT/STEM", type=click.Path(exists=True, file_okay=False))
@click.option("--commit", is_flag=True, help="Commit the article alone, one commit listing every change.")
@click.option("--branch", metavar="NAME", default=None,
              help="Commit one change per commit on branch NAME; your checkout stays as it is.")
@click.option("--dry-run", is_flag=True, help="Show what would be written (word diff, then a unified diff); "
                                              "write and commit nothing.")
@click.option("--assets", metavar="DIR", default="figures", show_default=True,
              help="Folder, relative to the article's, that accepted charts are copied to (and linked from).")
@friendly_errors
def apply_command(out_dir, commit, branch, dry_run, assets):
    """Write the accepted changes of OUT/STEM to its article, and print a word diff.

    \b
    Refuses if the article changed since the run, and writes only to a file
    inside the repository holding OUT (or the folder above OUT). Writes through
    a temporary file and a rename; an apply killed after writing is finished
    by the next one. --commit: one commit of just the article, with each
    change's rationale and trailers (full new text, Source: URL or library
    path and Source-Quote:, Rewriter-Model:, Reviewed-by: from git's user); a
    change typed by you says "edited by the reviewer, not verified". --commit
    after a plain apply commits what it wrote. --dry-run writes nothing. --branch NAME: one commit per
    change on NAME (created from HEAD), built without touching your checkout,
    so any single correction can be reverted: `git switch NAME` to see them.
    A branch checked out in another worktree is refused.
    """
    from pathlib import Path

    from .apply import apply
    from .console import out, status, warn
    from .terminal import printable

    if commit and branch:
        raise click.UsageError("--commit and --branch exclude each other: --commit commits in your "
                               "checkout, --branch NAME on a review branch; pick one")
    out_dir = Path(out_dir)

    result = apply(out_dir, commit=commit, branch=branch, dry_run=dry_run, assets=assets)
    if result.assets:
        status(printable(f"copied {len(result.assets)} figure file(s): {', '.join(result.assets)}"))
    for line in result.word_diff():
        out(line)
    if dry_run:
        import difflib
        diff = difflib.unified_diff(result.old_text.splitlines(keepends=True), result.new_text.splitlines(keepends=True),
                                    f"a/{result.name}", f"b/{result.name}")
        out(printable("".join(diff)), nl=False)
        status(printable(f"dry run: would write {result.name} ({len(result.edits)} change(s)); nothing written"))
        return
    for change_id, reason in result.skipped.items():
        warn(printable(f"{change_id} not applied: {reason}"))
    for change_id in result.outdated:
        warn(printable(f"{change_id}: its proposal changed since you decided; review it again"))
    if not result.edits:
        status(printable(f"nothing to apply: no accepted change in {out_dir / 'decisions.json'}"))
    elif result.after_apply and result.commits:
        status(printable(f"committed what an earlier apply wrote to {result.name}: {result.commits[0][:12]}"))
    elif result.resumed:
        done = f"committed in {result.commits[0][:12]}" if result.commits else "recorded in decisions.json"
        status(printable(f"{result.name} already held exactly the accepted changes (an earlier apply was "
                         f"interrupted); {done}"))
    elif branch:
        status(printable(f"committed {len(result.commits)} change(s) on {branch}, one per commit; your checkout "
                         f"is unchanged: `git switch {branch}` to see them, `git revert <commit>` to drop one"))
    elif result.commits:
        status(printable(f"wrote {result.name} and committed {result.commits[0][:12]}"))
    else:
        status(printable(f"wrote {result.name} ({len(result.edits)} change(s))"))


@cli.command()
@research_options
@model_options
@friendly_errors
def doctor(**options):
    """Check the model endpoint and each research provider.

    \b
    Model: reachable, key accepted, model listed, strict JSON schema honoured.
    Research (one line per provider of --research): reachable, and answers a
    test query in its documented shape; for mistral, the conversations
    endpoint runs web_search (one small model request).
    Prints one verdict per check ("ok" or "FAIL" and why) and exits 1 if any
    failed. Nothing is cached. The API key itself is never printed.
    """
    from .doctor import diagnose
    from .console import out
    from .terminal import printable
    from .search import diagnose_research

    settings = settings_from(options)
    checks = diagnose(settings) + diagnose_research(settings)
    for check in checks:
        out(printable(f"{'ok' if check.ok else 'FAIL':<4}  {check.name:<11}  {check.detail}"))
    if not all(check.ok for check in checks):
        raise SystemExit(1)


def _fail_on(ctx, param, value):
    from .check import parse_fail_on
    from .models import BLOCKING_KINDS
    if value is None:
        return BLOCKING_KINDS
    try:
        return parse_fail_on(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_formats() -> list[str]:
    from .check import FORMATS
    return list(FORMATS)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(_check_formats()), default="text", show_default=True,
              help="text: one line per finding, like a linter; json: one document (schemas/check.json); "
                   "github: GitHub Actions annotations; rdjson: reviewdog's Diagnostic format; "
                   "sarif: SARIF 2.1.0 for GitHub code scanning.")
@click.option("--fail-on", "blocking", default=None, metavar="KIND[,KIND...]", callback=_fail_on,
              help="Kinds that block (exit 1, `error` on their line) [default: placeholder,dangling_citation,"
                   "artifact]; `none` to only report.")
@encoding_option
@friendly_errors
def check(paths, fmt, blocking, encoding):
    """List placeholders, dangling citations, generation artifacts, web chrome and broken tables.

    PATHS are files or folders, searched recursively for .txt, .md and .markdown
    files [default: articles/]. Nothing is changed. In a folder, a symbolic link
    is followed only to a file inside it; a link out is skipped with one line.
    A file name with a line break or control character is shown quoted.
    Each line says `error` (the finding blocks) or `warning`.

    Languages: placeholders follow French and English newsroom conventions (TK,
    XX, [DONNÉES NÉCESSAIRES], [CHART: …]); in an article in another language
    only TODO, FIXME and {{variables}} are placeholders. Web chrome is known
    in French and English.

    \b
    Exit status:
      0  no blocking finding
      1  a blocking finding remains (by default a placeholder, dangling
         citation or artifact; see --fail-on): gate a commit on it
      2  usage or input error; the other files are still checked and reported
    """
    from .check import FORMATS, STREAMED, Gate, check_files, exit_status, text_reader
    from .console import out, warn
    from .loader import discover

    files = discover(list(paths or ["articles"]))
    if not files:
        raise click.UsageError(f"no .txt, .md or .markdown file in {', '.join(paths or ['articles'])}")

    def warned(article):
        if article["error"]:
            warn(article["error"])
        return article

    if fmt in STREAMED:
        # Written article by article: memory stays flat however many files there are.
        gate = Gate(blocking)
        for piece in STREAMED[fmt](gate.watch(map(warned, check_files(files, encoding, blocking))), blocking):
            out(piece, nl=False)
        click.get_current_context().exit(gate.status)
    report = {"articles": [warned(a) for a in check_files(files, encoding, blocking)]}
    out(FORMATS[fmt](report, blocking, text_reader(encoding)))
    click.get_current_context().exit(exit_status(report, blocking))


def main():
    cli(prog_name="rewriter")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
