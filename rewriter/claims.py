"""Claims stage: the model lists dubious claims; the code turns each quote into an exact span."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .models import CLAIM, DANGLING_CITATION, PLACEHOLDER, Finding, Query, ResearchItem
from .resources import errors_against, load_schema, render_prompt
from .text import LANGUAGE_NAMES, Sentence, sentences

TASK = "claims"
# Kinds of detector finding the research plan is asked about: what is missing is to be found.
GAP_KINDS = frozenset({PLACEHOLDER, DANGLING_CITATION})
# Placeholder subtypes whose payload is data a claim may target.
DATA_PLACEHOLDERS = frozenset({"chart", "table"})
MAX_QUERIES = 3
MAX_QUERY_CHARS = 200


@dataclass
class ArticleContext:
    """What every model prompt says about the article besides its text."""
    today: str
    language: str
    date: str | None = None

    def prompt_variables(self) -> dict[str, str]:
        return {
            "today": self.today,
            "language_name": LANGUAGE_NAMES.get(self.language, self.language),
            "language": self.language,
            "article_date_line": (f"The article states its own date: {self.date}." if self.date
                                  else "The article does not state its date."),
        }


@dataclass
class ClaimsResult:
    claims: list[Finding] = field(default_factory=list)
    # What to search for: one item per claim and per gap the model planned for.
    plan: list[ResearchItem] = field(default_factory=list)
    calls: list = field(default_factory=list)
    error: str | None = None


def _sentence_at(numbered: list[Sentence], starts: list[int], offset: int) -> Sentence | None:
    i = bisect.bisect_right(starts, offset) - 1
    return numbered[i] if i >= 0 and numbered[i].start <= offset < max(numbered[i].end, offset + 1) else None


# Typographic apostrophes and double quotes read as straight ones when a quote is located: one
# character for one, so offsets stay those of the article ("l'entreprise" finds "l’entreprise").
_STRAIGHT = {**{ord(c): "'" for c in "‘’‚‛ʼ′"}, **{ord(c): '"' for c in "“”„‟″"}}


def folded(text: str) -> str:
    return text.translate(_STRAIGHT)


def locate(quote: str, sentence: Sentence | None, text: str, chunk: tuple[int, int],
           numbered: list[Sentence] | None = None) -> tuple[int, int] | None:
    """Span of ``quote``: inside its sentence, else its single occurrence in the chunk if that lies
    inside one sentence; typographic and straight quotes and apostrophes count as the same. A claim
    is a few words of one sentence: a quote that crosses a sentence or a line break is refused, so
    an injected instruction cannot widen a claim over paragraphs."""
    if not quote or "\n" in quote or "\r" in quote:
        return None
    quote = folded(quote)
    if sentence is not None:
        at = folded(sentence.text).find(quote)
        if at != -1:
            return sentence.start + at, sentence.start + at + len(quote)
    start, end = chunk
    plain = folded(text[start:end])
    first = plain.find(quote)
    if first == -1 or plain.find(quote, first + 1) != -1:
        return None
    first += start
    numbered = numbered if numbered is not None else sentences(text[start:end], offset=start)
    holder = _sentence_at(numbered, [s.start for s in numbered], first)
    if holder is None or first + len(quote) > holder.end:
        return None
    return first, first + len(quote)


def gap_line(gap: Finding, numbered: list[Sentence], starts: list[int]) -> str:
    holder = _sentence_at(numbered, starts, gap.start)
    item = {"id": gap.id, "kind": gap.kind, "text": gap.text, "sentence": holder.number if holder else None}
    return json.dumps(item, ensure_ascii=False)


def messages_for(numbered: list[Sentence], ctx: ArticleContext, gaps: Sequence[Finding] = ()) -> list[dict]:
    lines = "\n".join(f"[{s.number}] {s.text}" for s in numbered)
    starts = [s.start for s in numbered]
    gap_lines = "\n".join(gap_line(g, numbered, starts) for g in gaps) or "(none)"
    prompt = render_prompt(TASK, sentences=lines, gaps=gap_lines, **ctx.prompt_variables())
    return [{"role": "user", "content": prompt}]


def clean_queries(raw: list[dict[str, str]]) -> list[Query]:
    """The model's queries, stripped, without repeats, at most three: tolerated, not re-asked."""
    seen, kept = set(), []
    for item in raw:
        text = " ".join(item["q"].split())[:MAX_QUERY_CHARS].strip()
        key = (text.casefold(), item["lang"])
        if len(text) >= 3 and key not in seen:
            seen.add(key)
            kept.append(Query(text, item["lang"]))
    return kept[:MAX_QUERIES]


def numeric_strings_accepted(schema: dict[str, Any]) -> dict[str, Any]:
    """The claims schema checked locally: a sentence number may come as a string of digits ("3")."""
    local = json.loads(json.dumps(schema))     # a deep copy at C speed (deepcopy cost ~1 ms an article)
    item = local["properties"]["claims"]["items"]["properties"]
    item["sentence"] = {"anyOf": [item["sentence"], {"type": "string", "pattern": r"^\s*[1-9][0-9]*\s*$"}]}
    return local


def salvaged(raw: str | None, schema: dict[str, Any], check) -> dict[str, Any] | None:
    """The claims and research items of a last reply that are right one by one, when the reply as a
    whole stayed wrong after the re-asks: one bad quote no longer loses every claim."""
    try:
        data = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("claims", "research")):
        return None
    items = schema["properties"]
    kept: dict[str, list] = {"claims": [], "research": []}
    for key in kept:
        for item in data[key]:
            one = {"claims": [], "research": [], key: [item]}
            if not errors_against(item, items[key]["items"]) and not check(one):
                kept[key].append(one[key][0])
    return kept


def find_claims(asker, text: str, chunk: tuple[int, int], ctx: ArticleContext,
                taken: list[tuple[int, int]], gaps: Sequence[Finding] = ()) -> ClaimsResult:
    """Ask for the dubious claims of ``text[chunk]`` and the searches that would settle them and fill
    ``gaps``; spans overlapping ``taken`` are dropped. Still one request (plus re-asks)."""
    from .asker import Task
    from .errors import LLMError

    start, end = chunk
    numbered = sentences(text[start:end], offset=start)
    by_number = {s.number: s for s in numbered}
    gap_ids = {g.id for g in gaps}

    def check(data: dict[str, Any]) -> list[str]:
        problems = []
        for i, claim in enumerate(data["claims"]):
            sentence = by_number.get(claim["sentence"])
            if sentence is None:
                problems.append(f"claims[{i}].sentence {claim['sentence']} does not exist; "
                                f"sentences are numbered 1 to {len(numbered)}.")
            elif locate(claim["quote"], sentence, text, chunk, numbered) is None:
                where = [s.number for s in numbered if folded(claim["quote"]) in folded(s.text)]
                found = (f"; it occurs in sentences {', '.join(map(str, where))}: give one of those numbers"
                         if len(where) > 1 else f"; it occurs in sentence {where[0]}: give that number"
                         if where else "")
                problems.append(f"claims[{i}].quote {claim['quote']!r} is not verbatim text of sentence "
                                f"{claim['sentence']}{found}; copy the words exactly as they appear in: "
                                f"{sentence.text!r} (a quote stays inside one sentence)")
        for i, item in enumerate(data["research"]):
            if item["gap"] not in gap_ids:
                listed = ", ".join(sorted(gap_ids)) or "none"
                problems.append(f"research[{i}].gap {item['gap']!r} is not a listed gap id (listed: {listed}).")
        return problems

    def normalise_then_check(data: dict[str, Any]) -> list[str]:
        for claim in data["claims"]:        # "3" for 3: unambiguous, no reason to re-ask
            if isinstance(claim["sentence"], str):
                claim["sentence"] = int(claim["sentence"])
        return check(data)

    schema = load_schema(TASK)
    try:
        reply = asker.run(Task(TASK, messages_for(numbered, ctx, gaps), schema, check=normalise_then_check,
                               accept=numeric_strings_accepted(schema)))
    except LLMError as exc:
        if getattr(exc, "fatal", False):
            raise  # key rejected, model missing, server down: no later request can do better
        kept = salvaged(getattr(exc, "raw", None), numeric_strings_accepted(schema), normalise_then_check)
        if kept is None:
            return ClaimsResult(calls=exc.calls, error=str(exc))
        data, calls = kept, exc.calls
        error: str | None = (f"{exc}; kept the {len(data['claims'])} claim(s) and {len(data['research'])} "
                             "research item(s) of the last reply that were right")
    else:
        data, calls, error = reply.data, reply.calls, None

    result = ClaimsResult(calls=calls, error=error)
    occupied = list(taken)
    # A chart or table placeholder's payload holds data ("Claude : 175B, Mixtral : 12B") that can be
    # wrong: a claim may sit inside one, the placeholder's own finding staying as it is.
    containers = {(g.start, g.end) for g in gaps if g.kind == PLACEHOLDER and g.subtype in DATA_PLACEHOLDERS}
    for claim in data["claims"]:
        span = locate(claim["quote"], by_number[claim["sentence"]], text, chunk, numbered)
        if span is None:
            continue    # not reached: the check refused such a claim
        inside = {c for c in containers if c[0] < span[0] and span[1] < c[1]}
        if any(span[0] < e and s < span[1] for s, e in occupied if (s, e) not in inside):
            continue  # a detector finding or an earlier claim already covers these words
        occupied.append(span)
        queries = clean_queries(claim["queries"])
        finding = Finding.at(
            text, span[0], span[1], CLAIM, claim["category"], claim["reason"],
            payload={"reason": claim["reason"], "settle_with": claim["settle_with"],
                     "sentence": claim["sentence"], "queries": [q.to_dict() for q in queries]})
        result.claims.append(finding)
        result.plan.append(ResearchItem([finding.id], claim["settle_with"], queries))
    planned: dict[str, ResearchItem] = {}
    for item in data["research"]:
        queries = clean_queries(item["queries"])
        if item["gap"] in planned:   # a second item for one gap: its queries join the first's
            first = planned[item["gap"]]
            first.queries = clean_queries([q.to_dict() for q in first.queries + queries])
            continue
        planned[item["gap"]] = ResearchItem([item["gap"]], item["looking_for"], queries)
    result.plan += planned.values()
    return result
