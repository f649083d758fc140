"""The sentence splitter, the byline date, the context guard, the copyedit rule and blank lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rewriter.emit import Edit, _take_line_breaks, splice, word_diff
from rewriter.models import CLAIM, Finding
from rewriter.text import sentences, stated_date
from rewriter.verify import copyedit_problem, fit_to_span


def texts(text: str) -> list[str]:
    return [s.text for s in sentences(text)]


def test_closing_marks_and_markers_stay_with_their_sentence():
    assert texts("Les modèles (GPT-4, Claude, etc.) [1]. La suite.") == [
        "Les modèles (GPT-4, Claude, etc.) [1].", "La suite."]
    assert texts("« Il part. » Puis rien.") == ["« Il part. »", "Puis rien."]
    assert texts('He said "no." Then left.') == ['He said "no."', "Then left."]
    assert texts("Fin de phrase. [2] Autre phrase.") == ["Fin de phrase. [2]", "Autre phrase."]


def test_no_split_on_abbreviations_initials_or_inside_brackets():
    assert texts("M. Dupont et Mme Durand parlent au Dr Martin. Fin.") == [
        "M. Dupont et Mme Durand parlent au Dr Martin.", "Fin."]
    assert texts("Apple Inc. vend, p. ex. aux É.-U. et ailleurs. J. Doe rit.") == [
        "Apple Inc. vend, p. ex. aux É.-U. et ailleurs.", "J. Doe rit."]
    assert texts("Un point (voir la note. Et la suite) ici. Fin.") == ["Un point (voir la note. Et la suite) ici.", "Fin."]
    assert texts("En 2023. Puis en 2024 ! Enfin ?") == ["En 2023.", "Puis en 2024 !", "Enfin ?"]


def test_a_table_row_is_one_sentence_and_every_line_break_ends_one():
    assert texts("| Modèle. | Taille. Oui |\r| a | b |\rFin. Oui.") == [
        "| Modèle. | Taille. Oui |", "| a | b |", "Fin.", "Oui."]


@given(st.text(alphabet=st.sampled_from("aM .!?\r\n…»()[]1|É-\"’"), max_size=80))
def test_spans_stay_exact_with_brackets_and_abbreviations(text):
    for s in sentences(text, offset=3):
        assert text[s.start - 3:s.end - 3] == s.text and s.text == s.text.strip() and s.text
        assert "\n" not in s.text and "\r" not in s.text


def test_the_byline_date_is_found_anywhere_in_the_first_lines():
    assert stated_date("Titre\nPar Jean Dupont, publié le 12 mars 2025\nTexte") == "12 mars 2025"
    assert stated_date("Titre\rPar J. D. | Mis à jour le 3 avril 2024\r") == "3 avril 2024"
    assert stated_date("Il a republié le 3 mars 2024 un texte.") is None       # "republié" is no byline
    assert stated_date("\n" * 20 + "Publié le 3 mars 2024") is None            # too far down


def claim(text: str, needle: str) -> Finding:
    start = text.index(needle)
    return Finding.at(text, start, start + len(needle), CLAIM, "factual_error", "doubtful")


def test_the_context_guard_trims_exact_overlaps_only():
    text = "Le 23 mars 2023, la start-up a dévoilé Mixtral, un modèle de 12 milliards de paramètres.\n"
    date = claim(text, "23 mars 2023")
    assert fit_to_span("Le 11 décembre 2023", date, text)[0] == "11 décembre 2023"
    figure = claim(text, "12 milliards")
    new, notes, problems = fit_to_span("46,7 milliards de paramètres.", figure, text)
    assert (new, problems) == ("46,7 milliards", []) and len(notes) == 1
    assert fit_to_span("11 décembre 2023", date, text) == ("11 décembre 2023", [], [])
    # a coincidence inside a word is no overlap
    assert fit_to_span("Lea 1", claim("Le Lea\n", "Lea"), "Le Lea\n")[0] == "Lea 1"


def test_the_copyedit_rule():
    assert copyedit_problem("Mistal AI", "Mistral AI") is None
    assert copyedit_problem("peut confiante", "peu confiante") is None
    assert copyedit_problem("lamaison", "la maison") is None
    assert "adds the name" in copyedit_problem("firme de Richmond", "firme de Redmond")
    assert "adds" in copyedit_problem("en 2023", "en 2022")
    assert "more than a spelling fix" in copyedit_problem("plus petit que lui", "plus grand que lui")
    # small edits that change the meaning are no copy edits
    assert "prefix" in copyedit_problem("une mesure efficace", "une mesure inefficace")
    assert "six" in copyedit_problem("six modèles", "dix modèles")
    assert "mars" in copyedit_problem("en mars dernier", "en mai dernier")
    assert "pas" in copyedit_problem("il ne vient pas", "il ne vient")


def lines_deleted(text: str, *lines: str) -> str:
    edits = []
    for line in lines:
        start = text.index(line)
        edits.append(Edit(start, start + len(line), "", line, line))
    return splice(text, [(e.start, e.end, e.new) for e in _take_line_breaks(text, edits, set(lines))])


def test_whole_line_deletions_leave_no_blank_line_runs():
    assert lines_deleted("A\n\nc1\nc2\n\nB", "c1", "c2") == "A\n\nB"
    assert lines_deleted("A\n\nc1\n\nc2\n\nB\n", "c1", "c2") == "A\n\nB\n"
    assert lines_deleted("c\n\n\nA\n", "c") == "A\n"
    assert lines_deleted("A\nc\nB\n", "c") == "A\nB\n"
    assert lines_deleted("A\r\n\r\nc\r\n", "c") == "A\r\n"
    assert lines_deleted("A\r\rc", "c") == "A"
    assert lines_deleted("A\n\nc", "c") == "A"
    # deletions one after another to the end: the text ends as it did, with no blank line left
    assert lines_deleted("F\n\nAd\n\nClick\n\nGet", "Ad", "Click", "Get") == "F"
    assert lines_deleted("F\n\nAd\n\nClick\n\nGet\n", "Ad", "Click", "Get") == "F\n"
    assert lines_deleted("F\r\n\r\nAd\r\n\r\nGet", "Ad", "Get") == "F"


def test_word_diffs_keep_numbers_and_markers_whole():
    assert word_diff("soit 1,7 trillion", "soit 1 700 milliards") == "soit [-1,7 trillion-]{+1 700 milliards+}"
    assert word_diff("vu [1] ici", "vu [12] ici") == "vu [-[1]-]{+[12]+} ici"
    assert word_diff("en 2023 déjà", "en 2024 déjà") == "en [-2023-]{+2024+} déjà"
