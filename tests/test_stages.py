"""The model stages' own logic, without a server: sentences, chunks, quote location, reply checks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewriter import claims, corrections
from rewriter.models import ARTIFACT, BOILERPLATE, DELETE, NEEDS_HUMAN, PLACEHOLDER, Finding
from rewriter.resources import render_prompt
from rewriter import text as text_module
from rewriter.text import chunks, language, sentences, shown_path, stated_date, word_count

FR = "Mistral AI a été fondée en 2023. Elle vaut 6 milliards !\r\nLe Chat a un million de téléchargements…\n- Un point"


def test_sentences_have_exact_spans_and_split_on_lines():
    found = sentences(FR)
    assert [s.text for s in found] == [
        "Mistral AI a été fondée en 2023.", "Elle vaut 6 milliards !",
        "Le Chat a un million de téléchargements…", "- Un point"]
    assert all(FR[s.start:s.end] == s.text for s in found)
    assert [s.number for s in found] == [1, 2, 3, 4]


@given(st.text(alphabet=st.sampled_from("ab .!?\r\n…»"), max_size=80))
def test_sentence_spans_stay_exact_for_any_text(text):
    for s in sentences(text, offset=7):
        assert text[s.start - 7:s.end - 7] == s.text
        assert s.text == s.text.strip() and s.text


def test_chunks_cover_the_text_in_order_by_paragraph():
    text = "".join(f"Paragraphe {i} avec quelques mots en plus.\n" for i in range(100))
    spans = chunks(text, max_words=60)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(word_count(text[s:e]) <= 60 for s, e in spans)
    assert chunks("court", 3000) == [(0, 5)]


def test_language_and_stated_date():
    assert language(FR) == "fr"
    assert language("The model was released by the company and it is open.") == "en"
    assert stated_date("Titre\nPublié le 3 mars 2024\nTexte") == "3 mars 2024"
    assert stated_date("Published on March 12, 2024") == "March 12, 2024"
    assert stated_date("Rien ici, 2023 seulement.") is None


_WORDS = ["le", "LE", "Les", "the", "THE", "And", "İs", "dans", "withstand", "établissement", "x", "Cette"]


@given(st.lists(st.sampled_from(_WORDS), max_size=40), st.text(alphabet=" ,.\n'’", min_size=1, max_size=3))
def test_language_counts_every_case_of_the_function_words(words, sep):
    text = sep.join(words)
    lowered = [w.lower() for w in re.findall(r"\w+", text)]
    fr = sum(w in text_module._FR for w in lowered)
    en = sum(w in text_module._EN for w in lowered)
    assert language(text) == ("fr" if fr >= en else "en")


@given(st.text(alphabet=st.sampled_from('ab./ "\\\n\t\x7f\x1f\x00é\u2028\u200e\udcff'), max_size=12) | st.text(max_size=30))
def test_shown_path_quotes_exactly_the_names_that_need_it(name):
    needs = any(text_module._needs_escape(c) or c == '"' for c in name)
    assert (shown_path(name) != name) == needs


def test_locate_prefers_the_cited_sentence_then_a_unique_occurrence():
    numbered = sentences(FR)
    assert claims.locate("2023", numbered[0], FR, (0, len(FR))) == (FR.index("2023"), FR.index("2023") + 4)
    # quoted from the wrong sentence, but unique in the article: still located
    assert claims.locate("6 milliards", numbered[0], FR, (0, len(FR))) is not None
    assert claims.locate("7 milliards", numbered[0], FR, (0, len(FR))) is None


def test_prompt_templates_refuse_a_missing_variable():
    with pytest.raises(KeyError, match="sentences"):
        render_prompt("claims", today="2026-11-24", language_name="French", article_date_line="")


def finding(kind, text, subtype="x"):
    article = f"Avant {text} après."
    return Finding.at(article, 6, 6 + len(text), kind, subtype, f"{kind} found")


def test_corrections_check_names_what_to_fix():
    f1, f2 = finding(PLACEHOLDER, "[DONNÉES NÉCESSAIRES]"), finding(BOILERPLATE, "Publicité")
    check = corrections._checker([f1, f2])
    reply = {"proposals": [
        {"finding_id": f1.id, "action": "replace", "replacement": "[DONNÉES NÉCESSAIRES]", "rationale": "r",
         "confidence": 0.5, "sources": [{"evidence_id": "E9", "url": "", "title": "", "publisher": "",
                                          "date": "", "quote": "q"}]},
        {"finding_id": "pl-0000000000", "action": "keep", "replacement": "", "rationale": "r",
         "confidence": 1, "sources": []},
    ]}
    problems = "\n".join(check(reply))
    assert "replacement different from the original text" in problems
    assert "E9" not in problems      # an id never offered is verify's to refuse, not a reason to re-ask
    assert "'pl-0000000000' is not one of the listed finding ids" in problems
    assert f"no proposal for finding id(s) {f2.id}" in problems


def test_corrections_check_asks_for_an_id_or_a_url_but_never_re_asks_for_an_unoffered_id():
    f1 = finding(PLACEHOLDER, "[TBD]")
    check = corrections._checker([f1])
    reply = {"proposals": [{"finding_id": f1.id, "action": "replace", "replacement": "42 %", "rationale": "r",
                            "confidence": 0.5, "sources": [
                                {"evidence_id": eid, "url": "", "title": "", "publisher": "", "date": "",
                                 "quote": "q"} for eid in ("E2#1", "E2", "E99#9", "")]}]}
    assert check(reply) == ["proposals[0].sources[3] needs an evidence_id or a url."]


def test_offline_proposals_delete_only_chrome_and_artifacts():
    found = [finding(PLACEHOLDER, "[TBD]"), finding(BOILERPLATE, "Publicité"), finding(ARTIFACT, "Word count: 3")]
    actions = [p.action for p in corrections.offline_proposals(found)]
    assert actions == [NEEDS_HUMAN, DELETE, DELETE]


def test_stages_run_over_an_in_process_backend(tmp_path):
    """The stages see only an asker: any ChatBackend serves them, here one with no socket at all."""
    import json
    from dataclasses import replace as _replace

    from rewriter.asker import build_asker
    from rewriter.pipeline import RunOptions, run_article
    from rewriter.settings import Settings
    from tests.editor_model import EditorModel
    from tests.memory_backend import MemoryBackend

    article = tmp_path / "a.txt"
    article.write_text("Mistral AI a levé 600 millions d'euros en 2024. [DONNÉES NÉCESSAIRES]\n", encoding="utf-8")
    backend = MemoryBackend(EditorModel())
    settings = _replace(Settings.from_env(base_url="http://127.0.0.1:9/v1", model="memory-model"),
                        cache_dir=tmp_path / "cache", research=())
    with build_asker(settings, backend=backend) as asker:
        report = run_article(article, settings, RunOptions(out_root=tmp_path / "out"), asker=asker).report
    assert [r.task for r in backend.requests] == ["claims", "corrections"]
    assert [c["task"] for c in report["usage"]["calls"]] == ["claims", "corrections"]
    sent = backend.requests[1].body
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert any(p["finding_id"] in json.dumps(sent["messages"]) for p in report["proposals"])
