"""Scale on one machine: parallel chunks, longest articles first, streamed check, cached
validators, bounded cache memory, overlap tests by bisection (issue 14, item 5)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings as hsettings, strategies as st

from rewriter import check as check_module
from rewriter import pipeline, resources
from rewriter.batch import longest_first, run_batch
from rewriter.cache import ReplyCache
from rewriter.check import DETECTOR_KINDS, check_article, check_paths
from rewriter.cli import cli
from rewriter.emit import DisjointSpans
from rewriter.models import BLOCKING_KINDS
from rewriter.pipeline import RunOptions, run_article
from rewriter.text import shown_path
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

ARTICLES = Path(__file__).resolve().parent.parent / "articles"
WRONG = "12 milliards de paramètres"
CLAIMS = {WRONG: ("factual_error", "46,7 milliards de paramètres", "https://mistral.ai/news/mixtral-of-experts/",
                  "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token.")}
TIMINGS = {"generated_at", "duration_s", "stages", "seconds"}


def long_article(path: Path, chunks: int) -> Path:
    """An article of ``chunks`` chunks, each with a claim and a placeholder of its own."""
    paragraph = ("Le modèle a été présenté à Paris devant des chercheurs venus de toute l'Europe, "
                 "qui ont salué sa sobriété et la qualité de ses réponses en français. ") * 5
    lines = []
    for n in range(chunks):
        lines += [paragraph] * 20
        lines[-10] += f" Le modèle {n} compte {WRONG} selon l'annonce [DONNÉES NÉCESSAIRES]."
    path.write_text("Un long article\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def outputs(out_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(out_dir).as_posix(): p.read_bytes()
            for p in sorted(out_dir.rglob("*")) if p.is_file() and p.name != "report.json"}


def test_chunks_are_asked_in_parallel_and_the_report_is_the_one_asked_in_series(tmp_path, monkeypatch):
    article = long_article(tmp_path / "long.txt", chunks=4)
    latency = 0.3
    runs, written = {}, {}
    with FakeLLM(responder=EditorModel(claims=CLAIMS), latency=latency) as fake:
        for name, workers in (("series", 1), ("parallel", pipeline.CHUNK_WORKERS)):
            monkeypatch.setattr(pipeline, "CHUNK_WORKERS", workers)
            before = len(fake.chat_records)
            # the same out/ folder for both (review.md names it), a cold cache for each
            result = run_article(article, fake.settings(cache_dir=tmp_path / name / "cache"),
                                 RunOptions(out_root=tmp_path / "out"))
            runs[name] = result, [r.received for r in fake.chat_records[before:]
                                  if r.body["response_format"]["json_schema"]["name"] == "claims"]
            written[name] = outputs(result.out_dir)
    series, parallel = runs["series"][0], runs["parallel"][0]
    assert len(pipeline.chunks(article.read_text(encoding="utf-8"), pipeline.MAX_CHUNK_WORDS)) == 4
    # In series each claims request waits for the previous reply; in parallel all four arrive at once.
    arrivals = runs["series"][1]
    assert len(arrivals) == 4 and min(b - a for a, b in zip(arrivals, arrivals[1:])) >= latency
    assert max(runs["parallel"][1]) - min(runs["parallel"][1]) < latency
    # Same findings, claims, proposals, calls, in chunk order; every output file byte for byte.
    assert len(parallel.report["claims"]) == 4 and parallel.report["errors"] == []
    assert [c["start"] for c in parallel.report["claims"]] == sorted(c["start"] for c in parallel.report["claims"])
    assert without_timings(parallel.report) == without_timings(series.report)
    assert written["parallel"] == written["series"] and "changes.diff" in written["series"]


def test_a_failing_chunk_fails_like_it_did_in_series(tmp_path):
    # The server refuses the key: the first chunk's error is raised, as when asked one by one.
    article = long_article(tmp_path / "long.txt", chunks=3)
    with FakeLLM(api_key="sk-right", responder=EditorModel(claims=CLAIMS)) as fake:
        settings = fake.settings(api_key="sk-wrong", cache_dir=tmp_path / "cache")
        with pytest.raises(Exception, match="API key rejected"):
            run_article(article, settings, RunOptions(out_root=tmp_path / "out"))


def test_batch_starts_the_longest_articles_first(tmp_path, monkeypatch):
    import rewriter.batch

    folder = tmp_path / "articles"
    folder.mkdir()
    sizes = {"a.txt": 3, "b.txt": 1, "c.txt": 4, "d.txt": 1, "e.txt": 2}
    for name, n in sizes.items():
        body = "Le chiffre est TK selon la source.\n" * (20 * n)
        (folder / name).write_text(f"Un titre\n{body}Fichier ({name}).\n", encoding="utf-8")
    longest = ["c.txt", "a.txt", "e.txt", "b.txt", "d.txt"]
    assert [p.name for p in longest_first(sorted(folder.iterdir()))] == longest
    started = []
    real_run = rewriter.batch.run_article
    monkeypatch.setattr(rewriter.batch, "run_article", lambda path, *a, **k: started.append(path.name) or
                        real_run(path, *a, **k))
    with FakeLLM(responder=EditorModel()) as fake:
        result = run_batch(folder, fake.settings(cache_dir=tmp_path / "cache"), RunOptions(out_root=tmp_path / "out"),
                           concurrency=1)
        first_asked = [r.body["messages"][0]["content"] for r in fake.chat_records]
    # -j 1 is one request in flight, with two articles under way: they start in order, and their
    # requests interleave, so an article's first request is at most one place from its own.
    assert started == longest
    order = []
    for prompt in first_asked:
        name = next(n for n in sizes if f"({n})" in prompt)
        if name not in order:
            order.append(name)
    assert all(abs(order.index(name) - i) <= 1 for i, name in enumerate(longest)), order
    assert order[0] == started[0]           # the first to start asks first: the other waits for its turn
    # summary.json keeps the folder's order
    assert [Path(o.path).name for o in result.outcomes] == sorted(sizes)


# --- check, streamed ---------------------------------------------------------------

def old_format_text(report) -> str:
    """format_text as it was before streaming (every report held), the reference."""
    lines, counts = [], Counter()
    for article in report["articles"]:
        path = shown_path(article["path"])
        for f in article["findings"]:
            level = "error" if f["kind"] in BLOCKING_KINDS else "warning"
            lines.append(f"{path}:{f['line']}:{f['column']}: {level} {f['kind']}/{f['subtype']} {f['message']}")
            counts[f["kind"]] += 1
    if lines:
        lines.append("")
    width = max(map(len, DETECTOR_KINDS))
    lines += [f"{kind:<{width}}  {counts[kind]:>5}" for kind in DETECTOR_KINDS]
    checked = sum(not a["error"] for a in report["articles"])
    errors = len(report["articles"]) - checked
    blocking = sum(counts[k] for k in BLOCKING_KINDS)
    total = sum(counts.values())
    lines.append(f"{total} finding{'s' * (total != 1)} ({blocking} blocking) in {checked} "
                 f"article{'s' * (checked != 1)}" + (f"; {errors} unreadable" if errors else ""))
    return "\n".join(lines)


@pytest.fixture
def mixed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for seed in sorted(ARTICLES.glob("*.txt")):
        (folder / seed.name).write_bytes(seed.read_bytes())
    (folder / "broken.txt").write_bytes(b"Titre\x00\n")
    (folder / "odd\tname «é».md").write_text("Titre\n\nTK chiffres.\n", encoding="utf-8")
    (folder / "clean.md").write_text("Un titre\n\nUn texte sans rien à signaler.\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_streamed_check_writes_what_the_whole_report_gave(mixed, fmt):
    report = check_paths([mixed])
    expected = json.dumps(report, ensure_ascii=False) if fmt == "json" else old_format_text(report)
    result = CliRunner().invoke(cli, ["check", "--format", fmt, str(mixed)])
    assert result.exit_code == 2          # broken.txt: unreadable wins
    assert result.stdout == expected + "\n"
    assert "NUL byte" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_check_writes_each_article_before_reading_the_next(mixed, fmt, monkeypatch, capfd):
    from rewriter import console
    checked, written_before = [], []

    def spy(path, encoding="utf-8", *args):
        written_before.append(len(captured))
        checked.append(Path(path).name)
        return check_article(path, encoding, *args)

    captured: list[str] = []
    monkeypatch.setattr(check_module, "check_article", spy)
    monkeypatch.setattr(console, "out", lambda text="", nl=True: captured.append(text + "\n" * nl))
    with pytest.raises(SystemExit):
        cli.main(["check", "--format", fmt, str(mixed)], standalone_mode=True)
    assert len(checked) == 8
    # by the time the last file is read, the earlier ones are already out
    assert written_before[-1] > written_before[0]
    out = "".join(captured)
    if fmt == "json":
        assert json.loads(out)["articles"][-1]["path"].endswith(checked[-1])


def test_empty_check_is_still_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["check", str(tmp_path)])
    assert result.exit_code == 2 and "no .txt, .md or .markdown file" in result.output


# --- validators, cache, overlaps ----------------------------------------------------

def test_a_validator_is_built_once_per_schema(monkeypatch):
    resources._validator_of.cache_clear()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert resources.errors_against({"n": 1}, schema) == []
    copy = json.loads(json.dumps(schema))            # an equal schema, another dict
    assert resources.errors_against({"n": "x"}, copy) == ["at $.n: 'x' is not of type 'integer'"]
    assert resources._validator_of.cache_info().misses == 1
    schema["required"] = ["m"]                       # a changed dict is another schema
    assert resources.errors_against({"n": 1}, schema) == ["at $: 'm' is a required property"]
    assert resources.errors_against({"n": 1}, copy) == []


def test_the_client_validates_every_reply_with_one_validator_per_schema(tmp_path):
    resources._validator_of.cache_clear()
    seed = ARTICLES / "000_8fabfc5d1ff5073f.txt"
    with FakeLLM(responder=EditorModel(claims=CLAIMS)) as fake:
        for n in range(3):
            run_article(seed, fake.settings(cache_dir=tmp_path / f"cache{n}"),
                        RunOptions(out_root=tmp_path / f"out{n}"))
        asked = len(fake.chat_requests)
    info = resources._validator_of.cache_info()
    assert asked == 6 and info.hits > info.misses and info.misses <= 6


def test_the_reply_cache_maps_no_memory_and_keeps_a_small_page_cache(tmp_path):
    cache = ReplyCache(tmp_path)
    cache.put("k", data={"a": 1}, raw="{}", usage={})
    assert cache.get("k")["data"] == {"a": 1}
    connection = cache._store._cache._sql
    assert connection("PRAGMA mmap_size").fetchone()[0] == 0
    assert connection("PRAGMA cache_size").fetchone()[0] == 256


spans = st.tuples(st.integers(0, 60), st.integers(0, 12)).map(lambda t: (t[0], t[0] + t[1]))


@hsettings(max_examples=300, deadline=None)
@given(edits=st.lists(spans, max_size=12), queries=st.lists(spans, max_size=40))
def test_disjoint_spans_answer_as_the_quadratic_test_did(edits, queries):
    # The plan's edits never overlap (each starts at or after the previous end); then highlights
    # are added one by one when they overlap nothing so far, as critic_markup does.
    kept, last = [], None
    for s, e in sorted(edits, key=lambda x: (x[0], -x[1])):
        if last is None or s >= last:
            kept.append((s, e))
            last = e
    quadratic = list(kept)
    fast = DisjointSpans(kept)
    for start, end in queries:
        old = any(s < end and start < e for s, e in quadratic)
        assert fast.overlaps(start, end) == old
        if not old and start < end:
            quadratic.append((start, end))
            fast.add(start, end)



@pytest.mark.parametrize("server", ["fake_llm", "fake_search"])
def test_the_fakes_queue_64_connections_before_accepting_one(server):
    # socketserver's backlog of 5 made the kernel drop connections beyond it while the server was
    # busy (-j 64); the fakes' servers queue 128. Nothing accepts here: the backlog alone holds them.
    import importlib
    import socket
    from http.server import BaseHTTPRequestHandler
    module = importlib.import_module(f"tests.{server}")
    listening = module.LoopbackServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    clients = []
    try:
        for _ in range(64):
            clients.append(socket.create_connection(listening.server_address[:2], timeout=3))
    finally:
        for c in clients:
            c.close()
        listening.server_close()
    assert len(clients) == 64


def test_the_fake_answers_without_waiting_for_nagle():
    # Headers and body are two sends; without TCP_NODELAY the body waits for a delayed ACK.
    import socket
    from tests import fake_llm, fake_search
    with FakeLLM() as fake:
        handler = fake._server.RequestHandlerClass
        seen = []
        original = handler.setup

        def setup(self):
            original(self)
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        handler.setup = setup
        try:
            import urllib.request
            urllib.request.urlopen(fake.base_url + "/models", timeout=5).read()
        finally:
            handler.setup = original
    assert seen and all(seen)
    assert fake_search._Handler.disable_nagle_algorithm and fake_llm._Handler.disable_nagle_algorithm
