"""Property: spans stay exact for arbitrary text, with or without BOM, LF or CRLF."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.detect import detect
from rewriter.errors import InputError
from rewriter.loader import BOM, decode
from rewriter.models import line_col

# (what is inserted, the span expected for it)
MARKERS = [(m, m) for m in ("[DONNÉES NÉCESSAIRES]", "[DATA NEEDED]", "[À COMPLÉTER]", "[CITATION NEEDED]",
                            "[source?]", "[GRAPHIQUE : Parts de marché | France : 40 %, Allemagne : 30 %]",
                            "[TABLE: Pricing]", "[CHART_LINE: Users | Year, Users | 2023 : 1, 2024 : 2]",
                            "{{ nom }}", "TK")] + [("XX %", "XX")]
# Filler that cannot glue onto a marker: no brackets, braces, "!" or "(", no X, no letter to extend "TK".
FILLER = st.text(st.characters(codec="utf-8", exclude_characters="[]{}()!^XxTK\r\n\x00", exclude_categories=("Cs",)),
                 max_size=40)


def decoded(text: str, bom: bool) -> str:
    raw = (BOM if bom else b"") + text.encode("utf-8")
    return decode(raw, Path("prop.txt")).text


def assert_exact(text: str) -> None:
    for f in detect(text).findings:
        assert text[f.start:f.end] == f.text
        assert (f.line, f.column) == line_col(text, f.start)
        assert f.start < f.end
        if f.kind in ("boilerplate", "artifact"):
            assert "\n" not in f.text and not f.text.endswith("\r")


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(FILLER, st.sampled_from(MARKERS)), min_size=1, max_size=6),
       tail=FILLER, bom=st.booleans(), crlf=st.booleans(),
       seps=st.lists(st.sampled_from([" ", "\n", " \n\n", "\n\n"]), min_size=12, max_size=12))
def test_embedded_markers_are_found_at_their_exact_offsets(parts, tail, bom, crlf, seps):
    newline = "\r\n" if crlf else "\n"
    pieces, expected, pos = [], [], 0
    for k, (filler, (marker, span)) in enumerate(parts):
        prefix = (filler + seps[2 * k]).replace("\n", newline)
        suffix = seps[2 * k + 1].replace("\n", newline)
        start = pos + len(prefix)
        expected.append((start, start + len(span)))
        pieces.append(prefix + marker + suffix)
        pos += len(prefix) + len(marker) + len(suffix)
    source = "".join(pieces) + tail
    text = decoded(source, bom)
    assert text == source
    assert_exact(text)
    spans = {(f.start, f.end) for f in detect(text).findings if f.kind == "placeholder"}
    assert set(expected) <= spans


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300),
       bom=st.booleans(), crlf=st.booleans())
def test_spans_exact_for_arbitrary_text(text, bom, crlf):
    if crlf:
        text = text.replace("\n", "\r\n")
    try:
        text = decoded(text, bom)
    except InputError:          # empty or NUL: not an article
        return
    assert_exact(text)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.sampled_from([
    "Publicité", "on", "  Advertisement  ", "Nombre de mots : 5000", "Critère Mistral AI OpenAI Google",
    "Licences Open source Propriétaire Propriétaire", "Siège social France États-Unis Royaume-Uni",
    "Le corps de l’article [1].", "[1] https://example.org/a", "", " ", "\u00a0"]), max_size=20),
    bom=st.booleans(), crlf=st.booleans())
def test_line_level_spans_exclude_the_line_break(lines, bom, crlf):
    text = ("\r\n" if crlf else "\n").join(lines)
    if text.strip("\r\n"):
        assert_exact(decoded(text, bom))
