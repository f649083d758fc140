"""Decide, change by change, what a run may write to the article.

Decisions go to ``out/<stem>/decisions.json`` the moment they are made, so
quitting or a crash loses nothing already decided. Each decision remembers the
replacement it was made on: if a later run proposes something else for the
same change, the old decision no longer counts and the change is asked again.
This module does no terminal I/O of its own; the CLI passes ``ask`` and ``show``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .emit import context_diff, word_diff
from .errors import InputError, OutputError, RewriterError
from .loader import atomic_write_text, sha256_bytes
from .models import CLEANUP, COPYEDIT, DELETE, FAILED, KEEP, NEEDS_HUMAN, NEEDS_REVIEW, REFORMAT, VERIFIED, Proposal
from .record import Run, find_article, load_report, read_json_record
from .resources import schema_errors

read_run = load_report   # the name review and apply have always used
DECISIONS = "decisions.json"
ACCEPT, REJECT = "accept", "reject"
# Statuses `--accept` can take in one go (with "all").
ACCEPTABLE = (VERIFIED, COPYEDIT, CLEANUP, REFORMAT, NEEDS_REVIEW)
PROMPT = "Accept this change [y,n,e,a,d,s,q,?]?"
CHOICES = ["y", "n", "e", "a", "d", "s", "q", "?"]
FILL_PROMPT = "Fill this gap [e,n,s,q,?]?"
FILL_CHOICES = ["e", "n", "s", "q", "?"]
HELP = """y - accept this change
n - reject this change
e - edit the replacement, then accept it (unchanged or empty keeps the proposed text)
a - accept this change and every later undecided one of the same kind
d - reject this change and every later undecided one of the same kind
s - skip: leave it undecided for now
q - quit; every decision made so far is already saved
? - print this help
Uppercase answers work too."""
FILL_HELP = """e - type the missing text (a figure, a source), with an optional source URL; it is recorded as
    your own change, not verified
n - leave the gap as it is, and don't ask again
s - skip: ask again next time
q - quit; every decision made so far is already saved
? - print this help"""


def article_text(run: Run) -> str | None:
    """The article's text as the run saw it, or None if it is gone or changed since.

    Raises a RewriterError when the report names a place it may not read, or the file cannot be read.
    """
    path = find_article(run)
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if sha256_bytes(raw) != run.sha256:
        return None
    text = raw.decode(run.encoding, "replace")
    return text[1:] if text.startswith("\ufeff") else text


def fillable(p: Proposal) -> bool:
    """A gap the tool left to a person (a placeholder, a dangling citation): only text the
    reviewer types can fill it, and what they type is their own change, never verified."""
    return p.action == NEEDS_HUMAN and p.status != FAILED


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Decisions:
    """``decisions.json``: accept or reject per change id, saved after each decision."""

    def __init__(self, run: Run, entries: dict[str, dict[str, Any]] | None = None,
                 applied: dict[str, Any] | None = None, stale_sha: str | None = None):
        self.run = run
        self.entries = dict(entries or {})
        self.applied = applied
        # Set when decisions.json was made against other article bytes; its entries were dropped.
        self.stale_sha = stale_sha

    @property
    def path(self) -> Path:
        return self.run.out_dir / DECISIONS

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @classmethod
    def load(cls, out_dir: Path, run: Run | None = None) -> "Decisions":
        run = run or read_run(out_dir)
        path = Path(out_dir) / DECISIONS
        if not path.exists():
            return cls(run)
        data = read_json_record(path, "decisions", "fix it, or delete it and review again")
        if data["article"]["sha256"] != run.sha256:
            return cls(run, stale_sha=data["article"]["sha256"])
        return cls(run, data["decisions"], data.get("applied"))

    def entry(self, change_id: str) -> dict[str, Any] | None:
        """The decision on a change, or None when undecided or made on a different proposal."""
        entry, p = self.entries.get(change_id), self.run.proposal(change_id)
        if entry is None or p is None or not (p.changes_text or fillable(p)):
            return None
        if fillable(p) and entry["decision"] == ACCEPT and entry["replacement"] is None:
            return None
        if entry["action"] != p.action or entry["proposed"] != p.replacement:
            return None
        return entry

    def state(self, change_id: str) -> str | None:
        entry = self.entry(change_id)
        return entry["decision"] if entry else None

    def outdated(self) -> list[str]:
        """Change ids decided on a proposal that a later run changed or dropped."""
        return [cid for cid in self.entries if self.entry(cid) is None]

    def accepted(self) -> dict[str, str | None]:
        """Accepted change ids, each with the person's own replacement or None for the proposed one."""
        return {cid: e["replacement"] for cid in self.entries
                if (e := self.entry(cid)) and e["decision"] == ACCEPT}

    def counts(self) -> dict[str, int]:
        states = [self.state(p.id) for p in self.run.reviewable]
        return {"accepted": states.count(ACCEPT), "rejected": states.count(REJECT),
                "undecided": states.count(None)}

    def record(self, change_id: str, decision: str, replacement: str | None = None,
               *, save: bool = True, source: str | None = None) -> None:
        """Record one decision and save the file at once (atomically).

        A ``replacement`` is the reviewer's own text (recorded ``"by": "reviewer"``, never verified);
        a gap left for a human (see :func:`fillable`) can only be accepted with one. ``source``: the
        URL or library path the reviewer gives for their text.
        """
        if decision not in (ACCEPT, REJECT):
            raise ValueError(f"decision must be {ACCEPT!r} or {REJECT!r}, not {decision!r}")
        p = self.run.proposal(change_id)
        if p is None or not (p.changes_text or fillable(p)):
            raise ValueError(f"{change_id} is not a change of this run")
        if fillable(p) and decision == ACCEPT and replacement is None:
            raise ValueError(f"{change_id} is left for a human: accept it with your own text")
        self.entries.pop(change_id, None)
        entry = {"decision": decision, "replacement": replacement if decision == ACCEPT else None,
                 "proposed": p.replacement, "action": p.action, "at": _now()}
        if entry["replacement"] is not None:
            entry["by"] = REVIEWER
            if source:
                entry["source"] = source
        self.entries[change_id] = entry
        if save:
            self.save()

    def by_reviewer(self, change_id: str) -> bool:
        """The accepted text is the reviewer's own (edited or typed), not the verified proposal."""
        entry = self.entry(change_id)
        return bool(entry and entry["decision"] == ACCEPT and entry["replacement"] is not None)

    def mark_applied(self, sha256: str, commits: list[str], branch: str | None) -> None:
        self.applied = {"sha256": sha256, "at": _now(), "commits": commits, "branch": branch}
        self.save()

    def to_dict(self) -> dict[str, Any]:
        data = {"version": 1, "article": {"path": self.run.article_path, "sha256": self.run.sha256},
                "decisions": self.entries}
        if self.applied:
            data["applied"] = self.applied
        return data

    def save(self) -> None:
        data = self.to_dict()
        errors = schema_errors(data, "decisions", limit=1)
        if errors:  # a bug here, not a user error: never write a file apply would refuse
            raise ValueError(f"decisions do not match schemas/decisions.json: {errors[0]}")
        try:
            atomic_write_text(self.path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot save the decisions ({exc.strerror or exc}); "
                              "make the folder writable, then review again") from None


REVIEWER = "reviewer"
REVIEWER_LABEL = "edited by the reviewer, not verified"


def _new_text(p: Proposal, replacement: str | None = None) -> str:
    if replacement is not None:
        return replacement
    return "" if p.action == DELETE else p.replacement


def describe(run: Run, p: Proposal, text: str | None, replacement: str | None = None) -> list[str]:
    """The lines that present one change: where, the words before and after, why, on what sources."""
    f = run.findings.get(p.finding_id)
    new = _new_text(p, replacement)
    lines = []
    if f is None:
        lines.append(f"finding {p.finding_id} is missing from the report")
    elif text is not None:
        lines.append(f"line {f.line}: {context_diff(text, f.start, f.end, new)}")
    else:
        lines.append(f"line {f.line}: {word_diff(f.text, new)}")
    lines.append(f"action: {p.action} · confidence {p.confidence:.2f}"
                 + (f" · {p.status_reason}" if p.status_reason else ""))
    lines.append(f"rationale: {' '.join(p.rationale.split()) or '(none given)'}")
    lines += _figure_lines(run, p, new)
    if p.sources:
        lines.append("sources:")
    for s in p.sources:
        lines.append(f"  [{s.status}] {s.url or '(local snippet)'}" + (f" — {s.title}" if s.title else "")
                     + (f" ({s.date})" if s.date else ""))
        if s.quote:
            lines.append(f"      « {' '.join(s.quote.split())} »")
    return lines


def _figure_lines(run: Run, p: Proposal, new: str) -> list[str]:
    """A chart's files and its data table, when the change fills a chart or table placeholder."""
    from dataclasses import replace

    from .figures import review_lines

    return [line for line in review_lines(replace(p, replacement=new), run.out_dir) if line]


def _overlapping_accepted(run: Run, decisions: Decisions, p: Proposal) -> list[str]:
    f = run.findings.get(p.finding_id)
    if f is None:
        return []
    hits = []
    for cid in decisions.accepted():
        g = run.findings.get(getattr(run.proposal(cid), "finding_id", ""))
        if cid != p.id and g is not None and g.start < f.end and f.start < g.end:
            hits.append(cid)
    return hits


def _finish(run: Run, decisions: Decisions, show: Callable[[str], None]) -> None:
    left = [p for p in run.proposals if not p.changes_text and p.action != KEEP and not decisions.by_reviewer(p.id)]
    if left:
        show(f"left for a human ({len(left)}):")
        for p in left:
            f = run.findings.get(p.finding_id)
            where = f"line {f.line}: {' '.join(f.text.split())[:80]}" if f else p.finding_id
            if p.status == FAILED:
                why = " ".join((p.error or p.status_reason or p.rationale or "no reason recorded").split())
                show(f"  {p.id} {where} (failed: {why})")
            else:
                why = " ".join((p.rationale or p.error or "").split())
                show(f"  {p.id} {where}" + (f" — {why}" if why else ""))
    c = decisions.counts()
    filled = sum(decisions.by_reviewer(p.id) for p in run.proposals if fillable(p))
    show(f"{c['accepted']} accepted, {c['rejected']} rejected, {c['undecided']} undecided"
         + (f", {filled} gap(s) filled by you" if filled else "") + f"; saved in {decisions.path}")
    if c["accepted"] or filled:
        show(f"next: rewriter apply {run.out_dir}")


def _earlier(decisions: Decisions, p: Proposal) -> str | None:
    entry = decisions.entry(p.id)
    if entry is None:
        return None
    if entry["decision"] == REJECT:
        return "earlier: rejected"
    if entry["replacement"] is not None:
        return f"earlier: accepted with your text «{entry['replacement']}» ({REVIEWER_LABEL})"
    return "earlier: accepted"


def _gap_lines(run: Run, p: Proposal, text: str | None) -> list[str]:
    f = run.findings.get(p.finding_id)
    if f is None:
        return [f"finding {p.finding_id} is missing from the report"]
    where = context_diff(text, f.start, f.end, f.text) if text is not None else f.text
    lines = [f"line {f.line}: {where}", f"left for a human: {' '.join((p.rationale or f.message).split())}"]
    return lines + [f"  [{s.status}] {s.url}" for s in p.sources if s.url]


def review_interactive(out_dir: Path, ask: Callable[[str, list[str]], str],
                       show: Callable[[str], None], *, redo: bool = False,
                       edit: Callable[[str], str | None] | None = None) -> Decisions:
    """Ask about each undecided change in article order, the way ``git add -p`` asks about hunks.

    ``ask(prompt, choices)`` returns one of ``choices`` (in any case), or free text when
    ``choices`` is empty. ``edit(text)`` returns the person's version of ``text`` (say from
    ``$EDITOR``), or None to keep it; without it, ``e`` asks for the text with ``ask``. Decided
    changes are passed over unless ``redo``. Gaps left for a human (a missing figure) are asked
    too: ``e`` fills one with the person's text, recorded as theirs, never as verified.
    """
    run = read_run(out_dir)
    decisions = Decisions.load(out_dir, run)
    if decisions.stale_sha:
        show("note: decisions.json was made for other article bytes; starting afresh")
    try:
        text = article_text(run)
        why = f"{run.article_path} is missing or changed since the run"
    except RewriterError as exc:
        text, why = None, str(exc)
    if text is None:
        show(f"note: {why}; showing the changed words only (apply will refuse until you run again)")
    # The proposed changes first, in article order, then the gaps left for a human.
    changes = [p for p in run.proposals if p.changes_text]
    items = changes + [p for p in run.proposals if fillable(p)]
    if not items:
        show("no change to review: this run proposes no replacement or deletion")
    decided = sum(decisions.state(p.id) is not None for p in items)
    if decided and not redo:
        show(f"{decided} of {len(items)} already decided (`--redo` to go through them again)")

    def kind_of(p: Proposal) -> str | None:
        f = run.findings.get(p.finding_id)
        return f.kind if f else None

    def typed(initial: str, prompt: str) -> str | None:
        new = edit(initial) if edit is not None else ask(prompt, [])
        return new if new and new != initial else None

    for n, p in enumerate(items, 1):
        if decisions.state(p.id) and not redo:
            continue
        gap = fillable(p)
        f = run.findings.get(p.finding_id)
        kind = f"{f.kind}/{f.subtype}" if f else "?"
        gaps = len(items) - len(changes)
        number = f"gap {n - len(changes)}/{gaps}" if gap else f"{n}/{len(changes)}"
        show(f"({number}) {p.id} {kind} — {p.status}")
        for line in (_gap_lines(run, p, text) if gap else describe(run, p, text)):
            show(line)
        if redo and (earlier := _earlier(decisions, p)):
            show(earlier)
        for other in _overlapping_accepted(run, decisions, p):
            show(f"note: overlaps {other}, which you accepted; only the outer or earlier one is applied")
        while True:
            answer = ask(FILL_PROMPT if gap else PROMPT, FILL_CHOICES if gap else CHOICES).strip().lower()
            if answer == "y" and not gap:
                decisions.record(p.id, ACCEPT)
            elif answer == "n":
                decisions.record(p.id, REJECT)
            elif answer == "e" and gap:
                new = typed(f.text if f else "", "Your text for the gap (empty leaves it):")
                if new is None:
                    show("left the gap as it was; decide again")
                    continue
                source = ask("Source URL or library path for it (empty: none):", []).strip()
                decisions.record(p.id, ACCEPT, new, source=source or None)
                show(f"filled with your text ({REVIEWER_LABEL}): " + describe(run, p, text, new)[0])
            elif answer == "e":
                show(f"proposed: {_new_text(p)!r}")
                new = typed(_new_text(p), "New replacement (empty keeps the proposed one):")
                if new is None:
                    show("kept the proposed replacement; decide again")
                    continue
                decisions.record(p.id, ACCEPT, new)
                show(f"accepted with your text ({REVIEWER_LABEL}): " + describe(run, p, text, new)[0])
            elif answer in ("a", "d") and not gap:
                decision = ACCEPT if answer == "a" else REJECT
                rest = [q for q in items[n - 1:] if q.changes_text and kind_of(q) == kind_of(p)
                        and (q is p or not decisions.state(q.id))]
                for q in rest:
                    decisions.record(q.id, decision, save=False)
                decisions.save()
                show(f"{'accepted' if answer == 'a' else 'rejected'} {len(rest)} {kind_of(p)} change(s), "
                     "this one and the undecided ones after it")
            elif answer == "q":
                _finish(run, decisions, show)
                return decisions
            elif answer == "?":
                show(FILL_HELP if gap else HELP)
                continue
            elif answer != "s":
                show("answer " + ("e, n, s, q" if gap else "y, n, e, a, d, s, q") + ", or ? for help")
                continue
            break
    _finish(run, decisions, show)
    return decisions


def review_bulk(out_dir: Path, accept: str | None, reject_all: bool, *, redo: bool = False) -> Decisions:
    """Decide without asking: ``accept`` "all" or statuses separated by commas ("verified",
    "verified,copyedit,cleanup"), and/or reject all the rest.

    Changes already decided keep their decision unless ``redo``.
    """
    lanes = set(accept.split(",")) if accept else set()
    if lanes - {"all", *ACCEPTABLE}:
        raise ValueError(f"accept takes 'all' or statuses among {', '.join(ACCEPTABLE)}, not {accept!r}")
    run = read_run(out_dir)
    decisions = Decisions.load(out_dir, run)
    for p in run.reviewable:
        if not redo and decisions.state(p.id):
            continue
        if "all" in lanes or p.status in lanes:
            decisions.record(p.id, ACCEPT, save=False)
        elif reject_all:
            decisions.record(p.id, REJECT, save=False)
    decisions.save()
    return decisions
