"""Turn verified proposals into files a person can read, review and apply.

Nothing here touches ``articles/``: the rewritten article, ``changes.diff``,
``<stem>.critic.md`` and ``review.md`` all go to the run's output folder.
The rewritten article keeps its file name there, unless that name is one of
the folder's own files (:data:`RESERVED`: ``review.md``, ``review.html``, ``changes.diff``,
``report.json``, ``decisions.json``, ``evidence``); it is then written as
``rewritten-<name>`` (see :func:`rewritten_name`), so no output overwrites another.
Edits are character spans on the decoded text (BOM removed), so CRLF, lone CR,
mixed endings and the BOM come back byte for byte through :meth:`Article.encode`;
a line break inside a replacement (LF, CRLF or CR) takes the ending of the line it goes on.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

from .loader import Article, atomic_write, atomic_write_text
from .models import DELETE, FAILED, KEEP, LINE_BREAK, NEEDS_HUMAN, Finding, Proposal

# What a word diff compares: a citation marker ([1], [^2]) or a number with its separators (1,7,
# 1 700, 12.9) whole, so a diff never cuts one at a digit ("1[-,7 trillion-]{+ 700 milliards+}");
# then words, runs of whitespace, single punctuation marks.
_TOKEN = re.compile(r"\[\^?\d+\]|\d+(?:[.,\u00a0\u202f ]\d+)*(?![\w])|\w+|\s+|[^\w\s]")

# Names the output folder of a run uses for its own files (``decisions.json`` is written by review,
# ``report.json`` by the pipeline, ``evidence/`` with --fetch); compared without case, for
# case-insensitive file systems.
RESERVED = frozenset({"report.json", "decisions.json", "changes.diff", "review.md", "review.html", "evidence"})


def rewritten_name(file_name: str) -> str:
    """The rewritten article's name in the output folder: its own, or ``rewritten-<name>`` if reserved."""
    return f"rewritten-{file_name}" if file_name.casefold() in RESERVED else file_name


def proposal_position(findings: dict[str, Finding], p: Proposal) -> tuple[int, int, str]:
    """Sort key putting proposals in article order: by start, longest first, then by id; orphans last."""
    f = findings.get(p.finding_id)
    return (f.start, -f.end, p.id) if f else (1 << 62, 0, p.id)


class Edit(NamedTuple):
    """One span replacement, tied to the change it comes from."""
    start: int
    end: int
    new: str
    change_id: str
    old: str


@dataclass
class Plan:
    """The edits that will be made, and the changes left out with the reason why."""
    edits: list[Edit] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply span edits to ``text``; refuse overlapping or out-of-range spans rather than guess."""
    parts, pos = [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"edit span {start}:{end} is outside the text (length {len(text)})")
        if start < pos:
            raise ValueError(f"edit span {start}:{end} overlaps the previous edit ending at {pos}")
        parts += [text[pos:start], new]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _line_break(text: str, pos: int) -> str | None:
    """The break ending the line ``pos`` is on (on a last line without one, the break before it):
    "\\r\\n", "\\n" or a lone "\\r". A position between the CR and the LF of a CRLF is on its line."""
    after = LINE_BREAK.search(text, pos - 1 if 0 < pos < len(text) and text.startswith("\r\n", pos - 1) else pos)
    if after:
        return after[0]
    last = max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos))
    if last == -1:
        return None
    return "\r\n" if last > 0 and text.startswith("\r\n", last - 1) else text[last]


def _at_line_start(text: str, pos: int) -> bool:
    """Whether ``pos`` starts a line (not the LF half of a CRLF)."""
    return pos == 0 or text[pos - 1] == "\n" or (text[pos - 1] == "\r" and not text.startswith("\n", pos))


def _break_at(text: str, pos: int) -> str:
    """The line break starting at ``pos``, or ""."""
    m = LINE_BREAK.match(text, pos)
    return m[0] if m else ""


def _break_before(text: str, pos: int) -> str:
    """The line break ending at ``pos``, or ""."""
    return next((eol for eol in ("\r\n", "\n", "\r") if text.endswith(eol, 0, pos)), "")


def _match_line_breaks(new: str, text: str, pos: int) -> str:
    """``new`` with each of its line breaks (LF, CRLF or CR) made the one of the line at ``pos``."""
    eol = _line_break(text, pos) if "\n" in new or "\r" in new else None
    return LINE_BREAK.sub(eol, new) if eol else new


def plan_edits(findings: dict[str, Finding], proposals: list[Proposal],
               accepted: set[str] | None = None, text: str | None = None) -> Plan:
    """Choose the edits to make, deterministically, without ever overlapping two of them.

    Candidates are proposals that change text (optionally only the ``accepted``
    change ids). They are taken by start offset, longest first, then by id: when
    two overlap (a placeholder inside a boilerplate line) the outer or earlier one
    wins and the other is skipped with a reason. With ``text``, a span whose
    characters no longer match its finding is skipped too, deleting a whole
    line takes its line break along (see :func:`_take_line_breaks`), so debris
    leaves no blank line behind, and a line break inside a replacement becomes
    the one ending the line the span is on (CRLF in a CRLF line), so a model's
    LF never lands in a CRLF article.
    """
    plan = Plan()
    candidates = []
    for p in proposals:
        if not p.changes_text or (accepted is not None and p.id not in accepted):
            continue
        f = findings.get(p.finding_id)
        if f is None:
            plan.skipped[p.id] = f"its finding {p.finding_id} is not in the report"
        elif text is not None and text[f.start:f.end] != f.text:
            plan.skipped[p.id] = f"line {f.line}: the article text no longer matches the finding"
        else:
            new = "" if p.action == DELETE else p.replacement
            if text is not None:
                new = _match_line_breaks(new, text, f.start)
            candidates.append(Edit(f.start, f.end, new, p.id, f.text))
    last: Edit | None = None
    for edit in sorted(candidates, key=lambda e: (e.start, -e.end, e.change_id)):
        if last is not None and edit.start < last.end:
            plan.skipped[edit.change_id] = f"overlaps {last.change_id}, which is applied instead"
            continue
        if last is not None and edit.start == edit.end == last.end:
            plan.skipped[edit.change_id] = f"inserts at the same place as {last.change_id}"
            continue
        plan.edits.append(edit)
        last = edit
    if text is not None:
        deletes = {p.id for p in proposals if p.action == DELETE}
        plan.edits = _take_line_breaks(text, plan.edits, deletes)
    return plan


def _take_line_breaks(text: str, edits: list[Edit], deletes: set[str]) -> list[Edit]:
    """Widen each deletion of whole lines over the line break after it (before it, at the end).

    So that deleted debris leaves no blank-line run behind: when the text kept before a deleted
    line ends with a blank line (or is nothing), the blank lines after it go too; a deletion that
    ends the file takes the blank lines before it, and the file keeps its final newline, or its
    lack of one. Only text no other edit touches is taken, so the edits never overlap.
    """
    out = list(edits)
    blank_kept: dict[int, bool] = {}      # end of a whole-line deletion -> the kept text before it ends blank
    for i, e in enumerate(out):
        whole = (e.change_id in deletes and e.end > e.start and _at_line_start(text, e.start)
                 and (e.end == len(text) or text[e.end] in "\r\n") and not e.old.endswith(("\n", "\r")))
        if not whole:
            continue
        floor = out[i - 1].end if i else 0
        ceiling = out[i + 1].start if i + 1 < len(out) else len(text)
        blank = blank_kept[e.start] if e.start in blank_kept else (e.start == 0 or _blank_line_before(text, e.start))
        start, end = e.start, e.end
        after = _break_at(text, end)
        if after and end + len(after) <= ceiling:
            end += len(after)
            if blank:
                end = _past_blank_lines(text, end, ceiling)
            if end == len(text):
                start = _back_over_blank_lines(text, start, floor)
        elif end == len(text) and start > 0:
            before = _break_before(text, start)
            if before and floor <= start - len(before):
                start = _back_over_blank_lines(text, start - len(before), floor, keep_break=False)
        if (start, end) != (e.start, e.end):
            out[i] = e._replace(start=start, end=end, old=text[start:end])
        blank_kept[end] = blank
    return _trim_the_end(text, out, deletes)


def _trim_the_end(text: str, edits: list[Edit], deletes: set[str]) -> list[Edit]:
    """When deletions run without a gap to the end of the text, the blank lines before the first of
    them go too, and the last line kept ends as the text did: with its break or without one."""
    j = len(edits) - 1
    if j < 0 or edits[j].end != len(text) or edits[j].change_id not in deletes or edits[j].new:
        return edits
    while j > 0 and edits[j - 1].end == edits[j].start and edits[j - 1].change_id in deletes and not edits[j - 1].new:
        j -= 1
    first, floor = edits[j], (edits[j - 1].end if j else 0)
    if first.start == 0 or not _at_line_start(text, first.start):
        return edits
    start = first.start
    if text.endswith(("\n", "\r")):
        start = _back_over_blank_lines(text, start, floor)
    else:
        before = _break_before(text, start)
        if before and floor <= start - len(before):
            start = _back_over_blank_lines(text, start - len(before), floor, keep_break=False)
    if start != first.start:
        edits = [*edits[:j], first._replace(start=start, old=text[start:first.end]), *edits[j + 1:]]
    return edits


def _blank_line_before(text: str, pos: int) -> bool:
    """Whether the line ending just before ``pos`` (a line start) holds nothing but spaces."""
    eol = _break_before(text, pos)
    if not eol:
        return pos == 0
    line_end = pos - len(eol)
    line_start = max(text.rfind("\n", 0, line_end), text.rfind("\r", 0, line_end)) + 1
    return not text[line_start:line_end].strip(" \t")


def _past_blank_lines(text: str, pos: int, ceiling: int) -> int:
    """``pos`` moved past the blank lines (spaces only, with their break) starting there, up to ``ceiling``."""
    while True:
        blank = re.compile(r"[ \t]*(\r\n|\r|\n)").match(text, pos)
        if not blank or blank.end() > ceiling:
            return pos
        pos = blank.end()


def _back_over_blank_lines(text: str, pos: int, floor: int, keep_break: bool = True) -> int:
    """``pos`` (a line start, or with ``keep_break`` False the break ending a line) moved back over
    the blank lines before it, down to ``floor``; with ``keep_break`` the break ending the last
    line kept stays, without it that break goes too (the text ends without a final newline)."""
    while True:
        line_end = pos if not keep_break else pos - len(_break_before(text, pos))
        if keep_break and line_end == pos:
            return pos
        line_start = max(text.rfind("\n", 0, line_end), text.rfind("\r", 0, line_end)) + 1
        if text[line_start:line_end].strip(" \t") or line_start == 0:
            return pos
        if keep_break:
            if line_start < floor:
                return pos
            pos = line_start
        else:
            back = line_start - len(_break_before(text, line_start))
            if back < floor or back == line_start:
                return pos
            pos = back


def text_edits(findings: dict[str, Finding], proposals: list[Proposal],
               accepted: set[str] | None = None, *, text: str | None = None) -> list[tuple[int, int, str]]:
    """The ``(start, end, new)`` edits of :func:`plan_edits`, ready for :func:`splice`.

    Pass the article ``text`` to get exactly the edits that :func:`write_outputs`
    and apply make (stale spans skipped, whole-line deletions with their break).
    """
    return [(e.start, e.end, e.new) for e in plan_edits(findings, proposals, accepted, text).edits]


# --- diffs -----------------------------------------------------------------

def _diff_lines(data: bytes) -> list[str]:
    """Lines split on LF only, ends kept, so CR and the BOM stay part of the line as git sees it.

    Bytes that are not UTF-8 (a cp1252 article) survive as surrogates and are
    written back unchanged by :func:`diff_bytes`.
    """
    pieces = data.decode("utf-8", "surrogateescape").split("\n")
    lines = [p + "\n" for p in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def _range(start: int, length: int) -> str:
    """A hunk range as git writes it: an empty range names the line before it."""
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


# What makes git quote a path: a quote, a backslash, a control character, anything past ASCII.
_GIT_QUOTED = re.compile(r'["\\\x00-\x1f\x7f-\U0010ffff]')


def _git_path(path: str) -> str:
    """Quote a path the way git does when it holds quotes, backslashes, controls or non-ASCII."""
    if not _GIT_QUOTED.search(path):
        return path
    escapes = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n"}
    out = []
    for c in path:
        if c in escapes:
            out.append(escapes[c])
        elif 32 <= ord(c) <= 126:
            out.append(c)
        else:
            out.extend(f"\\{b:03o}" for b in c.encode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


def unified_diff(old: bytes, new: bytes, repo_path: str, context: int = 3) -> str:
    """A diff that ``git apply`` takes from the repository root; empty when nothing changed.

    Lines keep their CR and the first line its BOM; a last line with no newline
    gets git's ``\\ No newline at end of file`` marker.
    """
    a, b = _diff_lines(old), _diff_lines(new)
    if a == b:
        return ""
    path = repo_path.replace("\\", "/").lstrip("/")
    old_name, new_name = _git_path("a/" + path), _git_path("b/" + path)
    out = [f"diff --git {old_name} {new_name}\n", f"--- {old_name}\n", f"+++ {new_name}\n"]

    def emit(prefix: str, line: str) -> None:
        out.append(prefix + line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")

    for group in _Found(line_opcodes(a, b)).get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                for line in a[x1:x2]:
                    emit(" ", line)
                continue
            for line in a[x1:x2]:
                emit("-", line)
            for line in b[y1:y2]:
                emit("+", line)
    return "".join(out)


class _Found(difflib.SequenceMatcher):
    """difflib's hunk grouping (``get_grouped_opcodes``) over opcodes found elsewhere."""

    def __init__(self, opcodes: list[tuple[str, int, int, int, int]]):
        super().__init__(None, "", "")      # no sequences to index: the opcodes are given
        self._found = opcodes

    def get_opcodes(self):
        return self._found


# A changed region ends where ANCHOR equal lines start again within WINDOW lines on each side.
_ANCHOR, _WINDOW = 3, 200


def line_opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Opcodes in difflib's form turning ``a`` into ``b``, for texts that differ in places (an edited
    article); where several alignments are equally right, not always the one difflib would pick.

    One SequenceMatcher over a whole long article is quadratic in its repeated lines (4 s of a
    100,000-word article's 13). The lines are walked instead: equal stretches are taken as they
    come, and each changed region, up to the next ``_ANCHOR`` lines equal on both sides (searched
    within ``_WINDOW`` lines; the rest of both texts when there are none), is handed to difflib alone.
    """
    ops: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    n, m = len(a), len(b)
    while i < n or j < m:
        i0, j0 = i, j
        while i < n and j < m and a[i] == b[j]:
            i += 1
            j += 1
        if i > i0:
            ops.append(("equal", i0, i, j0, j))
        if i == n and j == m:
            break
        ie, je = _resync(a, b, i, j)
        for tag, x1, x2, y1, y2 in difflib.SequenceMatcher(None, a[i:ie], b[j:je], autojunk=False).get_opcodes():
            if tag == "equal" and ops and ops[-1][0] == "equal":
                ops[-1] = ("equal", ops[-1][1], x2 + i, ops[-1][3], y2 + j)
            else:
                ops.append((tag, x1 + i, x2 + i, y1 + j, y2 + j))
        i, j = ie, je
    return ops


def _resync(a: list[str], b: list[str], i: int, j: int) -> tuple[int, int]:
    """The nearest (fewest lines skipped on both sides) ``(i', j')`` past ``a[i] != b[j]`` where both
    texts end or ``_ANCHOR`` lines agree; both ends when none lies within ``_WINDOW``."""
    n, m = len(a), len(b)
    at: dict[str, list[int]] = {}
    for y in range(j, min(m, j + _WINDOW)):
        at.setdefault(b[y], []).append(y)
    best: tuple[int, int] | None = None
    for x in range(i, min(n, i + _WINDOW)):
        if best is not None and x - i >= best[0] - i + best[1] - j:
            break
        for y in at.get(a[x], ()):
            if best is not None and (x - i) + (y - j) >= (best[0] - i) + (best[1] - j):
                break
            k = min(_ANCHOR, n - x, m - y)
            if a[x:x + k] == b[y:y + k] and (k == _ANCHOR or (x + k == n and y + k == m)):
                best = (x, y)
                break
    return best if best is not None else (n, m)


def diff_bytes(diff: str) -> bytes:
    """The bytes of a diff from :func:`unified_diff`, original bytes restored."""
    return diff.encode("utf-8", "surrogateescape")


def word_diff(old: str, new: str) -> str:
    """``[-old-]{+new+}`` marks at word level, readable without colour."""
    if old == new:
        return old      # what the tokens give back joined (they cover every character): nothing to mark
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    # Segments: a str is unchanged text, a pair is (removed, added).
    segments: list = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            segments.append("".join(a[i1:i2]))
            continue
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        # Two changes with only spaces between read better as one: [-23 mars-]{+11 décembre+}.
        if len(segments) >= 2 and isinstance(segments[-2], tuple) and segments[-1].isspace():
            space, (r, d) = segments.pop(), segments.pop()
            removed, added = r + space + removed, d + space + added
        elif segments and isinstance(segments[-1], tuple):
            r, d = segments.pop()
            removed, added = r + removed, d + added
        segments.append((removed, added))
    out = []
    for seg in segments:
        if isinstance(seg, str):
            out.append(seg)
            continue
        out.append(f"[-{seg[0]}-]" if seg[0] else "")
        out.append(f"{{+{seg[1]}+}}" if seg[1] else "")
    return "".join(out)


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Opcodes in difflib's form for ``a`` → ``b``, the common head and tail taken out first: a change's
    context is the same words on both sides, and matching them cost most of emit's time."""
    head = 0
    for x, y in zip(a, b):
        if x != y:
            break
        head += 1
    tail = 0
    for x, y in zip(reversed(a[head:]), reversed(b[head:])):
        if x != y:
            break
        tail += 1
    na, nb = len(a) - tail, len(b) - tail
    ops = [("equal", 0, head, 0, head)] if head else []
    ops += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2
            in _middle_opcodes(tuple(a[head:na]), tuple(b[head:nb]))]
    if tail:
        ops.append(("equal", na, len(a), nb, len(b)))
    return ops


@functools.lru_cache(maxsize=256)
def _middle_opcodes(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[tuple[str, int, int, int, int], ...]:
    """difflib's opcodes for what differs: review.md and review.html show each change, so each
    pair comes twice, and a chart's table against its placeholder takes difflib most of a millisecond."""
    return tuple(difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes())


def context_diff(text: str, start: int, end: int, new: str, radius: int = 120) -> str:
    """The word diff of the line(s) around one span, trimmed to ``radius`` characters each side.

    A deleted whole line reads as that line alone, marked, rather than run into its neighbour.
    """
    span = text[start:end]
    inner = span.strip("\r\n")
    if not new and inner and "\n" not in inner and "\r" not in inner:
        at_start = start == 0 or text[start - 1] in "\r\n" or span[0] in "\r\n"
        at_end = end == len(text) or span[-1] in "\r\n" or text[end] in "\r\n"
        if at_start and at_end:
            return f"[-{inner}-] (whole line deleted)"
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    after = LINE_BREAK.search(text, end)
    line_end = after.start() if after else len(text)
    left, right = text[line_start:start], text[end:line_end]
    if len(left) > radius:
        cut = left[-radius:]
        left = "…" + cut[cut.find(" ") + 1:] if " " in cut else "…" + cut
    if len(right) > radius:
        cut = right[:radius]
        right = (cut[:cut.rfind(" ")] if " " in cut else cut) + "…"
    return word_diff(left + text[start:end] + right, left + new + right)


# --- the files of a run ------------------------------------------------------

def _sources_line(proposal: Proposal) -> str:
    names = [s.url or s.title for s in proposal.sources if s.url or s.title]
    return "; ".join(dict.fromkeys(names))


def _comment(proposal: Proposal, note: str = "") -> str:
    """A CriticMarkup comment: rationale — sources, on one line, without closing marks inside."""
    text = note + (proposal.rationale or proposal.status_reason or proposal.error or "")
    sources = _sources_line(proposal)
    if sources:
        text += " — " + sources
    text = f"[{proposal.id}, {proposal.status}] " + " ".join(text.split())
    return "{>>" + text.replace("<<}", "<< }") + "<<}"


def critic_markup(text: str, findings: dict[str, Finding], proposals: list[Proposal]) -> str:
    """The article with every change marked in CriticMarkup, and what was left highlighted."""
    plan = plan_edits(findings, proposals, text=text)
    by_id = {p.id: p for p in proposals}
    marks: list[tuple[int, int, str]] = []
    for edit in plan.edits:
        p = by_id[edit.change_id]
        start, end = edit.start, edit.end
        if not edit.old:
            body = "{++" + edit.new + "++}"
        elif not edit.new:
            # A whole line deleted: its line breaks stay outside the mark, where Markdown sees them.
            inner = edit.old.strip("\r\n") or edit.old
            start += edit.old.index(inner)
            end = start + len(inner)
            body = "{--" + inner + "--}"
        else:
            body = "{~~" + edit.old + "~>" + edit.new + "~~}"
        marks.append((start, end, body + _comment(p)))
    notes = {NEEDS_HUMAN: "left for a human: ", KEEP: "kept: ", FAILED: "no correction: "}
    taken = DisjointSpans((s, e) for s, e, _ in marks)
    for p in proposals:
        f = findings.get(p.finding_id)
        if p.changes_text or f is None or f.start == f.end or text[f.start:f.end] != f.text:
            continue
        if taken.overlaps(f.start, f.end):
            continue
        taken.add(f.start, f.end)
        note = notes.get(p.status if p.status == FAILED else p.action, "")
        marks.append((f.start, f.end, "{==" + f.text + "==}" + _comment(p, note)))
    return splice(text, marks + _paragraph_breaks(text, marks))


def _paragraph_breaks(text: str, marks: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Each single line break outside the marks doubled, so that Markdown keeps the article's lines
    as paragraphs (its lines are single-newline separated); a blank line already there, and the
    breaks between two table rows (``|``), stay as they are."""
    spans = sorted((s, e) for s, e, _ in marks)
    starts = [s for s, _ in spans]
    out = []
    for m in LINE_BREAK.finditer(text):
        b, e = m.span()
        if e == len(text) or text.startswith(("\n", "\r"), e) or (b and text[b - 1] in "\r\n"):
            continue   # part of a blank line already
        i = bisect.bisect_left(starts, e) - 1   # the last mark starting before this break ends
        if i >= 0 and spans[i][1] > b:
            continue   # inside a mark, or touching one
        line_start = max(text.rfind("\n", 0, b), text.rfind("\r", 0, b)) + 1
        if text[line_start:b].lstrip().startswith("|") and text[e:].lstrip(" \t").startswith("|"):
            continue
        out.append((b, e, m.group() * 2))
    return out


class DisjointSpans:
    """Spans no two of which overlap (``s1 < e2 and s2 < e1``), sorted, for overlap tests in
    O(log n) rather than against every span so far. Empty spans (insertions) may be among them.

    Sorted by start, such spans also have non-decreasing ends, so the spans ending after ``start``
    are a suffix, and the first of them has the smallest start: one bisection answers.
    """

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self._spans: list[tuple[int, int]] = sorted(spans)
        self._ends = [e for _, e in self._spans]

    def overlaps(self, start: int, end: int) -> bool:
        """Whether some span ``(s, e)`` has ``s < end and start < e``."""
        i = bisect.bisect_right(self._ends, start)
        return i < len(self._spans) and self._spans[i][0] < end

    def add(self, start: int, end: int) -> None:
        """Add a span that overlaps none of them (test with :meth:`overlaps` first)."""
        i = bisect.bisect_left(self._spans, (start, end))
        self._spans.insert(i, (start, end))
        self._ends.insert(i, end)


def _fence(body: str) -> str:
    ticks = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}text\n{body}\n{fence}"


def review_markdown(article: Article, findings: dict[str, Finding], proposals: list[Proposal],
                    *, repo_path: str, out_dir: Path) -> str:
    """``review.md``: one section per proposal, in article order, for a person to read."""
    text = article.text
    plan = plan_edits(findings, proposals, text=text)
    changing = sum(p.changes_text for p in proposals)
    lines = [f"# Review: {article.path.name}", "",
             f"Article `{repo_path}` (sha256 `{article.sha256[:12]}…`): {len(proposals)} proposals, "
             f"{changing} changing the text, {len(plan.skipped)} of them skipped.", "",
             f"Decide with `rewriter review {out_dir}`, then write the accepted ones with "
             f"`rewriter apply {out_dir}`.", ""]
    ordered = sorted(proposals, key=lambda p: proposal_position(findings, p))
    for n, p in enumerate(ordered, 1):
        f = findings.get(p.finding_id)
        where = f"{f.kind}/{f.subtype} — line {f.line}" if f else f"finding {p.finding_id} missing"
        lines += [f"## {n}. {p.id} — {where}", "",
                  f"- action: {p.action} · status: {p.status} · confidence: {p.confidence:.2f}"]
        if p.status_reason:
            lines.append(f"- status reason: {' '.join(p.status_reason.split())}")
        if p.id in plan.skipped:
            lines.append(f"- skipped: {plan.skipped[p.id]}")
        if p.error:
            lines.append(f"- error: {' '.join(p.error.split())}")
        lines.append(f"- rationale: {' '.join(p.rationale.split()) or '(none given)'}")
        lines.append("")
        if f is not None:
            new = ("" if p.action == DELETE else p.replacement) if p.changes_text else f.text
            label = "Before/after (word level):" if p.changes_text else "As it stands:"
            lines += [label, "", _fence(context_diff(text, f.start, f.end, new)), ""]
            lines += _figure_lines(p, out_dir)
        if p.sources:
            lines += ["Sources:", ""]
            for s in p.sources:
                about = ", ".join(x for x in (s.publisher, s.date) if x)
                title = f" — {s.title}" + (f" ({about})" if about else "") if s.title else ""
                lines.append(f"- [{s.status}] {s.url or '(local snippet)'}{title}")
                if s.quote:
                    lines.append(f"  > {' '.join(s.quote.split())}")
                if s.reason:
                    lines.append(f"  ({' '.join(s.reason.split())})")
            lines.append("")
    return "\n".join(lines)


def _figure_lines(proposal: Proposal, out_dir: Path) -> list[str]:
    from .figures import review_lines    # charts and tables built for a placeholder (rewriter/figures.py)

    return review_lines(proposal, out_dir) if proposal.changes_text else []


def _figure_patches(out_dir: Path, proposals: list[Proposal], repo_path: str) -> str:
    from .figures import figure_patches    # new files: the charts beside the article

    return figure_patches(out_dir, proposals, repo_path)


def write_outputs(out_dir: Path, article: Article, findings: dict[str, Finding],
                  proposals: list[Proposal], *, repo_path: str) -> dict[str, Path]:
    """Write the rewritten article, ``changes.diff``, ``<stem>.critic.md`` and ``review.md``.

    Every proposal that changes text is applied (overlaps resolved as in
    :func:`plan_edits`); ``needs_human``, ``keep`` and failed ones leave their
    text as it is, visibly. ``changes.diff`` is empty when nothing changes.
    The rewritten article is ``out_dir/<file name>``, or ``out_dir/rewritten-<file name>``
    when its name is one of :data:`RESERVED` (an article called ``review.md``).
    """
    out_dir = Path(out_dir)
    new_bytes = article.encode(splice(article.text, text_edits(findings, proposals, text=article.text)))
    paths = {"article": out_dir / rewritten_name(article.path.name), "diff": out_dir / "changes.diff",
             "critic": out_dir / f"{article.stem}.critic.md", "review": out_dir / "review.md"}
    # Regenerable output: atomic, but not worth an fsync each.
    atomic_write(paths["article"], new_bytes, durable=False)
    atomic_write(paths["diff"], diff_bytes(unified_diff(article.raw, new_bytes, repo_path)
                                           + _figure_patches(out_dir, proposals, repo_path)), durable=False)
    atomic_write_text(paths["critic"], critic_markup(article.text, findings, proposals), durable=False)
    atomic_write_text(paths["review"], review_markdown(article, findings, proposals,
                                                       repo_path=repo_path, out_dir=out_dir), durable=False)
    from .webreview import static_page   # the same view as `review --web`, read-only; imports emit

    atomic_write_text(paths.setdefault("html", out_dir / "review.html"), static_page(
        article, findings, proposals, repo_path=repo_path, out_dir=out_dir), durable=False)
    return paths

