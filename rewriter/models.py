"""Plain data passed between stages.

Offsets are character offsets into the decoded text of an article with any
BOM removed, so that ``text[start:end] == finding.text`` always holds.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

# Kinds a detector or the claims stage can produce.
PLACEHOLDER = "placeholder"
DANGLING_CITATION = "dangling_citation"
ARTIFACT = "artifact"
BOILERPLATE = "boilerplate"
BROKEN_TABLE = "broken_table"
CLAIM = "claim"

KINDS = (PLACEHOLDER, DANGLING_CITATION, ARTIFACT, BOILERPLATE, BROKEN_TABLE, CLAIM)
# Kinds that make `rewriter check` fail: the article is not finished.
BLOCKING_KINDS = frozenset({PLACEHOLDER, DANGLING_CITATION, ARTIFACT})
# Kinds whose span may be deleted outright.
DELETABLE_KINDS = frozenset({BOILERPLATE, ARTIFACT})


def finding_id(kind: str, start: int, end: int, text: str) -> str:
    """A stable id: the same finding in the same place always gets the same id."""
    digest = hashlib.sha256(f"{kind}\x00{start}\x00{end}\x00{text}".encode("utf-8")).hexdigest()
    return f"{kind[:2]}-{digest[:10]}"


# "\r\n", a lone "\r" (old Mac files) and "\n" each end a line.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


class LineIndex:
    """Where each line of a text starts: line and column of any offset in O(log lines).

    Build one per text and ask it for every finding; counting from the start for each
    finding made detection quadratic in the size of the article.
    """

    __slots__ = ("starts",)

    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in LINE_BREAK.finditer(text))]

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset; "\r\n", "\r" and "\n" each end a line.

    For one offset; for many in the same text, build a :class:`LineIndex` once. An offset
    between the CR and the LF of a CRLF is on the CR's line, as it is for a :class:`LineIndex`
    (the character at ``offset`` is looked at, so a CRLF is never seen as a lone CR).
    """
    return LineIndex(text[:offset + 1]).line_col(offset)


@dataclass(frozen=True)
class Finding:
    id: str
    kind: str
    subtype: str
    start: int
    end: int
    line: int
    column: int
    text: str
    message: str
    payload: dict[str, Any] | None = None
    # Where the span ends: the line and the (1-based) column just past its last character, as
    # SARIF's endLine/endColumn; None in findings read from reports made before they were recorded.
    end_line: int | None = None
    end_column: int | None = None

    @classmethod
    def at(cls, text: str, start: int, end: int, kind: str, subtype: str, message: str,
           payload: dict[str, Any] | None = None, *, lines: LineIndex | None = None) -> "Finding":
        """Build a finding for ``text[start:end]``, computing id, line and column.

        Pass the text's :class:`LineIndex` as ``lines`` when building many findings.
        """
        span = text[start:end]
        if lines is None:
            lines = LineIndex(text[:end + 1])
        line, column = lines.line_col(start)
        end_line, end_column = lines.line_col(end) if end > start else (line, column)
        return cls(finding_id(kind, start, end, span), kind, subtype, start, end, line, column,
                   span, message, payload, end_line, end_column)

    def to_dict(self) -> dict[str, Any]:
        # What asdict() gives (the payload copied), without its recursion through every field:
        # ten times faster, which counts in an article with a hundred thousand findings.
        data = dict(self.__dict__)
        if self.payload is not None:
            data["payload"] = copy.deepcopy(self.payload)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Reference:
    """An entry of the article's reference list (``[1] https://...`` or ``[^1]: ...``)."""
    label: str
    text: str
    url: str | None
    start: int
    end: int
    line: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)      # flat fields only: asdict()'s deep recursion is not needed


@dataclass
class Source:
    """A source a proposal rests on, and what the grounding check found."""
    url: str
    # Id of the evidence snippet or document the model cites ("E3#2"), "" when it cites a URL only.
    evidence_id: str = ""
    title: str = ""
    publisher: str = ""
    date: str = ""
    quote: str = ""
    # verified | not_found | unreachable | unchecked
    status: str = "unchecked"
    reason: str = ""
    # Where the quote was found: {"evidence": path or url, "start": int, "end": int, "score": float}
    location: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        if self.location is not None:
            data["location"] = dict(self.location)      # flat: numbers and strings
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Source":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


# Proposal actions, as the model states them.
REPLACE, DELETE, KEEP, NEEDS_HUMAN = "replace", "delete", "keep", "needs_human"
# Proposal statuses, after verification. ``copyedit`` (a typo, spacing, accent or grammar fix that
# adds no number, name or date) and ``cleanup`` (deleting chrome or an artifact a detector found)
# are lanes checked by rule, with no source needed, so an editor can accept each in one go.
VERIFIED, NEEDS_REVIEW, FAILED = "verified", "needs_review", "failed"
COPYEDIT, CLEANUP = "copyedit", "cleanup"
# ``reformat``: a broken table rebuilt as Markdown with exactly its words, checked cell by cell by rule.
REFORMAT = "reformat"
STATUSES = (VERIFIED, COPYEDIT, CLEANUP, REFORMAT, NEEDS_REVIEW, NEEDS_HUMAN, KEEP, FAILED)


@dataclass
class Proposal:
    """What to do with one finding's span. Only ``replace`` and ``delete`` change text."""
    id: str                 # stable change id, derived from the finding id
    finding_id: str
    action: str
    replacement: str        # the new text for exactly the finding's span ("" for delete)
    rationale: str = ""
    confidence: float = 0.0
    sources: list[Source] = field(default_factory=list)
    status: str = NEEDS_REVIEW
    status_reason: str = ""
    error: str | None = None
    # The change id of a verified correction of the same text elsewhere in the article.
    linked_to: str | None = None

    @property
    def changes_text(self) -> bool:
        return self.action in (REPLACE, DELETE) and self.status != FAILED

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than asdict(), whose deep copy of every value was a tenth of the
        # local work per article at archive scale.
        data = dict(self.__dict__)
        data["sources"] = [s.to_dict() for s in self.sources]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Proposal":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["sources"] = [Source.from_dict(s) for s in data.get("sources", [])]
        return cls(**fields)


@dataclass(frozen=True)
class Query:
    """One search query of the research plan, in the language of the pages it should find."""
    text: str
    lang: str

    def to_dict(self) -> dict[str, str]:
        return {"q": self.text, "lang": self.lang}


@dataclass
class ResearchItem:
    """What to look for to settle a claim or fill a gap, and the queries that should find it."""
    finding_ids: list[str]
    looking_for: str
    queries: list[Query]

    def to_dict(self) -> dict[str, Any]:
        return {"finding_ids": list(self.finding_ids), "looking_for": self.looking_for,
                "queries": [q.to_dict() for q in self.queries]}


def change_id(finding_id_: str) -> str:
    return "ch-" + finding_id_.split("-", 1)[-1]
