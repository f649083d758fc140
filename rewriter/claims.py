"""Claims stage: the model lists dubious claims; the code turns each quote into an exact span."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import CLAIM, Finding
from .resources import load_schema, render_prompt
from .text import LANGUAGE_NAMES, Sentence, sentences

TASK = "claims"


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
            "article_date_line": (f"The article states its own date: {self.date}." if self.date
                                  else "The article does not state its date."),
        }


@dataclass
class ClaimsResult:
    claims: list[Finding] = field(default_factory=list)
    calls: list = field(default_factory=list)
    error: str | None = None


def locate(quote: str, sentence: Sentence | None, text: str, chunk: tuple[int, int]) -> tuple[int, int] | None:
    """Span of ``quote``: inside its sentence, else its single occurrence in the chunk."""
    if sentence is not None:
        at = sentence.text.find(quote)
        if at != -1:
            return sentence.start + at, sentence.start + at + len(quote)
    start, end = chunk
    first = text.find(quote, start, end)
    if first != -1 and text.find(quote, first + 1, end) == -1:
        return first, first + len(quote)
    return None


def messages_for(numbered: list[Sentence], ctx: ArticleContext) -> list[dict]:
    lines = "\n".join(f"[{s.number}] {s.text}" for s in numbered)
    prompt = render_prompt(TASK, sentences=lines, **ctx.prompt_variables())
    return [{"role": "user", "content": prompt}]


def find_claims(llm, text: str, chunk: tuple[int, int], ctx: ArticleContext,
                taken: list[tuple[int, int]]) -> ClaimsResult:
    """Ask for the dubious claims of ``text[chunk]``; spans overlapping ``taken`` are dropped."""
    from .errors import LLMError

    start, end = chunk
    numbered = sentences(text[start:end], offset=start)
    by_number = {s.number: s for s in numbered}

    def check(data: dict[str, Any]) -> list[str]:
        problems = []
        for i, claim in enumerate(data["claims"]):
            sentence = by_number.get(claim["sentence"])
            if sentence is None:
                problems.append(f"claims[{i}].sentence {claim['sentence']} does not exist; "
                                f"sentences are numbered 1 to {len(numbered)}.")
            elif locate(claim["quote"], sentence, text, chunk) is None:
                problems.append(f"claims[{i}].quote {claim['quote']!r} is not verbatim text of sentence "
                                f"{claim['sentence']}; copy the words exactly as they appear in: {sentence.text!r}")
        return problems

    try:
        reply = llm.ask(TASK, messages_for(numbered, ctx), load_schema(TASK), check=check)
    except LLMError as exc:
        if getattr(exc, "fatal", False):
            raise  # key rejected, model missing, server down: no later request can do better
        return ClaimsResult(calls=exc.calls, error=str(exc))

    result = ClaimsResult(calls=reply.calls)
    occupied = list(taken)
    for claim in reply.data["claims"]:
        span = locate(claim["quote"], by_number[claim["sentence"]], text, chunk)
        if any(span[0] < e and s < span[1] for s, e in occupied):
            continue  # a detector finding or an earlier claim already covers these words
        occupied.append(span)
        result.claims.append(Finding.at(
            text, span[0], span[1], CLAIM, claim["category"], claim["reason"],
            payload={"reason": claim["reason"], "settle_with": claim["settle_with"],
                     "sentence": claim["sentence"]}))
    return result
