"""Chart and table placeholders of seeds 000 and 001 filled: data checked, charts rendered, alt text,
data table and source line; verified only when every value is in a verified quote naming it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.figures import format_value, parse_value
from tests.conftest import ARTICLES
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM
from tests.fake_search import FakeWiki

SEEDS = [ARTICLES / "000_8fabfc5d1ff5073f.txt", ARTICLES / "001_1fd71789d594d0fc.txt"]

GPT4 = "GPT-4 compterait environ 1,7 billion de paramètres selon des estimations de presse."
MIXTRAL = "Mixtral 8x7B compte 46,7 milliards de paramètres au total."
OPENAI = "En octobre 2024, OpenAI était valorisée à 157 milliards de dollars."
MISTRAL = "En septembre 2025, Mistral AI était valorisée à 11,7 milliards d'euros."
# Written for the tests: pages whose titles are the placeholders' subjects, so the gap searches find them.
FIG_WIKI = {"fr": {
    "Comparaison des modèles IA": f"Comparaison des modèles IA et des grands modèles de langage GML.\n{GPT4} {MIXTRAL}",
    "Comparaison des géants technologiques": f"Comparaison des géants technologiques de l'IA.\n{OPENAI} {MISTRAL}",
}, "en": {}}
# What the model proposes for each placeholder it has sources for; the others it hands to a person.
FIGURES = {
    "Comparaison des modèles IA": ([("GPT-4", "1.7T"), ("Mixtral", "46.7B")], [GPT4, MIXTRAL]),
    "Comparaison des modèles GML": ([("GPT-4", "1.7T"), ("Mixtral", "46.7B")], [GPT4, MIXTRAL]),
    "Comparaison des géants technologiques": ([("OpenAI", "157B"), ("Mistral AI", "11.7B")], [OPENAI, MISTRAL]),
}
VERIFIED_TITLES = set(FIGURES)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("figures")
    mp = pytest.MonkeyPatch()
    mp.setenv("REWRITER_CACHE_DIR", str(tmp / "cache"))
    mp.setenv("HOME", str(tmp / "home"))
    reports = {}
    with FakeWiki(pages=FIG_WIKI) as wiki, FakeLLM(responder=EditorModel(figures=FIGURES, plan_gaps=True)) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model", "REWRITER_RESEARCH": "wikipedia",
               "REWRITER_WIKIPEDIA_URL": wiki.url_template, "REWRITER_CONTACT": "desk@example.org"}
        for seed in SEEDS:
            result = CliRunner().invoke(cli, ["run", str(seed), "--out", str(tmp / "out")], env=env,
                                        catch_exceptions=False)
            assert result.exit_code == 0, result.output
            reports[seed.stem] = json.loads((tmp / "out" / seed.stem / "report.json").read_text(encoding="utf-8"))
    mp.undo()
    return tmp / "out", reports


def figure_proposals(reports):
    for stem, report in reports.items():
        findings = {f["id"]: f for f in report["findings"]}
        for p in report["proposals"]:
            f = findings.get(p["finding_id"])
            if f and f["kind"] == "placeholder" and f["subtype"] in ("chart", "table"):
                yield stem, f, p


def test_every_chart_and_table_placeholder_gets_a_figure(runs):
    out, reports = runs
    found = list(figure_proposals(reports))
    assert len(found) == 8                 # 000: two charts and a table; 001: four charts... and none missed
    for stem, finding, proposal in found:
        title = finding["payload"]["title"]
        text = proposal["replacement"]
        assert proposal["action"] == "replace", (title, proposal["status_reason"])
        assert "| --- |" not in text and "|---|---|" in text                         # a Markdown data table
        assert text.rstrip().splitlines()[-1].startswith("Source : ")                # French articles
        if finding["subtype"] == "chart":
            alt, path = text.split("](")[0][2:], f"figures/{finding['id']}.svg"
            assert text.startswith("![") and f"]({path})" in text and title in alt and len(alt) < 120
            svg = out / stem / path
            root = ET.parse(svg).getroot()                                            # parses as XML
            drawn = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
            rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")][1:]
            for label, value in ((r[0][2:], r[1][:-2]) for r in rows):
                assert label in drawn and value in drawn, (label, value, drawn)
            assert (out / stem / "figures" / f"{finding['id']}.png").stat().st_size > 1000
            spec = json.loads((out / stem / "figures" / f"{finding['id']}.vl.json").read_text(encoding="utf-8"))
            marks = [layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"] for layer in spec["layer"]]
            assert marks[0] == {"bar": "bar", "pie": "arc", "line": "line", None: "bar"}[finding["payload"]["chart_type"]]
        if title in VERIFIED_TITLES:
            assert proposal["status"] == "verified", (title, proposal["status_reason"])
            assert all(s["status"] == "verified" for s in proposal["sources"]) and proposal["sources"]
            assert "Source : Comparaison des" in text
        else:
            assert proposal["status"] == "needs_review", (title, proposal["status"])
            assert proposal["status_reason"].startswith("data from the draft, not verified")
            assert "Source : données du brouillon, non vérifiées" in text


def test_draft_values_the_sources_contradict_are_named(runs):
    _out, reports = runs
    [gml] = [p for _s, f, p in figure_proposals(reports) if f["payload"]["title"] == "Comparaison des modèles GML"]
    assert "the draft said Mixtral : 12B, the data says 46.7B" in gml["status_reason"]
    assert "| Mixtral | 46,7 milliards |" in gml["replacement"] and "1,7 billion" in gml["replacement"]


def test_review_md_shows_the_chart_path_and_table(runs):
    out, reports = runs
    review = (out / SEEDS[1].stem / "review.md").read_text(encoding="utf-8")
    critic = (out / SEEDS[1].stem / f"{SEEDS[1].stem}.critic.md").read_text(encoding="utf-8")
    shown = 0
    for _s, f, p in figure_proposals({SEEDS[1].stem: reports[SEEDS[1].stem]}):
        assert "{~~" + f["text"] + "~>" + p["replacement"] + "~~}" in critic          # the critic file too
        rows = "\n".join(line for line in p["replacement"].splitlines() if line.startswith("|"))
        assert f"\n\n{rows}\n" in review                         # the data table, as the reader sees it
        if f["subtype"] == "chart":
            assert f"Figure: `{out / SEEDS[1].stem / 'figures' / f['id']}.svg`, " in review
            shown += 1
    assert shown == 4


def test_number_formats_follow_the_language():
    assert format_value(parse_value("1.7T"), "fr") == "1,7 billion"
    assert format_value(parse_value("1.7T"), "en") == "1.7 trillion"
    assert format_value(parse_value("175B"), "fr") == "175 milliards"
    assert format_value(parse_value("45 %"), "en") == "45%" and format_value(parse_value("65%"), "fr") == "65 %"
    assert parse_value("12B").value == Decimal("12000000000") and parse_value("beaucoup") is None


ARTICLE = ("Les modèles de langage sont comparés dans cet article, et les chiffres sont ceux de la presse.\n\n"
           "[CHART_BAR: Comparaison | Modèle : Paramètres | GPT-4 : 1.7T, Mixtral : 12B]\n\nLe texte suit ici.\n")


def chart_of(text):
    from rewriter.detect import detect

    [chart] = [f for f in detect(text).findings if f.subtype == "chart"]
    return chart


def offline_evidence(tmp_path, text):
    from rewriter.evidence import gather
    from rewriter.settings import Settings

    return gather(text, [], sources_dir=None, fetch=False, settings=Settings(cache_dir=tmp_path / "cache"),
                  evidence_dir=None)


def test_without_vl_convert_the_spec_and_table_are_still_written(tmp_path, monkeypatch):
    import sys

    from rewriter.corrections import offline_proposals
    from rewriter.figures import RENDER_HINT, fill

    monkeypatch.setitem(sys.modules, "vl_convert", None)          # `import vl_convert` raises ImportError
    chart = chart_of(ARTICLE)
    [built] = fill(ARTICLE, {chart.id: chart}, offline_proposals([chart]), offline_evidence(tmp_path, ARTICLE),
                   tmp_path / "figures")
    assert built.status == "needs_review" and RENDER_HINT in built.status_reason
    assert built.status_reason.startswith("data from the draft, not verified")
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [f"{chart.id}.vl.json"]
    assert "| GPT-4 | 1,7 billion |\n| Mixtral | 12 milliards |" in built.replacement


def test_a_verified_correction_inside_the_placeholder_verifies_its_data_point(tmp_path):
    from rewriter.figures import fill
    from rewriter.models import Finding, Proposal, Source

    text = ARTICLE.replace("GPT-4 : 1.7T, ", "")
    chart = chart_of(text)
    start = text.index("Mixtral : 12B")
    claim = Finding.at(text, start, start + len("Mixtral : 12B"), "claim", "factual_error", "wrong count")
    source = Source(url="https://example.org/mixtral", title="Mixtral", status="verified",
                    quote="Mixtral 8x7B compte 46,7 milliards de paramètres.")
    fix = Proposal(id="ch-fix", finding_id=claim.id, action="replace", replacement="Mixtral : 46.7B",
                   sources=[source], status="verified")
    placeholder = Proposal(id="ch-chart", finding_id=chart.id, action="needs_human", replacement="", status="needs_human")
    built, _ = fill(text, {chart.id: chart, claim.id: claim}, [placeholder, fix], offline_evidence(tmp_path, text),
                    tmp_path / "figures")
    assert built.status == "verified", built.status_reason
    assert "| Mixtral | 46,7 milliards |" in built.replacement and built.replacement.endswith("Source : Mixtral")
    assert "Mixtral : 46.7B as corrected at ch-fix (verified there)" in built.status_reason


def test_an_english_article_gets_english_numbers_alt_text_and_source_line(tmp_path):
    from rewriter.corrections import offline_proposals
    from rewriter.figures import fill

    text = ("The models are compared in this article, and the figures are those of the press.\n\n"
            "[CHART_PIE: Open Source vs Proprietary AI | Approach : Share | Open Source : 65%, Proprietary : 35%]\n\n"
            "The text goes on here.\n")
    chart = chart_of(text)
    [built] = fill(text, {chart.id: chart}, offline_proposals([chart]), offline_evidence(tmp_path, text),
                   tmp_path / "figures")
    assert built.replacement.startswith(f"![Pie chart: Open Source vs Proprietary AI](figures/{chart.id}.svg)")
    assert "*Open Source vs Proprietary AI: Open Source leads with 65%, ahead of Proprietary (35%).*" in built.replacement
    assert "| Approach | Share |\n|---|---|\n| Open Source | 65% |" in built.replacement
    assert built.replacement.endswith("Source: draft data, not verified") and built.status == "needs_review"


def test_a_chart_is_rendered_once_per_spec_with_a_render_cache(tmp_path, monkeypatch):
    vl_convert = pytest.importorskip("vl_convert")
    from rewriter.figures import render

    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "data": {"values": [{"a": "x", "b": 1}]},
            "mark": "bar", "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}
    cache = tmp_path / "charts"
    first = render(spec, tmp_path / "one" / "c1", cache)
    assert [p.suffix for p in first] == [".json", ".svg", ".png"]
    # the PNG drawn from the SVG is the PNG vl-convert draws from the spec, byte for byte
    spec_json = json.dumps(spec, ensure_ascii=False, indent=2) + "\n"
    assert (tmp_path / "one" / "c1.png").read_bytes() == vl_convert.vegalite_to_png(spec_json, scale=2)
    assert len(list(cache.iterdir())) == 2

    def no_render(*_args, **_kwargs):
        raise AssertionError("rendered again")
    from rewriter import vlrender
    monkeypatch.setattr(vlrender, "svg_and_png", no_render)
    render(spec, tmp_path / "two" / "c2", cache)          # another article, the same chart: copied
    for suffix in (".svg", ".png", ".vl.json"):
        assert (tmp_path / "two" / f"c2{suffix}").read_bytes() == (tmp_path / "one" / f"c1{suffix}").read_bytes()
    changed = {**spec, "mark": "line"}
    with pytest.raises(AssertionError, match="rendered again"):
        render(changed, tmp_path / "three" / "c3", cache)   # another spec: rendered, not a stale copy


def test_charts_are_drawn_in_a_helper_process_with_the_bytes_vl_convert_draws_here(tmp_path, monkeypatch):
    pytest.importorskip("vl_convert")
    import os
    import time

    import signal

    from rewriter import vlrender
    monkeypatch.setattr(vlrender, "_broken", False)      # and back as it was after the test
    monkeypatch.setattr(vlrender, "_recent", vlrender.OrderedDict())

    spec = json.dumps({"data": {"values": [{"a": "x", "b": 3}]}, "mark": "bar",
                       "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}})
    drawn = vlrender.svg_and_png(spec)
    pid = vlrender.helper_pid()
    assert pid is not None and pid != os.getpid()
    assert drawn == vlrender.draw(spec)                        # the same bytes as drawing it here
    with pytest.raises(vlrender.RenderError, match="Error"):
        vlrender.svg_and_png("{not a spec")                  # vl-convert's refusal, in its words
    assert vlrender.helper_pid() == pid                       # and the helper goes on
    os.kill(pid, signal.SIGINT)                                # Ctrl-C reaches the whole process group:
    assert vlrender.svg_and_png(spec.replace('"b": 3', '"b": 5'))[1].startswith(b"\x89PNG")
    assert vlrender.helper_pid() == pid                       # the batch decides, the helper draws on
    os.kill(pid, 9)                                            # a helper that dies...
    for _ in range(100):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
        time.sleep(0.01)
    other = spec.replace('"b": 3', '"b": 4')
    assert vlrender.svg_and_png(other) == vlrender.draw(other)   # ...costs nothing but drawing here
    assert vlrender.helper_pid() is None


def test_a_chart_asked_for_again_is_drawn_once(monkeypatch):
    from rewriter import vlrender
    drawn = []
    monkeypatch.setattr(vlrender, "_recent", vlrender.OrderedDict())
    monkeypatch.setattr(vlrender, "_by_helper", lambda spec: drawn.append(spec) or (b"<svg/>", b"png"))
    for spec in ["{1}", "{2}", "{1}", "{1}"]:
        assert vlrender.svg_and_png(spec) == (b"<svg/>", b"png")
    assert drawn == ["{1}", "{2}"]


def test_the_chart_helper_starts_once_the_model_answers_and_not_on_a_cached_rerun(tmp_path, monkeypatch):
    """An article with charts that waits on the model starts the helper (its engine, 850 ms) after
    the claims reply, before the corrections are asked for; a rerun from the cache does not."""
    from dataclasses import replace

    from rewriter import vlrender
    from rewriter.asker import build_asker
    from rewriter.pipeline import RunOptions, run_article
    from rewriter.settings import Settings
    from tests.fake_llm import auto_reply
    from tests.memory_backend import MemoryBackend

    backend = MemoryBackend(auto_reply)
    started = []
    monkeypatch.setattr(vlrender, "start", lambda: started.append([r.task for r in backend.requests]))
    monkeypatch.setattr(vlrender, "svg_and_png", lambda spec: (b"<svg/>", b"\x89PNG"))
    settings = replace(Settings.from_env(base_url="http://127.0.0.1:9/v1", model="memory-model"),
                       cache_dir=tmp_path / "cache", research=())
    article = ARTICLES / "001_1fd71789d594d0fc.txt"            # four chart placeholders
    for _ in range(2):
        with build_asker(settings, backend=backend) as asker:
            run_article(article, settings, RunOptions(out_root=tmp_path / "out"), asker=asker)
    assert started == [["claims"]]
    assert [r.task for r in backend.requests] == ["claims", "corrections"]     # the rerun asked nothing


def test_the_helper_is_started_at_most_once(monkeypatch):
    from rewriter import vlrender
    pytest.importorskip("vl_convert")
    made = []

    class Fake:
        def __init__(self):
            made.append(self)

        def close(self):
            pass

    monkeypatch.setattr(vlrender, "_Helper", Fake)
    monkeypatch.setattr(vlrender, "_helper", None)
    monkeypatch.setattr(vlrender, "_broken", False)
    vlrender.start()
    vlrender.start()
    assert len(made) == 1 and vlrender._helper is made[0]
    monkeypatch.setattr(vlrender, "_helper", None)
    monkeypatch.setattr(vlrender, "_broken", True)             # it failed before: charts are drawn here
    vlrender.start()
    assert len(made) == 1


def test_a_helper_started_early_and_never_asked_is_not_waited_for(monkeypatch):
    """A run that ends before its first chart (an error, an interrupt) does not wait at exit for the
    engine of a helper it started early; a helper that has drawn ends when its stdin closes."""
    pytest.importorskip("vl_convert")
    from rewriter import vlrender
    monkeypatch.setattr(vlrender, "_helper", None)
    monkeypatch.setattr(vlrender, "_broken", False)
    vlrender.start()
    process = vlrender._helper.process
    vlrender.close()
    assert process.returncode is not None and process.returncode < 0      # killed, not waited for
    monkeypatch.setattr(vlrender, "_recent", vlrender.OrderedDict())
    vlrender.svg_and_png(json.dumps({"data": {"values": [{"a": 1}]}, "mark": "bar",
                                     "encoding": {"y": {"field": "a", "type": "quantitative"}}}))
    process = vlrender._helper.process
    vlrender.close()
    assert process.returncode == 0                                         # asked: it ended by itself
