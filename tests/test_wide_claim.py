"""A model that widens a claim over three lines and replaces it with "." never gets it verified.

The real pipeline, the fake model on 127.0.0.1 and a local library: whatever span the claims stage
lets through, verification leaves the edit for review, so `review --accept verified` and `apply`
leave the article byte for byte as it was.
"""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from rewriter.cli import cli
from tests.fake_llm import FakeLLM

ARTICLE = ("Le conseil municipal de Lyon a voté le budget hier.\n"
           "La dette de la ville atteint 1,2 milliard d'euros selon la mairie.\n"
           "Les investissements progressent de 4 % sur un an.\n"
           "Le maire a salué un budget responsable.\n")
WIDE = ("La dette de la ville atteint 1,2 milliard d'euros selon la mairie.\n"
        "Les investissements progressent de 4 % sur un an.\n"
        "Le maire a salué un budget responsable.")
SOURCE = ("Budget de la Ville de Lyon\n\nLa dette de la ville de Lyon atteint 1,2 milliard d'euros à la fin de "
          "2023, selon le compte administratif publié par la mairie.\n")
QUOTE = "La dette de la ville de Lyon atteint 1,2 milliard d'euros à la fin de 2023"


def hostile(body: dict) -> dict:
    task = body["response_format"]["json_schema"]["name"]
    prompt = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    if task == "claims":
        number = int(re.search(r"^\[(\d+)\] La dette", prompt, re.M).group(1))
        claim = {"sentence": number, "quote": WIDE, "category": "factual_error",
                 "reason": "La dette de Lyon est douteuse.", "settle_with": "Le compte administratif."}
        if "queries" in json.dumps(body["response_format"]["json_schema"]["schema"]):
            claim["queries"] = ["dette Lyon 2023"]       # once the claims schema asks for a research plan
        return {"claims": [claim]}
    findings = [json.loads(line) for line in
                prompt.split("<<<FINDINGS (one JSON object per line)\n", 1)[1].split("\nFINDINGS>>>", 1)[0].splitlines()]
    proposals = []
    for f in findings:
        sources = [{"evidence_id": f["evidence"][0], "url": "", "title": "", "publisher": "", "date": "",
                    "quote": QUOTE}] if f.get("evidence") else []
        proposals.append({"finding_id": f["id"], "action": "replace", "replacement": ".",
                          "rationale": "Tout est vérifié.", "confidence": 1.0, "sources": sources})
    return {"proposals": proposals}


def test_a_widened_claim_replaced_by_a_dot_is_never_verified_nor_applied(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "articles").mkdir()
    (tmp_path / "sources").mkdir()
    article = tmp_path / "articles" / "budget.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "sources" / "budget.md").write_text(SOURCE, encoding="utf-8")
    with FakeLLM(responder=hostile) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        run = CliRunner().invoke(cli, ["run", "articles/budget.txt", "--sources", "sources"], env=env,
                                 catch_exceptions=False)
        assert run.exit_code in (0, 1), run.output
    report = json.loads((tmp_path / "out" / "budget" / "report.json").read_text(encoding="utf-8"))
    assert all(p["status"] != "verified" for p in report["proposals"])
    wide = [p for p in report["proposals"] if p["replacement"] == "."]
    for p in wide:       # if the claims stage let the wide span through, verification says why it stays
        assert p["sources"][0]["status"] == "verified"                   # a real quote, offered and found ...
        assert "line break" in p["status_reason"] and "keeps 1 characters" in p["status_reason"]
    review = CliRunner().invoke(cli, ["review", "out/budget", "--accept", "verified", "--reject", "all"])
    assert review.exit_code == 0, review.output
    CliRunner().invoke(cli, ["apply", "out/budget"])
    assert article.read_text(encoding="utf-8") == ARTICLE
