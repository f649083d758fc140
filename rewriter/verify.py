"""The grounding check and edit safety, applied to every proposal whatever the model says.

A source is ``verified`` only when its quote was found in a text that was actually read: a page
fetched with ``--fetch`` or a file of the local library. A proposal is ``verified`` only when one
of its sources is, every number and date its replacement adds appears in a verified quote, and
it passes the edit-safety rules. Everything else is ``needs_review``, with the reason in words,
except a deletion of anything but boilerplate or an artifact, which is ``failed`` and changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .evidence import Document, Evidence, document_id, fold, is_http_url, url_key
from .models import (DELETABLE_KINDS, DELETE, FAILED, KEEP, NEEDS_HUMAN, NEEDS_REVIEW, REPLACE, VERIFIED,
                     Finding, Proposal, Source)
from .text import _MONTHS as MONTH_NAMES   # "janvier|février|fevrier|...|december", as stated_date reads them

FUZZY_THRESHOLD = 90.0      # rapidfuzz partial_ratio, on normalised text
MIN_QUOTE_CHARS = 20        # shorter quotes match too easily to prove anything
MAX_GROWTH = 3              # a replacement over 3x its span ...
MAX_GROWTH_CHARS = 200      # ... and over 200 characters needs review

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
_SCALES = {"mille": 10**3, "thousand": 10**3, "million": 10**6, "mio": 10**6, "milliard": 10**9,
           "md": 10**9, "mds": 10**9, "mrd": 10**9, "mrds": 10**9, "billion": 10**9, "bn": 10**9}
_NUMBER = re.compile(r"\d+(?:[ .,]\d+)*(?:\s*(milliards?|mds?|mrds?|billions?|bn|millions?|mio|mille|thousands?)\b)?")


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


def numbers_in(text: str) -> set[str]:
    """Numbers and dates in ``text``, each in one spelling.

    "1,7" and "1.7" -> "1.7"; "12 000" and "12,000" -> "12000"; "12 milliards" -> "12" and
    "12000000000"; "12 mars 2024", "March 12, 2024" and "2024-03-12" -> "date:2024-03-12" with
    its coarser forms "date:2024-03", "date:--03-12" and "2024".
    """
    folded = fold(text)
    found: set[str] = set()
    for pattern, kind in _DATE_PATTERNS:
        def take(match: re.Match) -> str:
            tokens = _date_tokens(kind, match.groups())
            if tokens is None:
                return match.group(0)
            found.update(tokens)
            return " " * len(match.group(0))
        folded = pattern.sub(take, folded)
    for match in _NUMBER.finditer(folded):
        run = match.group(0)[:len(match.group(0)) - len(match.group(1) or "")].rstrip()
        try:
            values = _numbers(run)
        except InvalidOperation:
            continue
        found.update(_canon(v) for v in values)
        if match.group(1):
            word = match.group(1)
            scale = _SCALES.get(word) or _SCALES[word.rstrip("s")]
            found.add(_canon(values[-1] * scale))
    return found


# ---------------------------------------------------------------- sources

def _set(source: Source, status: str, reason: str, location: dict | None = None) -> None:
    source.status, source.reason, source.location = status, reason, location


def _where(doc: Document) -> str:
    return doc.url or doc.path or doc.title


def check_source(source: Source, evidence: Evidence) -> None:
    """Set ``source.status``, ``reason`` and ``location``; may fetch a URL not read yet."""
    url = (source.url or "").strip()
    if url and not is_http_url(url):
        return _set(source, NOT_FOUND, f"invalid URL {url!r}: only well-formed http(s) URLs are checked")
    if evidence.offline:
        return _set(source, UNCHECKED, "offline: no source was read")
    if not source.evidence_id and not url:
        return _set(source, NOT_FOUND, "cites neither an evidence id nor a URL")
    doc = evidence.document_for_source(source)
    if doc is None:
        return _set(source, NOT_FOUND, f"unknown evidence id {source.evidence_id!r}: no such document was gathered")
    notes = []
    if source.evidence_id and document_id(source.evidence_id) != doc.id:
        notes.append(f"unknown evidence id {source.evidence_id!r}, so the URL was checked")
    elif url and (doc.url is None or url_key(url) != url_key(doc.url)):
        # The evidence id wins: the report must not show a URL that was never read next to "verified".
        notes.append(f"the URL given ({url}) is not that of {doc.id} and was not checked")
        source.url = doc.url or ""
    note = "".join(f"; {n}" for n in notes)
    if doc.text is None:
        if doc.error:
            return _set(source, UNREACHABLE, f"{_where(doc)}: {doc.error}{note}")
        return _set(source, UNCHECKED, f"{_where(doc)} was not fetched (run with --fetch to read it){note}")
    quote = normalise(source.quote).strip(_QUOTE_EDGES)
    if len(quote) < MIN_QUOTE_CHARS:
        return _set(source, NOT_FOUND, f"quote too short to check ({len(quote)} characters; "
                                       f"at least {MIN_QUOTE_CHARS} are needed, a whole sentence){note}")
    match = find_quote(source.quote, doc.text)
    if match is None:
        return _set(source, NOT_FOUND, f"quote not in {doc.id} ({_where(doc)}; "
                                       f"{len(doc.text):,} characters read){note}")
    how = "exact" if match.exact else f"fuzzy, score {match.score:g}"
    _set(source, SOURCE_VERIFIED, f"quote found in {doc.id} ({_where(doc)}), characters "
                                  f"{match.start}-{match.end} ({how}){note}",
         {"evidence": doc.path or doc.url, "evidence_id": doc.id, "url": doc.url, "start": match.start,
          "end": match.end, "score": match.score, "exact": match.exact, "text": doc.text[match.start:match.end]})


# ---------------------------------------------------------------- proposals

def _fail(proposal: Proposal, reason: str) -> None:
    proposal.status, proposal.status_reason, proposal.error = FAILED, reason, proposal.error or reason


def _forbidden_deletion(proposal: Proposal, finding: Finding) -> str | None:
    """Why the proposal may not delete this span, or ``None``.

    An empty (or blank) replacement is a deletion whatever the action says. Only boilerplate and
    artifacts may go: a placeholder, a dangling citation or a claim that vanished would leave the
    article wrong without anything showing it ("Le PIB a crû de  en 2024").
    """
    if proposal.action == DELETE:
        proposal.replacement = ""   # a deletion carries no text
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
    if len(replacement) > MAX_GROWTH * span and len(replacement) > MAX_GROWTH_CHARS:
        problems.append(f"the replacement is {len(replacement)} characters for a span of {span} "
                        f"(over {MAX_GROWTH}x and {MAX_GROWTH_CHARS} characters): check it was not rewritten wholesale")
    return problems


def _grounding(proposal: Proposal, finding: Finding) -> tuple[bool, str]:
    verified = [s for s in proposal.sources if s.status == SOURCE_VERIFIED]
    if not proposal.sources:
        if proposal.action == DELETE or not proposal.replacement:
            return False, "a deletion cites no source: check by eye that the span is debris"
        return False, "no source cited"
    if not verified:
        return False, "no source verified: " + "; ".join(
            f"{s.evidence_id or s.url or 'source'} {s.status} ({s.reason})" for s in proposal.sources)
    introduced = numbers_in(proposal.replacement) - numbers_in(finding.text)
    quoted = set().union(*(numbers_in(s.quote) for s in verified))
    missing = sorted(introduced - quoted)
    if missing:
        return False, (f"the replacement introduces {', '.join(missing)}, not in any verified quote")
    first = verified[0]
    return True, f"{first.evidence_id or first.url}: {first.reason}"


def verify(article_text: str, findings: dict[str, Finding], proposals: list[Proposal],
           evidence: Evidence) -> list[Proposal]:
    """Check every proposal's sources and edits; mutates the proposals in place and returns the same list.

    ``replace``/``delete`` end ``verified`` or ``needs_review`` (``failed`` when the proposal targets
    no finding of the article, or deletes a span that is not boilerplate or an artifact); ``keep``
    and ``needs_human`` keep that status; a ``failed`` proposal stays failed. Sources are checked in
    every case.
    """
    seen: set[str] = set()
    for proposal in proposals:
        for source in proposal.sources:
            check_source(source, evidence)
        finding = findings.get(proposal.finding_id)
        if proposal.status == FAILED:
            continue
        if proposal.action not in (REPLACE, DELETE, KEEP, NEEDS_HUMAN):
            _fail(proposal, f"unknown action {proposal.action!r}")
            continue
        if finding is None:
            _fail(proposal, f"no finding with id {proposal.finding_id!r} in this article: "
                            "a proposal may only change its own finding's span")
            continue
        if article_text[finding.start:finding.end] != finding.text:
            _fail(proposal, f"finding {finding.id} no longer matches the article text at {finding.start}-{finding.end}")
            continue
        if proposal.finding_id in seen:
            _fail(proposal, f"a second proposal for finding {finding.id}; only the first is kept")
            continue
        seen.add(proposal.finding_id)
        if proposal.action in (KEEP, NEEDS_HUMAN):
            proposal.status = proposal.action
            continue
        forbidden = _forbidden_deletion(proposal, finding)
        if forbidden:
            _fail(proposal, forbidden)
            continue
        problems = _edit_problems(proposal, finding)
        grounded, reason = _grounding(proposal, finding)
        if grounded and not problems:
            proposal.status, proposal.status_reason = VERIFIED, reason
        else:
            proposal.status = NEEDS_REVIEW
            proposal.status_reason = "; ".join(problems + ([] if grounded else [reason]))
    return proposals
