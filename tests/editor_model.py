"""A scripted stand-in for a sensible model, answering from what the request actually says.

It reads the numbered sentences or the findings out of the prompt it is sent,
so it works for any article: claims flags a chosen phrase when it is there;
corrections deletes chrome and artifacts, hands placeholders and dangling
citations to a person, and corrects claims from a snippet or URL it was told
to cite.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable


def _user_text(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start):text.index(end)]


FABRICATIONS = ("quote", "id", "url")


@dataclass
class EditorModel:
    # phrase to flag as a claim -> (category, correction, source url, source quote)
    claims: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    # cite the first offered evidence snippet for claims instead of the URL
    cite_snippets: bool = False
    # phrase to flag -> (category, correction, [(query, lang)], cues): planned searches, and the
    # correction sourced from the offered snippet holding one of the cues (see tests/research_corpus.py)
    researched: dict[str, tuple[str, str, list, tuple]] = field(default_factory=dict)
    # plan a search for every gap listed, from the words of its sentence
    plan_gaps: bool = False
    # cite made-up evidence instead: "quote" (an offered id, words it does not hold), "id" (an id
    # never offered), "url" (a page that does not exist); with several, each claim gets one of them
    fabricate: tuple[str, ...] = ()
    # a broken table's text -> the Markdown table the model proposes for it (it reads the language
    # to tell where a cell ends); None: a person rebuilds it
    tables: Callable[[str], str | None] | None = None
    # a chart or table placeholder's title -> (rows of (label, value), quotes): the data the model proposes
    # as "label : value" lines, citing for each quote the offered snippet holding it (tests/test_figures.py)
    figures: dict[str, tuple[list[tuple[str, str]], list[str]]] = field(default_factory=dict)

    def __call__(self, body: dict) -> dict:
        task = body["response_format"]["json_schema"]["name"]
        text = _user_text(body)
        return self.claims_reply(text) if task == "claims" else self.corrections_reply(text)

    def claims_reply(self, prompt: str) -> dict:
        found = []
        numbered = {}
        for line in _between(prompt, "<<<ARTICLE\n", "\nARTICLE>>>").splitlines():
            number, _, sentence = line.partition("] ")
            numbered[int(number.lstrip("["))] = sentence
            for phrase, (category, *_rest) in self.claims.items():
                if phrase in sentence:
                    found.append({"sentence": int(number.lstrip("[")), "quote": phrase, "category": category,
                                  "reason": f"« {phrase} » est douteux.", "settle_with": "La source primaire.",
                                  "queries": [{"q": phrase, "lang": "fr"}]})
            for phrase, (category, _correction, queries, _cues) in self.researched.items():
                if phrase in sentence:
                    found.append({"sentence": int(number.lstrip("[")), "quote": phrase, "category": category,
                                  "reason": f"« {phrase} » est douteux.", "settle_with": "Une source de référence.",
                                  "queries": [{"q": q, "lang": lang} for q, lang in queries]})
        research = []
        if self.plan_gaps and "<<<GAPS" in prompt:
            for line in _between(prompt, "<<<GAPS (one JSON object per line)\n", "\nGAPS>>>").splitlines():
                if not line.startswith("{"):
                    continue
                gap = json.loads(line)
                words = re.findall(r"[^\W\d_][\w-]+", numbered.get(gap["sentence"], ""))[:6]
                research.append({"gap": gap["id"], "looking_for": "Le chiffre ou la source manquante.",
                                 "queries": [{"q": " ".join(words) or gap["text"], "lang": "fr"}]})
        return {"claims": found, "research": research}

    def corrections_reply(self, prompt: str) -> dict:
        proposals = []
        for line in _between(prompt, "<<<FINDINGS (one JSON object per line)\n", "\nFINDINGS>>>").splitlines():
            finding = json.loads(line)
            proposals.append(self.proposal(finding, prompt))
        return {"proposals": proposals}

    def proposal(self, finding: dict, prompt: str) -> dict:
        base = {"finding_id": finding["id"], "replacement": "", "confidence": 0.9, "sources": []}
        if finding["kind"] in ("boilerplate", "artifact"):
            return {**base, "action": "delete", "rationale": "Habillage de page, pas du texte de l'article."}
        if finding["kind"] == "claim" and finding["text"] in self.claims:
            _category, correction, url, quote = self.claims[finding["text"]]
            source = {"evidence_id": "", "url": url, "title": "Source", "publisher": "Éditeur",
                      "date": "2024-01-01", "quote": quote}
            if self.cite_snippets and finding.get("evidence"):
                snippet_id = finding["evidence"][0]
                snippet = re.search(rf"^\[{re.escape(snippet_id)}\] \([^)]*\) (.*)$", prompt, re.M).group(1)
                figure = correction.split()[0]   # cite the snippet's sentence that gives the new figure
                sentence = next(s for s in re.split(r"(?<=[.!?])\s+", snippet) if figure in s)
                source = {**source, "evidence_id": snippet_id, "url": "", "quote": sentence}
            return {**base, "action": "replace", "replacement": correction,
                    "rationale": "Chiffre corrigé d'après la source.", "sources": [source]}
        if finding["kind"] == "broken_table" and self.tables and self.tables(finding["text"]):
            return {**base, "action": "replace", "replacement": self.tables(finding["text"]),
                    "rationale": "Tableau remis en forme, cellules inchangées."}
        title = (finding.get("details") or {}).get("title") or finding["note"].partition(": ")[2].strip("«» \"")
        if finding["kind"] == "placeholder" and title in self.figures:
            return self.figure_proposal(base, finding, prompt, *self.figures[title])
        if finding["kind"] == "claim" and finding["text"] in self.researched:
            return self.researched_proposal(base, finding, prompt)
        return {**base, "action": "needs_human", "confidence": 0.0,
                "rationale": f"À compléter par la rédaction : {finding['note']}"}

    def figure_proposal(self, base: dict, finding: dict, prompt: str, rows: list, quotes: list) -> dict[str, Any]:
        """The data as ``label : value`` lines, each quote cited by the offered snippet that holds it."""
        offered = {sid: snippet_text(prompt, sid) for sid in finding.get("evidence", [])}
        sources = [{"evidence_id": sid, "url": "", "title": "", "publisher": "", "date": "", "quote": quote}
                   for quote in quotes for sid in [next((i for i, t in offered.items() if quote in t), None)] if sid]
        if len(sources) < len(quotes):
            return {**base, "action": "needs_human", "confidence": 0.2,
                    "rationale": "Aucun extrait fourni ne donne ces données."}
        return {**base, "action": "replace", "replacement": "\n".join(f"{label} : {value}" for label, value in rows),
                "rationale": "Données tirées des extraits cités.", "sources": sources}

    def researched_proposal(self, base: dict, finding: dict, prompt: str) -> dict:
        _category, correction, _queries, cues = self.researched[finding["text"]]
        offered = finding.get("evidence", [])
        snippets = {sid: snippet_text(prompt, sid) for sid in offered}
        cited = next(((sid, sentence) for sid, text in snippets.items() for sentence in split_sentences(text)
                      if any(cue in sentence for cue in cues)), None)
        if self.fabricate:
            # the same finding always gets the same fabrication, so a re-ask gets the same answer
            how = self.fabricate[sum(map(ord, finding["id"])) % len(self.fabricate)]
            source = fabricated(how, offered)
        elif cited is None:
            return {**base, "action": "needs_human", "confidence": 0.2,
                    "rationale": "Aucun extrait fourni ne permet de corriger ce point."}
        else:
            source = {"evidence_id": cited[0], "url": "", "title": "", "publisher": "", "date": "",
                      "quote": cited[1]}
        return {**base, "action": "replace", "replacement": correction,
                "rationale": "Corrigé d'après l'extrait cité.", "sources": [source]}


def snippet_text(prompt: str, snippet_id: str) -> str:
    """The text of an offered snippet, as the EVIDENCE section shows it: ``[id] (origin) text``."""
    match = re.search(rf"^\[{re.escape(snippet_id)}\] (?:\([^)\n]*\) )?(.*)$", prompt, re.M)
    return match.group(1) if match else ""


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def fabricated(how: str, offered: list[str]) -> dict:
    """A source a careless or dishonest model would give: it must never verify."""
    source = {"evidence_id": "", "url": "", "title": "Source", "publisher": "Éditeur", "date": "2024-01-01",
              "quote": "Selon nos informations exclusives, le chiffre exact a été confirmé par la direction."}
    if how == "quote" and offered:
        return {**source, "evidence_id": offered[0]}
    if how == "id":
        return {**source, "evidence_id": "E99#9"}
    return {**source, "url": "https://www.example-news.invalid/2024/exclusif-chiffres"}
