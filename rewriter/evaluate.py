"""`rewriter eval`: run articles an editor annotated through the pipeline, once per model, and score it.

A gold file (``GOLD_DIR/<stem>.json``, described by ``schemas/gold.json``) says what detection
should find, which words are dubious (and the correct fact), and which true claims must not be
flagged. The score of a model (``schemas/eval.json``): detection recall and precision, dubious
claims found, true claims wrongly flagged, proposals by status, the verified share of the
proposals that change text, requests, tokens and a cost from prices the caller gives.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from .errors import GoldError
from .models import STATUSES, VERIFIED
from .resources import schema_errors


def load_gold(gold_dir: Path) -> dict[str, dict[str, Any]]:
    """The gold files of ``gold_dir``, by article file name."""
    gold: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(gold_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GoldError(f"{path}: cannot read it ({exc}); fix the file or move it out of {gold_dir}") from None
        problems = schema_errors(data, "gold")
        if problems:
            raise GoldError(f"{path}: not a gold file ({problems[0]}); see schemas/gold.json")
        gold[data["article"]] = data
    if not gold:
        raise GoldError(f"{gold_dir}: no gold file (*.json); see README, 'Measuring a model'")
    return gold


def _overlaps(a: str, b: str) -> bool:
    return a in b or b in a


def score_article(report: dict[str, Any], gold: dict[str, Any]) -> dict[str, Any]:
    """Counts for one article: what was expected and what the run found."""
    found = Counter((f["kind"], f["text"]) for f in report["findings"])
    expected = Counter({(g["kind"], g["text"]): g.get("count", 1) for g in gold["findings"]})
    hits = sum(min(n, found[key]) for key, n in expected.items())
    claims = [c["text"] for c in report["claims"]]
    by_finding = {p["finding_id"]: p for p in report["proposals"]}
    claim_of = {c["text"]: c["id"] for c in report["claims"]}
    dubious_found = corrected = 0
    for d in gold["dubious"]:
        matched = [text for text in claims if _overlaps(text, d["quote"])]
        dubious_found += bool(matched)
        if d["correct"] and any(by_finding.get(claim_of[t], {}).get("replacement", "") and
                                by_finding[claim_of[t]]["replacement"] in d["correct"] for t in matched):
            corrected += 1
    wrongly = sum(any(_overlaps(text, t["quote"]) for text in claims) for t in gold["true_claims"])
    changing = [p for p in report["proposals"] if p["action"] in ("replace", "delete") and p["status"] != "failed"]
    usage = report["usage"]
    return {
        "expected_findings": sum(expected.values()), "found_findings": sum(found.values()), "matched_findings": hits,
        "dubious": len(gold["dubious"]), "dubious_found": dubious_found, "dubious_corrected": corrected,
        "true_claims": len(gold["true_claims"]), "true_claims_flagged": wrongly,
        "statuses": Counter(p["status"] for p in report["proposals"]),
        "changing": len(changing), "verified": sum(p["status"] == VERIFIED for p in changing),
        "requests": usage["requests"], "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"], "errors": len(report["errors"]),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def summarise(model: str, per_article: dict[str, dict[str, Any]], price_in: float, price_out: float) -> dict[str, Any]:
    total: Counter = Counter()
    statuses: Counter = Counter()
    for counts in per_article.values():
        statuses.update(counts["statuses"])
        total.update({k: v for k, v in counts.items() if k != "statuses"})
    cost = (total["prompt_tokens"] * price_in + total["completion_tokens"] * price_out) / 1_000_000
    return {
        "model": model,
        "articles": len(per_article),
        "detection": {"recall": _ratio(total["matched_findings"], total["expected_findings"]),
                      "precision": _ratio(total["matched_findings"], total["found_findings"]),
                      "expected": total["expected_findings"], "found": total["found_findings"],
                      "matched": total["matched_findings"]},
        "dubious": {"recall": _ratio(total["dubious_found"], total["dubious"]), "total": total["dubious"],
                    "found": total["dubious_found"], "corrected": total["dubious_corrected"]},
        "true_claims": {"total": total["true_claims"], "wrongly_flagged": total["true_claims_flagged"]},
        "proposals": {s: statuses.get(s, 0) for s in STATUSES},
        "verified_share": _ratio(total["verified"], total["changing"]),
        "requests": total["requests"], "prompt_tokens": total["prompt_tokens"],
        "completion_tokens": total["completion_tokens"], "cost": round(cost, 6), "errors": total["errors"],
    }


def evaluate(gold_dir: Path, articles: list[Path], settings, models: list[str], *, out_root: Path,
             run_options=None, price_in: float = 0.0, price_out: float = 0.0,
             on_article: Callable[[str, Path], None] | None = None) -> dict[str, Any]:
    """Run every annotated article once per model (``out_root/<model>/<stem>/``) and score each model.

    ``articles`` defaults to the gold files' articles under ``articles/``; an article with no gold
    file is an error, said before any request.
    """
    from .pipeline import RunOptions, run_article

    gold = load_gold(gold_dir)
    chosen = list(articles) or [Path("articles") / name for name in gold]
    missing = [str(a) for a in chosen if a.name not in gold]
    if missing:
        raise GoldError(f"no gold file in {gold_dir} for {', '.join(missing)}; annotate it (schemas/gold.json) "
                        "or leave it out")
    results = []
    for model in models:
        model_settings = dataclasses.replace(settings, model=model)
        options = dataclasses.replace(run_options or RunOptions(), out_root=Path(out_root) / model_folder(model))
        per_article = {}
        for article in chosen:
            if on_article:
                on_article(model, article)
            result = run_article(article, model_settings, options)
            per_article[article.name] = score_article(result.report, gold[article.name])
        summary = summarise(model, per_article, price_in, price_out)
        summary["per_article"] = {name: {**c, "statuses": dict(c["statuses"])} for name, c in per_article.items()}
        results.append(summary)
    return {"version": 1, "gold": str(gold_dir), "prices_per_million": {"input": price_in, "output": price_out},
            "models": results}


def model_folder(model: str) -> str:
    """A folder name for a model's runs: "mistral-small-2.1" as it is, "org/model:7b" -> "org_model_7b"."""
    name = re.sub(r"[^\w.-]", "_", model).strip(".") or "_"
    return name


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def table(result: dict[str, Any]) -> str:
    """One row per model, as plain text."""
    head = ["model", "det. recall", "det. precision", "dubious found", "true flagged", "verified", "copyedit",
            "cleanup", "needs_review", "failed", "verified share", "requests", "tokens in/out", "cost"]
    rows = [head]
    for m in result["models"]:
        p = m["proposals"]
        rows.append([m["model"], _pct(m["detection"]["recall"]), _pct(m["detection"]["precision"]),
                     f"{m['dubious']['found']}/{m['dubious']['total']}",
                     f"{m['true_claims']['wrongly_flagged']}/{m['true_claims']['total']}",
                     str(p["verified"]), str(p["copyedit"]), str(p["cleanup"]), str(p["needs_review"]),
                     str(p["failed"]), _pct(m["verified_share"]), str(m["requests"]),
                     f"{m['prompt_tokens']}/{m['completion_tokens']}", f"{m['cost']:.4f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
