"""Corrections stage: one minimal, sourced proposal per finding, from the model or, offline, from rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from collections.abc import Mapping, Sequence
from typing import Any

from .claims import ArticleContext
from .models import (ARTIFACT, BOILERPLATE, BROKEN_TABLE, DELETE, FAILED, KEEP, LINE_BREAK, NEEDS_HUMAN, NEEDS_REVIEW, REPLACE,
                     Finding, LineIndex, Proposal, Source, change_id)
from .resources import errors_against, load_schema, render_prompt

TASK = "corrections"
SNIPPETS_PER_FINDING = 4    # within evidence.EVIDENCE_TOKENS per finding unless build_messages is told otherwise


@dataclass
class CorrectionsResult:
    proposals: list[Proposal] = field(default_factory=list)
    calls: list = field(default_factory=list)
    error: str | None = None
    # Snippet ids offered to the model, per finding id, for the report.
    offered: dict[str, list[str]] = field(default_factory=dict)


def _finding_line(finding: Finding, snippet_ids: list[str]) -> str:
    item: dict[str, Any] = {"id": finding.id, "kind": finding.kind, "subtype": finding.subtype,
                            "line": finding.line, "column": finding.column, "text": finding.text,
                            "note": finding.message}
    # Nothing said twice: a payload entry that repeats the note or the text is left out.
    details = {k: v for k, v in (finding.payload or {}).items() if v not in (finding.message, finding.text)}
    if details:
        item["details"] = details
    if snippet_ids:
        item["evidence"] = snippet_ids
    return json.dumps(item, ensure_ascii=False)


def numbered_lines(text: str, chunk: tuple[int, int]) -> str:
    """``text[chunk]`` with each line prefixed by its number in the article ("12| ..."), so that a
    finding's line and column tell identical markers (nine ``[1]``) apart."""
    first = LineIndex(text[:chunk[0] + 1]).line_col(chunk[0])[0] if chunk[0] else 1
    body = text[chunk[0]:chunk[1]]
    pieces = LINE_BREAK.split(body)
    if pieces and not pieces[-1]:
        pieces.pop()
    return "\n".join(f"{first + n}| {line}" for n, line in enumerate(pieces))


def build_messages(text: str, chunk: tuple[int, int], findings: list[Finding], ctx: ArticleContext,
                   evidence=None, *, evidence_tokens: int | None = None,
                   terms: Mapping[str, Sequence[str]] | None = None) -> tuple[list[dict], dict[str, list[str]]]:
    """The corrections request for the findings of one chunk, and the snippet ids it offers per finding.

    Each finding gets up to :data:`SNIPPETS_PER_FINDING` snippets within ``evidence_tokens``
    (``evidence.EVIDENCE_TOKENS`` by default), ranked also on ``terms[finding.id]`` (what the
    research plan looked for). Each snippet is one line: its id, its document's title, URL (or
    file) and date, then its text; a table row comes first, its column names after.
    """
    snippets: dict[str, Any] = {}
    offered: dict[str, list[str]] = {}
    lines = []
    for finding in findings:
        found = (evidence.snippets_for(finding, text, k=SNIPPETS_PER_FINDING, budget_tokens=evidence_tokens,
                                       terms=(terms or {}).get(finding.id, ()))
                 if evidence else [])
        for snippet in found:
            snippets.setdefault(snippet.id, snippet)
        if found:
            offered[finding.id] = [s.id for s in found]
        lines.append(_finding_line(finding, [s.id for s in found]))
    evidence_lines = []
    for snippet in snippets.values():
        header, _, row = snippet.text.rpartition("\n")     # a table snippet: the header row, then one row
        body = f"{row} (columns: {header})" if header else row
        evidence_lines.append(f"[{snippet.id}] ({evidence.origin(snippet.document_id)}) {body}")
    prompt = render_prompt(
        TASK, article=numbered_lines(text, chunk), findings="\n".join(lines),
        evidence="\n".join(evidence_lines) or "(none)", **ctx.prompt_variables())
    return [{"role": "user", "content": prompt}], offered


# ---------------------------------------------------------------- judging a reply item by item

# What the client checks before handing the reply over: an object with a list of proposals. Each
# item is then normalised and judged on its own (:func:`judge`), so one bad item costs only itself.
ENVELOPE = {"type": "object", "required": ["proposals"],
            "properties": {"proposals": {"type": "array", "items": {"type": "object"}}}}
MAX_ROUNDS = 3      # asks in all for one chunk, re-asks included
_SOURCE_TEXT = ("evidence_id", "url", "title", "publisher", "date")
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)\s*")


def normalised(item: Any) -> Any:
    """What is unambiguous in an item, made right before it is judged: a number sent as a string
    ("0.9", "0,9"), an action in capitals or with spaces, a replacement given with an action other
    than replace (blanked), a source's missing text fields (empty). Anything else is left to judge."""
    if not isinstance(item, dict):
        return item
    item = dict(item)
    confidence = item.get("confidence")
    if isinstance(confidence, str) and _NUMBER.fullmatch(confidence):
        item["confidence"] = float(confidence.strip().replace(",", "."))
    elif isinstance(confidence, int) and not isinstance(confidence, bool):
        item["confidence"] = float(confidence)
    if isinstance(item.get("action"), str):
        item["action"] = item["action"].strip().lower()
    if item.get("action") in (DELETE, KEEP, NEEDS_HUMAN) and isinstance(item.get("replacement"), str):
        item["replacement"] = ""
    if item.get("action") in (DELETE, KEEP, NEEDS_HUMAN) and item.get("replacement") is None:
        item["replacement"] = ""
    if isinstance(item.get("sources"), list):
        item["sources"] = [{**{k: "" for k in _SOURCE_TEXT}, **s} if isinstance(s, dict) else s
                           for s in item["sources"]]
    return item


def _item_problems(item: Any, finding: Finding | None, i: int, listed: str) -> list[str]:
    schema = load_schema(TASK)["properties"]["proposals"]["items"]
    problems = [f"proposals[{i}] {e}" for e in errors_against(item, schema, limit=5)]
    if problems:
        return problems
    if finding is None:
        return [f"proposals[{i}].finding_id {item['finding_id']!r} is not one of the listed finding ids ({listed})."]
    if item["action"] == REPLACE and (not item["replacement"] or item["replacement"] == finding.text):
        problems.append(f"proposals[{i}]: action replace needs a replacement different from the "
                        f"original text {finding.text!r}; use keep if it is right as it is.")
    for j, s in enumerate(item["sources"]):
        if not s["evidence_id"] and not s["url"]:
            problems.append(f"proposals[{i}].sources[{j}] needs an evidence_id or a url.")
    return problems


@dataclass
class Judged:
    """A reply judged item by item: the usable items per finding id, the unusable ones and why."""
    good: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad: list[tuple[Any, list[str]]] = field(default_factory=list)     # (item, problems)
    missing: list[str] = field(default_factory=list)                   # finding ids with no item at all

    def problems(self) -> list[str]:
        found = [p for _item, problems in self.bad for p in problems]
        if self.missing:
            found.append(f"no proposal for finding id(s) {', '.join(self.missing)}; send one for each.")
        return found


def judge(data: dict[str, Any], findings: list[Finding]) -> Judged:
    """Normalise and check each proposal of ``data`` on its own; the first usable one per finding wins."""
    by_id = {f.id: f for f in findings}
    listed = ", ".join(by_id)
    judged = Judged()
    for i, raw in enumerate(data["proposals"]):
        item = normalised(raw)
        fid = item.get("finding_id") if isinstance(item, dict) else None
        problems = _item_problems(item, by_id.get(fid) if isinstance(fid, str) else None, i, listed)
        if problems:
            judged.bad.append((raw, problems))
        elif str(fid) not in judged.good:
            judged.good[str(fid)] = item
    answered = set(judged.good) | {item.get("finding_id") for item, _ in judged.bad if isinstance(item, dict)}
    judged.missing = [f for f in by_id if f not in answered]
    return judged


def _checker(findings: list[Finding]):
    """Every problem of a reply, item by item (what a re-ask would say). An evidence id that was never
    offered is not one of them: verification marks that source ``not_found`` and says why, and the
    rest of the reply is kept (a model that invents ids would invent them again)."""
    return lambda data: judge(data, findings).problems()


def _reask(messages: list[dict], judged: Judged, pending: list[Finding]) -> list[dict]:
    """The messages of a re-ask: the request for the findings still without a usable proposal, the
    items given for them (numbered afresh, so the problems point at them), and what was wrong."""
    wanted = {f.id for f in pending}
    given = [item for item, _ in judged.bad
             if not isinstance(item, dict) or item.get("finding_id") in wanted
             or item.get("finding_id") not in judged.good]
    listed = "\n".join(f"- {p}" for p in judge({"proposals": given}, pending).problems())
    return [*messages,
            {"role": "assistant", "content": json.dumps({"proposals": given}, ensure_ascii=False)},
            {"role": "user", "content": (
                "These proposals of your previous reply cannot be used (the others were kept):\n"
                f"{listed}\nSend the JSON object again with one proposal for each finding listed above, "
                "and only those, with these problems fixed.")}]


def _proposal(data: dict[str, Any]) -> Proposal:
    return Proposal(
        id=change_id(data["finding_id"]), finding_id=data["finding_id"], action=data["action"],
        replacement=data["replacement"], rationale=data["rationale"], confidence=float(data["confidence"]),
        sources=[Source(url=s["url"], evidence_id=s["evidence_id"], title=s["title"],
                        publisher=s["publisher"], date=s["date"], quote=s["quote"]) for s in data["sources"]],
    )


def propose(asker, text: str, chunk: tuple[int, int], findings: list[Finding], ctx: ArticleContext,
            evidence=None, *, evidence_tokens: int | None = None,
            terms: Mapping[str, Sequence[str]] | None = None) -> CorrectionsResult:
    """Ask for one proposal per finding of ``text[chunk]``, keeping every usable one.

    A reply is judged item by item: the usable proposals are kept, and a re-ask (a new request
    listing only the findings still without one, with the items given for them and what was wrong)
    is sent for the rest, :data:`MAX_ROUNDS` asks in all (none that would repeat the last one).
    A finding still without a usable proposal gets what the offline rules say (chrome and artifacts
    deleted, for review), else a ``failed`` proposal with the reason.
    """
    from .asker import Task
    from .errors import LLMError

    if not findings:
        return CorrectionsResult()
    result = CorrectionsResult()
    kept: dict[str, dict[str, Any]] = {}
    pending = list(findings)
    reasons: dict[str, str] = {}
    rounds = 0
    judged: Judged | None = None
    last: list[dict] = []
    while pending and rounds < MAX_ROUNDS:
        messages, offered = build_messages(text, chunk, pending, ctx, evidence, evidence_tokens=evidence_tokens,
                                           terms=terms)
        for fid, ids in offered.items():
            result.offered.setdefault(fid, ids)
        if judged is not None:
            messages = _reask(messages, judged, pending)
            if messages == last:
                break       # the same answer given again: the same re-ask would get it a third time
        last = messages
        try:
            reply = asker.run(Task(TASK, messages, load_schema(TASK), accept=ENVELOPE,
                                   max_attempts=MAX_ROUNDS - rounds))
        except LLMError as exc:
            if getattr(exc, "fatal", False):
                raise  # key rejected, model missing, server down: no later request can do better
            result.calls += exc.calls
            result.error = str(exc)
            reasons.update({f.id: str(exc) for f in pending})
            break
        result.calls += reply.calls
        rounds += max(reply.attempts, 1)
        judged = judge(reply.data, pending)
        kept.update(judged.good)
        pending = [f for f in pending if f.id not in kept]
        problems = judged.problems()
        for f in pending:
            mine = [p for item, ps in judged.bad if isinstance(item, dict) and item.get("finding_id") == f.id
                    for p in ps] or [p for p in problems if f.id in p] or problems
            reasons[f.id] = f"corrections: no usable proposal after {rounds} ask(s): " + " ".join(mine[:3])
    for f in findings:
        if f.id in kept:
            result.proposals.append(_proposal(kept[f.id]))
        else:
            result.proposals.append(fallback_proposal(f, reasons.get(f.id, "corrections: no proposal")))
    if pending and result.error is None:
        result.error = (f"corrections: {len(pending)} of {len(findings)} finding(s) got no usable proposal "
                        f"after {rounds} ask(s); offline rules or failed for those")
    return result


def fallback_proposal(finding: Finding, reason: str) -> Proposal:
    """For a finding the model gave nothing usable for: the offline rule's deletion of chrome and
    artifacts (for review, with the model's failure noted), else a failed proposal."""
    rule = offline_proposals([finding])[0]
    if rule.action in (DELETE, REPLACE):
        return replace(rule, error=reason)
    return failed_proposal(finding, reason)


def failed_proposal(finding: Finding, reason: str) -> Proposal:
    return Proposal(id=change_id(finding.id), finding_id=finding.id, action=NEEDS_HUMAN, replacement="",
                    rationale="The model gave no usable proposal.", status=FAILED, error=reason)


def offline_proposals(findings: list[Finding]) -> list[Proposal]:
    """What rules alone can say: chrome and artifacts can go; everything else needs a person."""
    proposals = []
    for f in findings:
        rebuilt = _rebuilt_table(f)
        if rebuilt is not None:
            proposals.append(rebuilt)
        elif f.kind in (BOILERPLATE, ARTIFACT):
            proposals.append(Proposal(
                id=change_id(f.id), finding_id=f.id, action=DELETE, replacement="",
                rationale=f"Rule: {f.message}", confidence=0.5, status=NEEDS_REVIEW))
        else:
            proposals.append(Proposal(
                id=change_id(f.id), finding_id=f.id, action=NEEDS_HUMAN, replacement="",
                rationale=f"Offline: {f.message}", status=NEEDS_HUMAN))
    return proposals


def _rebuilt_table(finding: Finding) -> Proposal | None:
    """A broken table whose columns are unambiguous (tabs, runs of spaces), rebuilt as Markdown by rule."""
    from .tablecheck import rebuild

    table = rebuild(finding.text) if finding.kind == BROKEN_TABLE else None
    if table is None:
        return None
    return Proposal(id=change_id(finding.id), finding_id=finding.id, action=REPLACE, replacement=table,
                    rationale="Rule: the columns are separated by tabs or runs of spaces; rebuilt as a Markdown "
                              "table with the same cells.", confidence=0.9, status=NEEDS_REVIEW)
