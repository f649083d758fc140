"""Corrections stage: one minimal, sourced proposal per finding, from the model or, offline, from rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Any

from .claims import ArticleContext
from .models import (ARTIFACT, BOILERPLATE, DELETE, FAILED, NEEDS_HUMAN, NEEDS_REVIEW, REPLACE,
                     Finding, Proposal, Source, change_id)
from .resources import load_schema, render_prompt

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
                            "line": finding.line, "text": finding.text, "note": finding.message}
    if finding.payload:
        item["details"] = finding.payload
    if snippet_ids:
        item["evidence"] = snippet_ids
    return json.dumps(item, ensure_ascii=False)


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
        TASK, article=text[chunk[0]:chunk[1]], findings="\n".join(lines),
        evidence="\n".join(evidence_lines) or "(none)", **ctx.prompt_variables())
    return [{"role": "user", "content": prompt}], offered


def _checker(findings: list[Finding]):
    """Checks that make a reply unusable, so worth a re-ask. An evidence id that was never offered
    is not one of them: verification marks that source ``not_found`` and says why, and the rest of
    the reply is kept (a model that invents ids would invent them again)."""
    by_id = {f.id: f for f in findings}

    def check(data: dict[str, Any]) -> list[str]:
        problems = []
        seen: set[str] = set()
        for i, p in enumerate(data["proposals"]):
            fid = p["finding_id"]
            if fid not in by_id:
                problems.append(f"proposals[{i}].finding_id {fid!r} is not one of the listed finding ids "
                                f"({', '.join(by_id)}).")
                continue
            if fid in seen:
                problems.append(f"proposals[{i}]: finding {fid} has more than one proposal; send exactly one.")
            seen.add(fid)
            if p["action"] == REPLACE and (not p["replacement"] or p["replacement"] == by_id[fid].text):
                problems.append(f"proposals[{i}]: action replace needs a replacement different from the "
                                f"original text {by_id[fid].text!r}; use keep if it is right as it is.")
            if p["action"] != REPLACE and p["replacement"]:
                problems.append(f"proposals[{i}]: replacement must be empty for action {p['action']}.")
            for j, s in enumerate(p["sources"]):
                if not s["evidence_id"] and not s["url"]:
                    problems.append(f"proposals[{i}].sources[{j}] needs an evidence_id or a url.")
        missing = [f for f in by_id if f not in seen]
        if missing:
            problems.append(f"no proposal for finding id(s) {', '.join(missing)}; send one for each.")
        return problems

    return check


def _proposal(data: dict[str, Any]) -> Proposal:
    return Proposal(
        id=change_id(data["finding_id"]), finding_id=data["finding_id"], action=data["action"],
        replacement=data["replacement"], rationale=data["rationale"], confidence=float(data["confidence"]),
        sources=[Source(url=s["url"], evidence_id=s["evidence_id"], title=s["title"],
                        publisher=s["publisher"], date=s["date"], quote=s["quote"]) for s in data["sources"]],
    )


def propose(llm, text: str, chunk: tuple[int, int], findings: list[Finding], ctx: ArticleContext,
            evidence=None, *, evidence_tokens: int | None = None,
            terms: Mapping[str, Sequence[str]] | None = None) -> CorrectionsResult:
    """Ask for one proposal per finding of ``text[chunk]``; on failure every one is marked failed."""
    from .errors import LLMError

    if not findings:
        return CorrectionsResult()
    messages, offered = build_messages(text, chunk, findings, ctx, evidence, evidence_tokens=evidence_tokens,
                                       terms=terms)
    try:
        reply = llm.ask(TASK, messages, load_schema(TASK), check=_checker(findings))
    except LLMError as exc:
        if getattr(exc, "fatal", False):
            raise  # key rejected, model missing, server down: no later request can do better
        reason = str(exc)
        return CorrectionsResult(calls=exc.calls, error=reason, offered=offered,
                                 proposals=[failed_proposal(f, reason) for f in findings])
    order = {f.id: i for i, f in enumerate(findings)}
    proposals = sorted((_proposal(p) for p in reply.data["proposals"]), key=lambda p: order[p.finding_id])
    return CorrectionsResult(proposals=proposals, calls=reply.calls, offered=offered)


def failed_proposal(finding: Finding, reason: str) -> Proposal:
    return Proposal(id=change_id(finding.id), finding_id=finding.id, action=NEEDS_HUMAN, replacement="",
                    rationale="The model gave no usable proposal.", status=FAILED, error=reason)


def offline_proposals(findings: list[Finding]) -> list[Proposal]:
    """What rules alone can say: chrome and artifacts can go; everything else needs a person."""
    proposals = []
    for f in findings:
        if f.kind in (BOILERPLATE, ARTIFACT):
            proposals.append(Proposal(
                id=change_id(f.id), finding_id=f.id, action=DELETE, replacement="",
                rationale=f"Rule: {f.message}", confidence=0.5, status=NEEDS_REVIEW))
        else:
            proposals.append(Proposal(
                id=change_id(f.id), finding_id=f.id, action=NEEDS_HUMAN, replacement="",
                rationale=f"Offline: {f.message}", status=NEEDS_HUMAN))
    return proposals
