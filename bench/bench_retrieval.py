"""Retrieval recall: is the passage that settles a claim among the snippets offered for it?

    python bench/bench_retrieval.py            # recall@1, @2, @4 per language and overall, then failures
    python bench/bench_retrieval.py --json     # the same figures as JSON

The library (``bench/retrieval/library/``) holds French and English pages about companies, models,
people and places, with distractors that share their numbers and names. Each case of
``bench/retrieval/cases.json`` is a claim as an article states it (the sentence, the quote the claims
stage flags, its reason, what would settle it and the research queries), the document that settles
it and the words the settling passage must contain (``settles``: every string, whitespace
collapsed, in one snippet). Batch 1 was written before the ranking was tuned and tuned on; batch 2
was written afterwards and is held out (see bench/README.md). Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewriter.evidence import gather  # noqa: E402
from rewriter.models import CLAIM, Finding  # noqa: E402
from rewriter.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent / "retrieval"
LIBRARY = HERE / "library"
CASES = HERE / "cases.json"
KS = (1, 2, 4)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_cases(path: Path = CASES) -> list[dict]:
    cases = json.loads(path.read_text(encoding="utf-8"))
    for case in cases:   # a case that cannot be settled by its own document is a broken case
        doc = _squash((LIBRARY / case["doc"]).read_text(encoding="utf-8"))
        missing = [s for s in case["settles"] if _squash(s) not in doc]
        if missing or case["quote"] not in case["sentence"]:
            raise SystemExit(f"case {case['id']}: {missing or 'quote not in sentence'}")
    return cases


def finding_of(case: dict) -> tuple[str, Finding]:
    article = " ".join(x for x in (case.get("before", ""), case["sentence"]) if x) + "\n"
    start = article.index(case["sentence"]) + case["sentence"].index(case["quote"])
    payload = {"reason": case["reason"], "settle_with": case["settle_with"], "queries": case["queries"]}
    return article, Finding.at(article, start, start + len(case["quote"]), CLAIM, "fact", case["reason"],
                               payload=payload)


def run(cases: list[dict] | None = None, k: int = max(KS)) -> list[dict]:
    """One row per case: its id, language and the rank (1-based) of the first settling snippet, or None."""
    cases = load_cases() if cases is None else cases
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(cache_dir=Path(tmp), use_cache=False)
        evidence = gather("", [], sources_dir=LIBRARY, fetch=False, settings=settings, evidence_dir=None)
        paths = {d.id: Path(d.path).name for d in evidence.documents}
        rows = []
        for case in cases:
            article, finding = finding_of(case)
            offered = evidence.snippets_for(finding, article, k=k)
            rank = next((i for i, s in enumerate(offered, 1)
                         if paths[s.document_id] == case["doc"]
                         and all(_squash(x) in _squash(s.text) for x in case["settles"])), None)
            rows.append({"id": case["id"], "lang": case["lang"], "batch": case.get("batch", 1), "rank": rank,
                         "offered": [(s.id, paths[s.document_id], _squash(s.text)[:90]) for s in offered]})
        evidence.close()
    return rows


def recall(rows: list[dict], k: int, lang: str | None = None, batch: int | None = None) -> float:
    chosen = [r for r in rows if (lang is None or r["lang"] == lang) and (batch is None or r["batch"] == batch)]
    return sum(r["rank"] is not None and r["rank"] <= k for r in chosen) / len(chosen) if chosen else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rows = run()
    figures = {lang or "all": {f"recall@{k}": round(recall(rows, k, lang), 3) for k in KS}
               | {"cases": sum(lang is None or r["lang"] == lang for r in rows)}
               for lang in ("fr", "en", None)}
    for batch in sorted({r["batch"] for r in rows}):
        figures[f"batch {batch}"] = {f"recall@{k}": round(recall(rows, k, batch=batch), 3) for k in KS} | {
            "cases": sum(r["batch"] == batch for r in rows)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, values in figures.items():
        print(f"{name:7} {values['cases']:3} cases  " + "  ".join(f"@{k} {values[f'recall@{k}']:.2f}" for k in KS))
    failures = [r for r in rows if r["rank"] is None or r["rank"] > 1]
    if failures:
        print("\nnot first:")
    for row in failures:
        print(f"  {row['id']}: rank {row['rank']}")
        for offered in row["offered"]:
            print(f"      {offered[0]:6} {offered[1]:24} {offered[2]}")


if __name__ == "__main__":
    main()
