"""Property: spans stay exact, and lines and columns right, for arbitrary text with or without BOM
and any mix of LF, CRLF and lone CR line breaks.

Lines and columns are checked against :func:`expected_line_col`, written here without the
package's code: it walks the text one character at a time.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.detect import detect
from rewriter.errors import InputError
from rewriter.loader import BOM, decode
from rewriter.models import LineIndex, line_col

BREAKS = st.sampled_from(["\n", "\r\n", "\r"])

# (what is inserted, the span expected for it)
MARKERS = [(m, m) for m in ("[DONNÉES NÉCESSAIRES]", "[DATA NEEDED]", "[À COMPLÉTER]", "[CITATION NEEDED]",
                            "[source?]", "[GRAPHIQUE : Parts de marché | France : 40 %, Allemagne : 30 %]",
                            "[TABLE: Pricing]", "[CHART_LINE: Users | Year, Users | 2023 : 1, 2024 : 2]",
                            "{{ nom }}", "TK")] + [("XX %", "XX")]
# Filler that cannot glue onto a marker: no brackets, braces, "!" or "(", no X, no letter to extend "TK".
FILLER = st.text(st.characters(codec="utf-8", exclude_characters="[]{}()!^XxTK\r\n\x00", exclude_categories=("Cs",)),
                 max_size=40)
# Text with line breaks of every kind in it, and a few characters that look like breaks and are not.
MIXED = st.lists(st.one_of(BREAKS, st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00",
                                                          exclude_categories=("Cs",)), max_size=12),
                           st.sampled_from(["[TBD]", "Publicité", "\u2028", "\x0b", "\x0c", "\x85"])),
                 max_size=30).map("".join)


def expected_line_col(text: str, offset: int) -> tuple[int, int]:
    """Line and column by walking the text: CR then LF is one break, a CR or an LF alone is one."""
    line, column, i = 1, 1, 0
    while i < offset:
        if text[i] == "\r" and text[i + 1:i + 2] == "\n" and i + 1 < offset:
            i += 2
            line, column = line + 1, 1
        elif text[i] in "\r\n" and not (text[i] == "\r" and text[i + 1:i + 2] == "\n"):
            i += 1
            line, column = line + 1, 1
        else:
            i += 1
            column += 1
    return line, column


def decoded(text: str, bom: bool) -> str:
    raw = (BOM if bom else b"") + text.encode("utf-8")
    return decode(raw, Path("prop.txt")).text


def assert_exact(text: str) -> None:
    for f in detect(text).findings:
        assert text[f.start:f.end] == f.text
        assert (f.line, f.column) == expected_line_col(text, f.start)
        assert f.start < f.end
        if f.kind in ("boilerplate", "artifact"):
            assert "\n" not in f.text and "\r" not in f.text


def test_the_reference_walk_counts_as_an_editor_would():
    text = "a\r\nb\rc\nd\r\re"
    assert [expected_line_col(text, text.index(c)) for c in "abcde"] == [(1, 1), (2, 1), (3, 1), (4, 1), (6, 1)]
    assert expected_line_col("ab\r\ncd", 2) == (1, 3)       # on the CR: still line 1
    assert expected_line_col("ab\r\ncd", 3) == (1, 4)       # between CR and LF: still line 1


@settings(max_examples=300, deadline=None)
@given(text=MIXED, data=st.data())
def test_line_col_matches_an_independent_count_for_any_mix_of_breaks(text, data):
    offset = data.draw(st.integers(0, len(text)))
    index = LineIndex(text)
    assert line_col(text, offset) == index.line_col(offset) == expected_line_col(text, offset)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(FILLER, st.sampled_from(MARKERS)), min_size=1, max_size=6),
       tail=FILLER, bom=st.booleans(),
       seps=st.lists(st.sampled_from([" ", "\n", " \n\n", "\n\n"]), min_size=12, max_size=12),
       breaks=st.lists(BREAKS, min_size=12, max_size=12))
def test_embedded_markers_are_found_at_their_exact_offsets(parts, tail, bom, seps, breaks):
    pieces, expected, pos = [], [], 0
    for k, (filler, (marker, span)) in enumerate(parts):
        prefix = (filler + seps[2 * k]).replace("\n", breaks[2 * k])
        suffix = seps[2 * k + 1].replace("\n", breaks[2 * k + 1])
        start = pos + len(prefix)
        expected.append((start, start + len(span)))
        pieces.append(prefix + marker + suffix)
        pos += len(prefix) + len(marker) + len(suffix)
    source = "".join(pieces) + tail
    text = decoded(source, bom)
    assert text == source
    assert_exact(text)
    found = {(f.start, f.end): f for f in detect(text).findings if f.kind == "placeholder"}
    assert set(expected) <= set(found)
    for start, end in expected:
        assert (found[start, end].line, found[start, end].column) == expected_line_col(text, start)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(MIXED, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)),
       bom=st.booleans())
def test_spans_exact_for_arbitrary_text(text, bom):
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
    bom=st.booleans(), data=st.data())
def test_line_level_spans_exclude_the_line_break(lines, bom, data):
    text = "".join(line + data.draw(BREAKS) for line in lines)
    if text.strip("\r\n"):
        text = decoded(text, bom)
        assert_exact(text)
        # The same lines give the same findings, line for line, whatever the breaks between them.
        def lf(s: str) -> str:
            return s.replace("\r\n", "\n").replace("\r", "\n")
        assert [(f.kind, f.subtype, f.line, f.column, lf(f.text)) for f in detect(text).findings] == \
               [(f.kind, f.subtype, f.line, f.column, f.text) for f in detect(lf(text)).findings]
