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


def _user_text(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start):text.index(end)]


@dataclass
class EditorModel:
    # phrase to flag as a claim -> (category, correction, source url, source quote)
    claims: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    # cite the first offered evidence snippet for claims instead of the URL
    cite_snippets: bool = False

    def __call__(self, body: dict) -> dict:
        task = body["response_format"]["json_schema"]["name"]
        text = _user_text(body)
        return self.claims_reply(text) if task == "claims" else self.corrections_reply(text)

    def claims_reply(self, prompt: str) -> dict:
        found = []
        for line in _between(prompt, "<<<ARTICLE\n", "\nARTICLE>>>").splitlines():
            number, _, sentence = line.partition("] ")
            for phrase, (category, *_rest) in self.claims.items():
                if phrase in sentence:
                    found.append({"sentence": int(number.lstrip("[")), "quote": phrase, "category": category,
                                  "reason": f"« {phrase} » est douteux.", "settle_with": "La source primaire.",
                                  "queries": [{"q": phrase, "lang": "fr"}]})
        return {"claims": found, "research": []}

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
        return {**base, "action": "needs_human", "confidence": 0.0,
                "rationale": f"À compléter par la rédaction : {finding['note']}"}
