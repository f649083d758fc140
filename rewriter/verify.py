"""The grounding check and edit safety, applied to every proposal whatever the model says.

A source is ``verified`` only when its quote was found in a text that was actually read: a page
fetched with ``--fetch`` or a file of the local library. A proposal is ``verified`` only when one
of its sources is, every number and date its replacement adds appears in a verified quote, and
it passes the edit-safety rules. Everything else is ``needs_review``, with the reason in words,
except a deletion of anything but boilerplate or an artifact, which is ``failed`` and changes nothing.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from .evidence import (Document, Evidence, document_id, finding_context, fold, is_http_url, is_table_row, lexicon,
                       tokens, url_key)
from .models import (BROKEN_TABLE, CLAIM, CLEANUP, COPYEDIT, DELETABLE_KINDS, DELETE, FAILED, KEEP, LINE_BREAK,
                     NEEDS_HUMAN, NEEDS_REVIEW, PLACEHOLDER, REFORMAT, REPLACE, VERIFIED, Finding, Proposal, Source)
from .text import _MONTHS as MONTH_NAMES, language   # "janvier|février|fevrier|...|december", as stated_date reads them

FUZZY_THRESHOLD = 90.0      # rapidfuzz partial_ratio, on normalised text
MIN_QUOTE_CHARS = 20        # shorter quotes match too easily to prove anything
MAX_GROWTH = 3              # a replacement over 3x its span ...
MAX_GROWTH_CHARS = 200      # ... and over 200 characters needs review
SHORT_SPAN = 40             # a span under 40 characters (a few words, a marker) is held tighter:
MAX_SHORT_GROWTH_CHARS = 100  # over 3x and 100 characters needs review,
MAX_CLAIM_GROWTH_CHARS = 60 # and over 60 for a claim, a few words of one sentence
REPEAT_CHARS = 20           # a replacement holding this much of the text around its span pasted it over
MIN_SHRINK_SPAN = 40        # a replacement of a span over 40 characters ...
MIN_KEPT = 0.3              # ... that keeps under 30% of its length needs review
SUBJECT_WINDOW = 300        # a quote must name the claim's subject within this many characters

SOURCE_VERIFIED, NOT_FOUND, UNREACHABLE, UNCHECKED = "verified", "not_found", "unreachable", "unchecked"


# ---------------------------------------------------------------- normalisation

_TRANSLATE = {**{ord(c): "'" for c in "‘’‚‛′´`ʼ"}, **{ord(c): '"' for c in "“”„‟″«»"},
              **{ord(c): "-" for c in "‐‑‒–—―−"}}
_QUOTE_EDGES = " \"'.,;:…"


def _normalise_map(text: str) -> tuple[str, list[int], list[int]]:
    """Normalised text, and for each of its characters the original span ``[starts[i], ends[i])``."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    space_at = None
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFKC", text[i:j]).translate(_TRANSLATE).casefold()
        for c in piece:
            if c.isspace():
                if out and space_at is None:
                    space_at = i
                continue
            if unicodedata.category(c) == "Cf":   # soft hyphens, zero-width spaces
                continue
            if space_at is not None:
                out.append(" ")
                starts.append(space_at)
                ends.append(i)
                space_at = None
            out.append(c)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(out), starts, ends


def normalise(text: str) -> str:
    """NFKC, straight quotes and apostrophes, plain hyphens, one space for any whitespace, lowercase."""
    return _normalise_map(text)[0]


@dataclass(frozen=True)
class Match:
    start: int       # offsets into the original (not normalised) text
    end: int
    score: float     # 100.0 for an exact match
    exact: bool


def find_quote(quote: str, text: str) -> Match | None:
    """Where ``quote`` is in ``text``: exact on normalised text, else rapidfuzz partial ratio >= 90.

    A fuzzy match never tolerates a different number: every number and date of the quote must be
    in the matched passage.
    """
    needle = normalise(quote).strip(_QUOTE_EDGES)
    hay, starts, ends = _normalise_map(text)
    if not needle or not hay:
        return None
    pos = hay.find(needle)
    if pos >= 0:
        return Match(starts[pos], ends[pos + len(needle) - 1], 100.0, True)
    if len(needle) > len(hay):
        return None
    from rapidfuzz import fuzz

    found = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=FUZZY_THRESHOLD)
    if found is None or found.dest_end <= found.dest_start:
        return None
    a, b = found.dest_start, found.dest_end
    if not numbers_in(needle) <= numbers_in(hay[max(0, a - 12):b + 12]):
        return None
    return Match(starts[a], ends[b - 1], round(float(found.score), 1), False)


# ---------------------------------------------------------------- numbers and dates

# Folded and without repeats, the names are twelve French then twelve English: the month is the place mod 12.
_MONTHS = {name: place % 12 + 1 for place, name in enumerate(dict.fromkeys(map(fold, MONTH_NAMES.split("|"))))}
_MONTHS["sept"] = 9     # "12 sept. 2024"
_M = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (   # (regex, group order as y/m/d letters)
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    (re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b"), "dmy"),
    (re.compile(rf"\b(\d{{1,2}})(?:er|e|st|nd|rd|th)?\s+({_M})\b(?:\s+(\d{{4}})\b)?"), "dmy"),
    (re.compile(rf"\b({_M})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"), "mdy"),
    (re.compile(rf"\b({_M})\s+(\d{{4}})\b"), "my"),
)
# Scale words. "billion" is 10^9 in English and 10^12 in French (where 10^9 is "milliard"), and
# "trillion" 10^12 in English, 10^18 in French: the language of the text decides.
_SCALES = {"mille": 10**3, "thousand": 10**3, "million": 10**6, "mio": 10**6, "milliard": 10**9,
           "md": 10**9, "mds": 10**9, "mrd": 10**9, "mrds": 10**9, "billion": 10**9, "bn": 10**9,
           "trillion": 10**12, "tn": 10**12}
_FRENCH_SCALES = {"billion": 10**12, "trillion": 10**18}
_NUMBER = re.compile(r"\d+(?:[ .,]\d+)*(?:\s*(milliards?|mds?|mrds?|billions?|trillions?|bn|tn|millions?|mio|mille"
                     r"|thousands?)\b|(b|bn|m|k)\b)?")
_LETTER_SCALES = {"b": 10**9, "bn": 10**9, "m": 10**6, "k": 10**3}   # "46.7B", "$13bn", "€5m", "10k"


@dataclass(frozen=True)
class Figure:
    """A number as a text writes it, and what it may mean."""
    written: str                  # "2,2 millions"
    raw: Decimal                  # the digits alone: 2.2
    values: tuple[Decimal, ...]   # what it stands for: (2200000,); "5m" may be (5000000, 5)
    step: Decimal                 # the precision it is written to: 100000 for "2,2 millions"


MAX_SOURCES = 5    # sources checked per proposal: a reply may not make the tool read a thousand pages


def _is_year(figure: Figure) -> bool:
    """A figure written as a plain four-digit year (1000 to 2199), not a scaled or decimal one."""
    value = figure.values[0]
    return value == figure.raw and value == value.to_integral_value() and 1000 <= value <= 2199 \
        and re.fullmatch(r"\d{4}", figure.written.strip()) is not None


def _canon(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _date_tokens(kind: str, groups: tuple[str | None, ...]) -> set[str] | None:
    values = dict(zip(kind, groups))
    month = values.get("m")
    month = _MONTHS[month] if month in _MONTHS else int(month) if month else None
    day = int(values["d"]) if values.get("d") else None
    year = values.get("y")
    if year is not None:
        year = int(year) + (2000 if int(year) < 50 else 1900) if len(year) == 2 else int(year)
    if kind == "dmy" and groups[1] and groups[1].isdigit() and month and month > 12 and day and day <= 12:
        day, month = month, day           # 03/14/2024: American order
    if not month or month > 12 or (day is not None and not 1 <= day <= 31):
        return None
    found = set()
    if day is not None:
        found.add(f"date:--{month:02d}-{day:02d}")
    if year is not None:
        found |= {f"date:{year}-{month:02d}", str(year)}
        if day is not None:
            found.add(f"date:{year}-{month:02d}-{day:02d}")
    return found


def _numbers(run: str) -> list[Decimal]:
    """The numbers of a run of digit groups: "12 000" -> 12000, "1,7" -> 1.7, "2023 12" -> 2023, 12."""
    parts = re.split(r"([ .,])", run)
    groups, seps = parts[0::2], parts[1::2]
    decimal = None
    if seps and seps[-1] in ".," and (len(groups[-1]) != 3 or groups[0] == "0"
                                      or (len(seps) > 1 and seps[-1] != seps[0])):
        decimal, groups, seps = groups[-1], groups[:-1], seps[:-1]
    thousands = (len(groups) > 1 and len(set(seps)) == 1 and 1 <= len(groups[0]) <= 3
                 and all(len(g) == 3 for g in groups[1:]))
    integers = ["".join(groups)] if thousands or len(groups) == 1 else groups
    values = [Decimal(g) for g in integers]
    if decimal is not None:
        values[-1] = Decimal(f"{integers[-1]}.{decimal}")
    return values


def _scan(text: str, lang: str | None) -> tuple[set[str], list[Figure]]:
    """The date tokens of ``text``, and its other numbers as figures (dates taken out first)."""
    folded = fold(text)
    dates: set[str] = set()
    for pattern, kind in _DATE_PATTERNS:
        def take(match: re.Match) -> str:
            tokens = _date_tokens(kind, match.groups())
            if tokens is None:
                return match.group(0)
            dates.update(tokens)
            return " " * len(match.group(0))
        folded = pattern.sub(take, folded)
    figures = []
    scales = {**_SCALES, **(_FRENCH_SCALES if lang == "fr" else {})}
    for match in _NUMBER.finditer(folded):
        word, letter = match.group(1), match.group(2)
        run = match.group(0)[:len(match.group(0)) - len(word or letter or "")].rstrip()
        try:
            values = _numbers(run)
        except InvalidOperation:
            continue
        for n, value in enumerate(values):
            step = Decimal(1).scaleb(value.as_tuple().exponent)     # 2.2 -> 0.1, 12 -> 1
            meanings: tuple[Decimal, ...] = (value,)
            if n == len(values) - 1 and word:
                scale = Decimal(scales.get(word) or scales[word.rstrip("s")])
                meanings, step = (value * scale,), step * scale
            elif n == len(values) - 1 and letter:
                scale = Decimal(_LETTER_SCALES[letter])
                # "46.7b" is 46.7 billion; "5m" may be 5 million or 5 metres.
                meanings = (value * scale,) if letter in ("b", "bn") else (value * scale, value)
                step = step * scale
            written = match.group(0).strip() if n == len(values) - 1 else str(value)
            figures.append(Figure(written, value, meanings, step))
    return dates, figures


def numbers_in(text: str, lang: str | None = None) -> set[str]:
    """Numbers and dates in ``text``, each in one spelling.

    "1,7" and "1.7" -> "1.7"; "12 000" and "12,000" -> "12000"; "12 milliards" -> "12" and
    "12000000000" ("46.7B" too); "12 mars 2024", "March 12, 2024" and "2024-03-12" ->
    "date:2024-03-12" with its coarser forms "date:2024-03", "date:--03-12" and "2024". With
    ``lang="fr"``, "billion" is 10^12 and "trillion" 10^18.
    """
    dates, figures = _scan(text, lang)
    found = set(dates)
    for figure in figures:
        found.update(_canon(v) for v in (figure.raw, *figure.values))
    return found


def support(figure: Figure, quoted: list[Figure]) -> str | None:
    """How a quote supports ``figure``: "" when it states it, "rounded from X" when ``figure`` is X
    rounded the way it is written ("2,2 millions" from "2 187 526"), ``None`` when it does not.

    Rounding counts only within 5 %: "2 millions" is not 1 500 000 rounded.
    """
    for value in figure.values:
        if any(value in q.values for q in quoted):
            return ""
    for value in figure.values:
        for q in quoted:
            for stated in q.values:
                if (value and abs(stated - value) <= figure.step / 2
                        and abs(stated - value) <= abs(value) * Decimal("0.05")):
                    return f"rounded from {q.written}"
    return None


# ---------------------------------------------------------------- sources

@dataclass(frozen=True)
class SourceVerdict:
    """What the check found about one source; :func:`verify` builds the checked source from it."""
    status: str
    reason: str
    location: dict | None = None
    url: str | None = None          # the URL to show instead of the one given (None: keep it)
    document: Document | None = None   # the document the source's evidence id names, when it was read

    def applied(self, source: Source) -> Source:
        checked = replace(source, status=self.status, reason=self.reason, location=self.location,
                          url=source.url if self.url is None else self.url)
        doc = self.document
        if doc is None:
            return checked
        # A cited snippet is shown with what the tool read: the page's URL, title and date (or the
        # library file), not whatever the model wrote beside the id.
        return replace(checked, url=doc.url or checked.url, title=doc.title or checked.title,
                       date=doc.date or checked.date)


def _where(doc: Document) -> str:
    return doc.url or doc.path or doc.title


def check_source(source: Source, evidence: Evidence) -> SourceVerdict:
    """Whether ``source``'s quote is in a text the tool read; may fetch a URL not read yet.

    An evidence id counts only if it was offered to the model (:meth:`Evidence.snippets_for`);
    the quote is looked up in the whole document, never only in a snippet.
    """
    url = (source.url or "").strip()
    if url and not is_http_url(url):
        return SourceVerdict(NOT_FOUND, f"invalid URL {url!r}: only well-formed http(s) URLs are checked")
    if evidence.offline:
        return SourceVerdict(UNCHECKED, "offline: no source was read")
    if not source.evidence_id and not url:
        return SourceVerdict(NOT_FOUND, "cites neither an evidence id nor a URL")
    cited = source.evidence_id.strip()
    notes: list[str] = []
    shown = None
    problem = ""
    if cited:
        doc = evidence.document(document_id(cited))
        if doc is None:
            problem = f"unknown evidence id {cited!r}"
            why = ": no such document was gathered"
        elif not evidence.was_offered(cited):
            problem = f"evidence id {cited!r} was not offered"
            why = " to the model: only the snippets it was shown can be cited"
        else:
            problem = why = ""
        if problem and not url:
            return SourceVerdict(NOT_FOUND, problem + why)
        if problem:
            notes.append(f"{problem}, so the URL was checked")
            doc = evidence.document_for_source(replace(source, evidence_id=""))
        elif url and (doc.url is None or url_key(url) != url_key(doc.url)):
            # The evidence id wins: the report must not show a URL that was never read next to "verified".
            notes.append(f"the URL given ({url}) is not that of {doc.id} and was not checked")
            shown = doc.url or ""
    else:
        doc = evidence.document_for_source(source)
    if doc is None:
        return SourceVerdict(NOT_FOUND, f"{url} cannot be read")
    named = doc if cited and not problem else None
    note = "".join(f"; {n}" for n in notes)
    if doc.text is None:
        if doc.error:
            return SourceVerdict(UNREACHABLE, f"{_where(doc)}: {doc.error}{note}", url=shown, document=named)
        return SourceVerdict(UNCHECKED, f"{_where(doc)} was not fetched (run with --fetch to read it){note}",
                             url=shown, document=named)
    quote = normalise(source.quote).strip(_QUOTE_EDGES)
    if len(quote) < MIN_QUOTE_CHARS:
        return SourceVerdict(NOT_FOUND, f"quote too short to check ({len(quote)} characters; "
                                        f"at least {MIN_QUOTE_CHARS} are needed, a whole sentence){note}",
                             url=shown, document=named)
    match = find_quote(source.quote, doc.text)
    if match is None:
        return SourceVerdict(NOT_FOUND, f"quote not in {doc.id} ({_where(doc)}; "
                                        f"{len(doc.text):,} characters read){note}", url=shown, document=named)
    how = "exact" if match.exact else f"fuzzy, score {match.score:g}"
    return SourceVerdict(
        SOURCE_VERIFIED, f"quote found in {doc.id} ({_where(doc)}), characters {match.start}-{match.end} ({how}){note}",
        {"evidence": doc.path or doc.url, "evidence_id": doc.id, "url": doc.url, "start": match.start,
         "end": match.end, "score": match.score, "exact": match.exact, "text": doc.text[match.start:match.end]},
        url=shown, document=named)


# ---------------------------------------------------------------- what a claim is about

# A name: a capitalised word, an acronym, or a word with digits and letters (GPT-4, 8x7B, A320).
_NAME_WORD = re.compile(r"[^\W\d_][\w'’]*(?:-[\w]+)*|\d+[^\W\d_][\w]*(?:-[\w]+)*")
_NOT_NAMES = frozenset(_MONTHS) | frozenset(fold(d) for d in (
    "monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi "
    "samedi dimanche").split())


# Words that open a sentence with a capital and name nothing: connectors and sentence adverbs.
_OPENERS = frozenset(fold(w) for w in (
    "toutefois cependant pourtant néanmoins ainsi enfin donc alors aussi ensuite puis désormais "
    "aujourd'hui d'ailleurs certes outre selon depuis malgré however moreover meanwhile therefore "
    "thus yet still also instead nevertheless furthermore indeed today since despite").split())


def _capitalised_only_to_start_a_sentence(word: str, at: int, text: str) -> bool:
    """"Toutefois", "However": a capital that only says a sentence begins (a connector opening the
    sentence). Other first words stay names: "Mixtral compte…" is about Mixtral."""
    return bool(re.fullmatch(r"\s*", text[:at])) and fold(word) in _OPENERS


def _names(text: str) -> list[str]:
    common = set(lexicon().values())
    names: list[str] = []
    for match in _NAME_WORD.finditer(text):
        word = re.sub(r"^(?:[LlDdJjNnSsCcMmTt]|[Qq]u)['’]", "", match.group(0))      # "L'Insee" -> "Insee"
        if not word or not (word[0].isupper() or any(c.isdigit() for c in word)) or fold(word) in _NOT_NAMES:
            continue
        if _capitalised_only_to_start_a_sentence(word, match.start(), text):
            continue
        found = tokens(word)
        if found and not all(t in common for t in found) and word not in names:   # "Entreprise" is no name
            names.append(word)
    return names


def subject_names(finding: Finding, article_text: str, replacement: str = "") -> list[str]:
    """What the finding's sentence is about: the names (capitalised words, acronyms, product names
    such as GPT-4) of its sentence outside the span, and those inside the span that the replacement
    keeps. A name the replacement changes ("Richmond" -> "Redmond") is the error, not the subject;
    a placeholder's text is no name; nor are month and day names, nor a word capitalised only
    because it begins the sentence. A sentence that names nothing else ("Toutefois, la firme de
    Richmond semble…") is about what the sentences beside it name.
    """
    own, near = finding_context(finding, article_text)
    outside = _names(own.replace(finding.text, " "))
    kept = set(tokens(replacement))
    inside = [n for n in _names(finding.text) if n not in outside and all(t in kept for t in tokens(n))]
    return outside + inside or _names(near)


def _names_in(name: str, words: set[str]) -> bool:
    """A name with digits must be there whole (GPT-4 is not GPT-3); a plain word by itself."""
    found = tokens(name)
    return bool(found) and all(t in words for t in found)


def _surroundings(doc: Document, start: int, end: int) -> str:
    """What a quote at ``doc.text[start:end]`` is read with: its table rows alone, or, in prose, the
    300 characters on either side and the document's title."""
    text = doc.text or ""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    lines = text[line_start:len(text) if line_end < 0 else line_end]
    if all(is_table_row(line) for line in lines.splitlines() if line.strip()):
        return lines
    return f"{doc.title}\n{text[max(0, start - SUBJECT_WINDOW):end + SUBJECT_WINDOW]}"


def names_subject(names: list[str], doc: Document, location: dict) -> bool:
    words = set(tokens(_surroundings(doc, location["start"], location["end"])))
    return any(_names_in(name, words) for name in names)


# ---------------------------------------------------------------- proposals

def _forbidden_deletion(proposal: Proposal, finding: Finding) -> str | None:
    """Why the proposal may not delete this span, or ``None``.

    An empty (or blank) replacement is a deletion whatever the action says. Only boilerplate and
    artifacts may go: a placeholder, a dangling citation or a claim that vanished would leave the
    article wrong without anything showing it ("Le PIB a crû de  en 2024").
    """
    if proposal.replacement.strip() or finding.kind in DELETABLE_KINDS:
        return None
    return ("deletion is allowed only for boilerplate and artifacts; "
            f"the model proposed deleting a {finding.kind.replace('_', ' ')}")


def _edit_problems(proposal: Proposal, finding: Finding) -> list[str]:
    """Edit-safety rules that leave the proposal for review, whatever the model says."""
    replacement = proposal.replacement
    problems = []
    if replacement and replacement == finding.text:
        problems.append("the replacement is the same as the original text")
    span = len(finding.text)
    most = (MAX_GROWTH_CHARS if span >= SHORT_SPAN else
            MAX_CLAIM_GROWTH_CHARS if finding.kind == CLAIM else MAX_SHORT_GROWTH_CHARS)
    if len(replacement) > MAX_GROWTH * span and len(replacement) > most:
        problems.append(f"the replacement is {len(replacement)} characters for a span of {span} "
                        f"(over {MAX_GROWTH}x and {most} characters): check it was not rewritten wholesale")
    kept = len(replacement.strip())
    if finding.kind not in DELETABLE_KINDS and span > MIN_SHRINK_SPAN and kept < MIN_KEPT * span:
        problems.append(f"the replacement keeps {kept} characters of a span of {span} (under "
                        f"{MIN_KEPT:.0%}): check that nothing that should stay was removed")
    breaks = len(re.findall(r"\r\n|\r|\n", finding.text))
    if breaks:
        problems.append(f"the span crosses {breaks} line break{'s' if breaks > 1 else ''}: "
                        "a change inside one sentence never does; check the lines around it by eye")
    added = len(re.findall(r"\r\n|\r|\n", replacement)) - breaks
    if finding.kind == CLAIM and added > 0:
        problems.append(f"the replacement adds {added} line break{'s' if added > 1 else ''} to a claim's words: "
                        "a correction inside a sentence never starts a new paragraph or heading")
    return problems


def _line_around(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before ``start`` and after ``end`` on their lines (300 characters at most each)."""
    breaks_before = [m.end() for m in LINE_BREAK.finditer(text, max(0, start - SUBJECT_WINDOW), start)]
    line_start = breaks_before[-1] if breaks_before else max(0, start - SUBJECT_WINDOW)
    after = LINE_BREAK.search(text, end, min(len(text), end + SUBJECT_WINDOW))
    return text[line_start:start], text[end:after.start() if after else min(len(text), end + SUBJECT_WINDOW)]


def _boundary(a: str, b: str) -> bool:
    """Whether a cut between ``a`` and ``b`` falls between words (not inside one)."""
    return not (a and b and a[-1].isalnum() and b[0].isalnum())


def fit_to_span(replacement: str, finding: Finding, text: str) -> tuple[str, list[str], list[str]]:
    """The context guard: ``replacement`` made to fit its span, what was trimmed, and what is left wrong.

    A model that pastes a whole sentence or row over a date repeats the words around the span
    ("Le Le 11 décembre 2023, …"). An exact overlap with the text just before the span (a prefix of
    the replacement) or just after it (a suffix) is trimmed, whole words only; a replacement that
    still holds :data:`REPEAT_CHARS` characters of the text around the span is a problem.
    """
    before, after = _line_around(text, finding.start, finding.end)
    new, trimmed = replacement, []
    for k in range(min(len(before), len(new) - 1), 0, -1):
        head = new[:k]
        if (before.endswith(head) and head.strip() and _boundary(before[:-k], head) and _boundary(head, new[k:])
                and not finding.text.startswith(head) and new[k:].strip()):
            trimmed.append(f"trimmed {head!r}, repeated from the text before the span")
            new = new[k:]
            break
    for k in range(min(len(after), len(new) - 1), 0, -1):
        tail = new[-k:]
        if (after.startswith(tail) and tail.strip() and _boundary(new[:-k], tail) and _boundary(tail, after[k:])
                and not finding.text.endswith(tail) and new[:-k].strip()):
            trimmed.append(f"trimmed {tail!r}, repeated from the text after the span")
            new = new[:-k]
            break
    if trimmed and new != new.strip() and finding.text == finding.text.strip():
        new = new.strip()
    problems = []
    for where, around in (("before", before), ("after", after)):
        match = difflib.SequenceMatcher(None, new, around, autojunk=False).find_longest_match(0, len(new), 0, len(around))
        piece = new[match.a:match.a + match.size]
        if match.size >= REPEAT_CHARS and " " in piece.strip() and piece not in finding.text:
            problems.append(f"the replacement repeats {match.size} characters of the text {where} the span "
                            f"({piece.strip()!r}): a whole sentence or row may have been pasted over the span")
    return new, trimmed, problems


def _grounding(proposal: Proposal, finding: Finding, article_text: str,
               evidence: Evidence) -> tuple[bool, str]:
    verified = [s for s in proposal.sources if s.status == SOURCE_VERIFIED]
    if not proposal.sources:
        if proposal.action == DELETE or not proposal.replacement:
            return False, "a deletion cites no source: check by eye that the span is debris"
        return False, "no source cited"
    if not verified:
        return False, "no source verified: " + "; ".join(
            f"{s.evidence_id or s.url or 'source'} {s.status} ({s.reason})" for s in proposal.sources)

    def doc_of(source: Source) -> Document:
        return evidence.document(source.location["evidence_id"])

    names = subject_names(finding, article_text, proposal.replacement) if proposal.replacement else []
    if names:
        about = [s for s in verified if names_subject(names, doc_of(s), s.location)]
        if not about:
            return False, (f"the quote does not name {', '.join(names)} (nor do its table row, or in prose the "
                           f"{SUBJECT_WINDOW} characters around it and its document's title): it may be about "
                           "something else")
        verified = about
    article_lang = language(article_text)
    in_span = numbers_in(finding.text, article_lang)
    dates, figures = _scan(proposal.replacement, article_lang)
    quoted_dates: set[str] = set()
    quoted: list[Figure] = []
    for source in verified:
        source_dates, source_figures = _scan(source.quote, language(doc_of(source).text or ""))
        quoted_dates |= source_dates
        quoted += source_figures
    missing = set(dates - in_span - quoted_dates)
    # A year read off a quoted date may fill a year: in a placeholder, or in place of a year or date.
    span_has_a_year = finding.kind == PLACEHOLDER or any(_is_year(f) for f in _scan(finding.text, article_lang)[1]) \
        or any(t.startswith("date:") for t in in_span)
    rounded = []
    for figure in figures:
        # What the replacement writes means one thing: "5m" is 5 million, never a bare 5 that a quote
        # about "5 years" would support.
        figure = replace(figure, values=figure.values[:1])
        if _canon(figure.values[0]) in in_span:
            continue        # in the span already
        if _is_year(figure) and span_has_a_year and _canon(figure.values[0]) in quoted_dates:
            continue        # a year for a year, from a quoted date ("2023" from "28 avril 2023")
        how = support(figure, quoted)
        if how is None:
            missing.add(_canon(figure.values[0]))
        elif how:
            rounded.append(f"{figure.written} {how}")
    if missing:
        return False, f"the replacement introduces {', '.join(sorted(missing))}, not in any verified quote"
    quoted_words = set().union(*(tokens(s.quote) for s in verified))
    new_names = [n for n in _names(proposal.replacement) if n not in _names(finding.text)
                 and not _names_in(n, quoted_words)]
    if new_names:
        return False, (f"the replacement introduces {', '.join(new_names)}, named in no verified quote")
    first = verified[0]
    return True, f"{first.evidence_id or first.url}: {first.reason}" + "".join(f"; {r}" for r in rounded)


def verify(article_text: str, findings: dict[str, Finding], proposals: list[Proposal],
           evidence: Evidence) -> list[Proposal]:
    """Check every proposal's sources and edits; return the checked proposals (new objects, same order).

    ``replace``/``delete`` end ``verified`` or ``needs_review`` (``failed`` when the proposal targets
    no finding of the article, or deletes a span that is not boilerplate or an artifact); ``keep``
    and ``needs_human`` keep that status; a ``failed`` proposal stays failed. Sources are checked in
    every case. The proposals given are left as they were.
    """
    seen: set[str] = set()
    result = []
    for given in proposals:
        proposal = replace(given, sources=[check_source(s, evidence).applied(s) if n < MAX_SOURCES else
                                           replace(s, status=UNCHECKED, reason=f"only the first {MAX_SOURCES} "
                                                   "sources of a change are checked")
                                           for n, s in enumerate(given.sources)])
        if proposal.action == DELETE:
            proposal.replacement = ""   # a deletion carries no text
        result.append(_judged(proposal, findings, article_text, evidence, seen))
    return link_same_corrections(findings, result)


def _failed(proposal: Proposal, reason: str) -> Proposal:
    return replace(proposal, status=FAILED, status_reason=reason, error=proposal.error or reason)


def _judged(proposal: Proposal, findings: dict[str, Finding], article_text: str, evidence: Evidence,
            seen: set[str]) -> Proposal:
    finding = findings.get(proposal.finding_id)
    if proposal.status == FAILED:
        return proposal
    if proposal.action not in (REPLACE, DELETE, KEEP, NEEDS_HUMAN):
        return _failed(proposal, f"unknown action {proposal.action!r}")
    if finding is None:
        return _failed(proposal, f"no finding with id {proposal.finding_id!r} in this article: "
                                 "a proposal may only change its own finding's span")
    if article_text[finding.start:finding.end] != finding.text:
        return _failed(proposal, f"finding {finding.id} no longer matches the article text at "
                                 f"{finding.start}-{finding.end}")
    if proposal.finding_id in seen:
        return _failed(proposal, f"a second proposal for finding {finding.id}; only the first is kept")
    seen.add(proposal.finding_id)
    if proposal.action in (KEEP, NEEDS_HUMAN):
        return replace(proposal, status=proposal.action)
    forbidden = _forbidden_deletion(proposal, finding)
    if forbidden:
        return _failed(proposal, forbidden)
    if finding.kind == BROKEN_TABLE and proposal.action == REPLACE:
        return _table_rebuild(proposal, finding)
    notes: list[str] = []
    fit_problems: list[str] = []
    if proposal.action == REPLACE and proposal.replacement:
        fitted, notes, fit_problems = fit_to_span(proposal.replacement, finding, article_text)
        proposal = replace(proposal, replacement=fitted)
    problems = _edit_problems(proposal, finding) + fit_problems
    grounded, reason = _grounding(proposal, finding, article_text, evidence)
    noted = "".join(f"; {n}" for n in notes)
    if grounded and not problems:
        return replace(proposal, status=VERIFIED, status_reason=reason + noted)
    lane = None if problems else _lane(proposal, finding, article_text)
    if lane is not None:
        return replace(proposal, status=lane[0], status_reason=lane[1] + noted)
    return replace(proposal, status=NEEDS_REVIEW,
                   status_reason="; ".join(problems + ([] if grounded else [reason]) + notes))


# ---------------------------------------------------------------- lanes checked by rule

def _table_rebuild(proposal: Proposal, finding: Finding) -> Proposal:
    """A broken table rebuilt as Markdown: ``reformat`` when it holds exactly the original words,
    row by row and in order (checked cell by cell, no source needed), else ``failed`` with why."""
    from .tablecheck import cell_problem

    problem = cell_problem(finding.text, proposal.replacement)
    if problem:
        return _failed(proposal, f"not a pure reformatting of the table: {problem}")
    return replace(proposal, status=REFORMAT,
                   status_reason="reformat: the table rebuilt with exactly its words, row by row and in order, "
                                 "checked cell by cell by rule; no source needed")


_DIFF_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# Words a copy edit never changes: numbers in words, months, days, negations.
_MEANING_WORDS = frozenset(_MONTHS) | _NOT_NAMES | frozenset(fold(w) for w in (
    "zéro deux trois quatre cinq six sept huit neuf dix onze douze vingt trente quarante cinquante "
    "soixante cent cents mille million millions milliard milliards zero one two three four five seven eight "
    "nine ten eleven twelve twenty thirty forty fifty hundred thousand billion billions ne pas non jamais "
    "aucun aucune rien not no never none nothing").split())


def copyedit_problem(old: str, new: str, lang: str | None = None) -> str | None:
    """Why replacing ``old`` by ``new`` is not a copy edit (a typo, spacing, accent or grammar fix),
    or ``None`` when it is: no number or date the span does not hold, no name that is not a
    misspelling (two edits at most) of a word of the span, each changed group of words within
    two edits (or a third of its length), and all of it within 3 edits or a fifth of the span."""
    from rapidfuzz.distance import Levenshtein

    added = numbers_in(new, lang) - numbers_in(old, lang)
    if added:
        return f"it adds {', '.join(sorted(added))}"
    old_words = {fold(w) for w in re.findall(r"\w+", old)}
    for name in _names(new):
        for word in re.findall(r"\w+", name):
            if fold(word) not in old_words and not any(Levenshtein.distance(fold(word), w) <= 2 for w in old_words):
                return f"it adds the name {name!r}"
    meaning = [Counter(w for w in map(fold, re.findall(r"\w+", t)) if w in _MEANING_WORDS) for t in (old, new)]
    if meaning[0] != meaning[1]:
        changed = sorted((meaning[0] - meaning[1]) + (meaning[1] - meaning[0]))
        return f"it changes {', '.join(changed)}: a number, a month, a day or a negation"
    a, b = _DIFF_TOKEN.findall(old), _DIFF_TOKEN.findall(new)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        removed, put = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            continue
        if Levenshtein.distance(removed, put) > max(2, len(removed.strip()) // 3):
            return f"{removed.strip() or '(nothing)'!r} becomes {put.strip() or '(nothing)'!r}: more than a spelling fix"
        short, long_ = sorted((removed.strip(), put.strip()), key=len)
        if short and short != long_ and long_.endswith(short) and long_[:len(long_) - len(short)].isalpha():
            return f"{removed.strip()!r} becomes {put.strip()!r}: a prefix such as in- or non- changes the meaning"
    total = Levenshtein.distance(old, new)
    if total > max(3, len(old) // 5):
        return f"{total} characters change in {len(old)}: more than a copy edit"
    return None


def _lane(proposal: Proposal, finding: Finding, article_text: str) -> tuple[str, str] | None:
    """``(status, reason)`` when a proposal no source verifies is still checked by rule: a copy
    edit of a claim, or the deletion of chrome or an artifact a detector found."""
    if proposal.action == DELETE and finding.kind in DELETABLE_KINDS:
        return CLEANUP, (f"cleanup: {finding.kind.replace('_', ' ')} found by rule ({finding.message}); "
                         "the rule is the evidence, no source needed")
    if proposal.action == REPLACE and finding.kind == CLAIM and proposal.replacement:
        if copyedit_problem(finding.text, proposal.replacement, language(article_text)) is None:
            return COPYEDIT, ("copyedit: a spelling, spacing, accent or grammar fix that adds no number, name or "
                              "date, checked by rule; no source needed")
    return None


def link_same_corrections(findings: dict[str, Finding], proposals: list[Proposal]) -> list[Proposal]:
    """Proposals for the same wrong text as a verified correction elsewhere in the article (the same
    "12 milliards" twice) get ``linked_to`` that correction, and their reason says so."""
    verified: dict[str, Proposal] = {}
    for p in proposals:
        f = findings.get(p.finding_id)
        if f is not None and p.status == VERIFIED and p.action == REPLACE:
            verified.setdefault(f.text, p)
    result = []
    for p in proposals:
        f = findings.get(p.finding_id)
        first = verified.get(f.text) if f is not None else None
        if first is None or first.id == p.id:
            result.append(p)
            continue
        same = "the same correction" if p.replacement == first.replacement else f"{first.replacement!r}"
        note = f"the same text is corrected at {first.id} ({same}, verified there)"
        result.append(replace(p, linked_to=first.id,
                              status_reason="; ".join(x for x in (p.status_reason, note) if x)))
    return result
