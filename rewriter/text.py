"""Small text utilities shared by the stages: sentences, language, chunks, dates, printable paths."""

from __future__ import annotations

import collections
import functools
import os
import re
import unicodedata
from dataclasses import dataclass

# A sentence ends at . ! ? … followed by whitespace, outside brackets, and not after an abbreviation
# or an initial; closing quotes and brackets after the mark, and citation markers after those
# ("etc.) [1]."), stay with it. A line break always ends a sentence: headings, list items and table
# rows are sentences of their own, and a table row is never cut.
_LINE = re.compile(r"[^\r\n]+")
_MARKS = re.compile(r"[.!?…]+|[(\[{]|[)\]}]")
_CLOSING = re.compile(r"""(?:["»”’)\]]|[ \u00a0\u202f][»”])*(?:[ \u00a0\u202f]*\[\^?\d+\](?:[,;]?\s*\[\^?\d+\])*[.!?…]*)?""")
_WORD_BEFORE = re.compile(r"[^\W\d_]+$")
# Words that end in a full stop without ending a sentence (compared lowercase, without the stop);
# a single letter (an initial: "M.", "J. Dupont", "É.-U.", "p. ex.") never ends one either.
ABBREVIATIONS = frozenset("""mme mmes mlle mlles mm dr drs pr me st ste inc ltd co corp cie etc cf ex vs av apr env
    vol éd ed jr sr mr mrs ms prof gén gen art chap fig réf ref approx dept""".split())
_WORD = re.compile(r"\w+", re.UNICODE)

_FR = frozenset("le la les des une est et dans pour que qui sur avec par du au aux ses son cette pas plus".split())
_EN = frozenset("the and is are of to in for that with on by was were this it as at from has have".split())

LANGUAGE_SAMPLE = 20000     # characters read to tell the language
# A word longer than this is none of them, lowercased or not (lowercasing never shortens a word).
_LONGEST_FUNCTION_WORD = max(map(len, _FR | _EN))

LANGUAGE_NAMES = {"fr": "French", "en": "English"}


@dataclass(frozen=True)
class Sentence:
    number: int   # 1-based
    start: int
    end: int
    text: str


def sentences(text: str, offset: int = 0, first_number: int = 1) -> list[Sentence]:
    """Split ``text`` into sentences with exact spans (``text[start-offset:end-offset] == s.text``)."""
    result: list[Sentence] = []
    for line in _LINE.finditer(text):
        pos, stop = line.span()
        first = text[pos]
        if first != "|" and not (first.isspace() and text[pos:stop].lstrip().startswith("|")):   # a table row stays whole
            for end in _sentence_ends(text, pos, stop):
                _append(result, text, pos, end, offset, first_number)
                pos = end
        _append(result, text, pos, stop, offset, first_number)
    return result


def _sentence_ends(text: str, start: int, end: int):
    """Offsets in ``text[start:end]`` (one line) where a sentence ends, its closing marks included."""
    depth = 0
    for mark in _MARKS.finditer(text, start, end):
        c = mark.group()
        if c in "([{":
            depth += 1
            continue
        if c in ")]}":
            depth = max(0, depth - 1)
            continue
        if depth or (c == "." and _abbreviation(text, start, mark.start())):
            continue
        closing = _CLOSING.match(text, mark.end(), end)      # may be empty, never None
        stop = closing.end() if closing else mark.end()
        if stop < end and text[stop].isspace():
            yield stop


def _abbreviation(text: str, line_start: int, dot: int) -> bool:
    word = _WORD_BEFORE.search(text, max(line_start, dot - 16), dot)    # no abbreviation is longer
    return word is not None and (len(word.group()) == 1 or word.group().lower() in ABBREVIATIONS)


def _append(result: list[Sentence], text: str, start: int, end: int, offset: int, first: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped:
        return
    s = start + (len(chunk) - len(chunk.lstrip()) if chunk[0].isspace() else 0)
    result.append(Sentence(first + len(result), s + offset, s + len(stripped) + offset, stripped))


@functools.lru_cache(maxsize=64)      # stages ask it of the same article and sources again and again
def language(text: str) -> str:
    """'fr' or 'en', by counting common function words (good enough for choosing a prompt's language)."""
    counts = collections.Counter(_words(text[:LANGUAGE_SAMPLE]))
    fr = en = 0
    for word, n in counts.items():        # each distinct word lowercased once, if it could be one
        if len(word) <= _LONGEST_FUNCTION_WORD:
            word = word.lower()
            fr += n * (word in _FR)
            en += n * (word in _EN)
    return "fr" if fr >= en else "en"


def word_count(text: str) -> int:
    return len(_words(text))


@functools.lru_cache(maxsize=4)
def _words(text: str) -> tuple[str, ...]:
    """The words of ``text``; remembered, because a run counts an article's words (:func:`chunks`)
    and then reads them again for its language, at half a millisecond a scan."""
    return tuple(_WORD.findall(text))


def chunks(text: str, max_words: int) -> list[tuple[int, int]]:
    """Spans of whole lines, each at most ``max_words`` words (a longer line stands alone).

    Lines, not blank-line paragraphs: scraped and generated articles often put one paragraph per
    line with no blank line between, so a line is the unit that never cuts a sentence.
    """
    if word_count(text) <= max_words:
        return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    start = 0
    words = 0
    for match in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n|$)", text):
        if match.start() == match.end():
            break
        n = len(_WORD.findall(match.group()))
        if words and words + n > max_words:
            spans.append((start, match.start()))
            start, words = match.start(), 0
        words += n
    spans.append((start, len(text)))
    return spans


_MONTHS = ("janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
           "january|february|march|april|may|june|july|august|september|october|november|december")
_DATE_LINE = re.compile(
    rf"(?<!\w)(?:publi[ée]+\s+le|published(?:\s+on)?|mis à jour le|updated(?:\s+on)?|date\s*:)\s*"
    rf"(\d{{1,2}}(?:er)?\s+(?:{_MONTHS})\s+\d{{4}}|(?:{_MONTHS})\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}})",
    re.IGNORECASE)
DATE_LINES = 12   # the article's own date is looked for in its first lines


def stated_date(text: str) -> str | None:
    """The publication date the article states about itself, in its first :data:`DATE_LINES` lines,
    wherever it stands on the line ("Publié le 3 mars 2024", "Par Jean Dupont, publié le 12 mars
    2025"); any line break counts (LF, CRLF, a lone CR)."""
    head = text[:5000]
    breaks = [m.end() for m in re.finditer(r"\r\n|\r|\n", head)]
    if len(breaks) >= DATE_LINES:
        head = head[:breaks[DATE_LINES - 1]]
    match = _DATE_LINE.search(head)
    return match.group(1) if match else None


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def shown_path(path: str | os.PathLike) -> str:
    """A path as it can be printed on one line of a report: as it is, unless it holds a control,
    invisible or bidi character (category C, a line or paragraph separator), a byte that is not
    UTF-8, or a double quote; then in double quotes with C-style escapes, as git shows such names
    (``"a\\nb.txt"``, ``"caf\\xe9.txt"``). Backslashes alone, as in Windows paths, are left as they are.
    """
    name = os.fspath(path)
    if name.isascii() and name.isprintable() and '"' not in name:
        return name          # the usual name, checked in C: printable ASCII holds no category C character
    if not any(_needs_escape(c) or c == '"' for c in name):
        return name
    out = []
    for c in name:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif "\udc80" <= c <= "\udcff":           # an undecodable byte, kept by surrogateescape
            out.append(f"\\x{ord(c) - 0xdc00:02x}")
        elif _needs_escape(c):
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                       f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _needs_escape(c: str) -> bool:
    return unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
