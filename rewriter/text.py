"""Small text utilities shared by the stages: sentences, language, chunks, dates, printable paths."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) then whitespace,
# or at a line break: headings and list items are sentences of their own.
_SENTENCE_END = re.compile(r"""(?<=[.!?…])["»”’)\]]*[ \t]+(?=[^\s])|[\r\n]+""")
_WORD = re.compile(r"\w+", re.UNICODE)

_FR = frozenset("le la les des une est et dans pour que qui sur avec par du au aux ses son cette pas plus".split())
_EN = frozenset("the and is are of to in for that with on by was were this it as at from has have".split())

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
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        _append(result, text, pos, match.start(), offset, first_number)
        pos = match.end()
    _append(result, text, pos, len(text), offset, first_number)
    return result


def _append(result: list[Sentence], text: str, start: int, end: int, offset: int, first: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped:
        return
    lead = len(chunk) - len(chunk.lstrip())
    s, e = start + lead, start + lead + len(stripped)
    result.append(Sentence(first + len(result), s + offset, e + offset, text[s:e]))


def language(text: str) -> str:
    """'fr' or 'en', by counting common function words (good enough for choosing a prompt's language)."""
    words = [w.lower() for w in _WORD.findall(text[:20000])]
    fr = sum(w in _FR for w in words)
    en = sum(w in _EN for w in words)
    return "fr" if fr >= en else "en"


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


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
        n = word_count(match.group())
        if words and words + n > max_words:
            spans.append((start, match.start()))
            start, words = match.start(), 0
        words += n
    spans.append((start, len(text)))
    return spans


_MONTHS = ("janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
           "january|february|march|april|may|june|july|august|september|october|november|december")
_DATE_LINE = re.compile(
    rf"^\s*(?:publi[ée]+\s+le|published(?:\s+on)?|mis à jour le|updated(?:\s+on)?|date\s*:)\s*"
    rf"(\d{{1,2}}(?:er)?\s+(?:{_MONTHS})\s+\d{{4}}|(?:{_MONTHS})\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}})",
    re.IGNORECASE | re.MULTILINE)


def stated_date(text: str) -> str | None:
    """The publication date the article states about itself ("Publié le 3 mars 2024"), if any."""
    match = _DATE_LINE.search(text[:5000])
    return match.group(1) if match else None


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def shown_path(path: str | os.PathLike) -> str:
    """A path as it can be printed on one line of a report: as it is, unless it holds a control,
    invisible or bidi character (category C, a line or paragraph separator), a byte that is not
    UTF-8, or a double quote; then in double quotes with C-style escapes, as git shows such names
    (``"a\\nb.txt"``, ``"caf\\xe9.txt"``). Backslashes alone, as in Windows paths, are left as they are.
    """
    name = os.fspath(path)
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
