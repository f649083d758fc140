"""Human summaries of reports, as rich tables on stderr."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from .models import KINDS, STATUSES


def run_summary(report: dict[str, Any]) -> Table:
    """Findings per kind, proposals per status, and what the model cost, for one article."""
    table = Table(title=f"rewriter run — {escape(report['article']['path'])}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    kinds = Counter(f["kind"] for f in report["findings"] + report["claims"])
    for kind in KINDS:
        if kinds[kind]:
            table.add_row(f"finding: {kind}", str(kinds[kind]))
    statuses = Counter(p["status"] for p in report["proposals"])
    for status in STATUSES:
        if statuses[status]:
            table.add_row(f"proposal: {status}", str(statuses[status]))
    usage = report["usage"]
    table.add_row("requests", str(usage["requests"]))
    table.add_row("tokens (prompt / completion)", f"{usage['prompt_tokens']} / {usage['completion_tokens']}")
    table.add_row("cache hits", str(usage["cache_hits"]))
    research = report.get("research") or {}
    if research.get("searches") or research.get("pages"):
        read = sum(1 for p in research["pages"] if p["status"] == "read")
        table.add_row(f"research ({', '.join(research['providers'])})",
                      f"{usage.get('searches', 0)} searches, {read} pages read")
    table.add_row("seconds", f"{sum(usage['stages'].values()):.2f}")
    if report["errors"]:
        table.add_row("[red]errors[/red]", f"[red]{len(report['errors'])}[/red]")
    return table


def batch_summary(result) -> Table:
    """One row per article: findings, proposals per status, requests, and the error if any."""
    table = Table(title="rewriter batch", show_header=True)
    for name, justify in (("article", "left"), ("findings", "right"), ("proposals", "left"),
                          ("requests", "right"), ("cached", "right"), ("error", "left")):
        table.add_column(name, justify=justify)
    for o in result.outcomes:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(o.statuses.items()))
        table.add_row(escape(Path(o.path).name), str(o.findings), statuses, str(o.requests), str(o.cache_hits),
                      f"[red]{escape(o.error)}[/red]" if o.error else "")
    totals = result.totals()
    table.add_row(f"{len(result.outcomes)} articles", "", "", str(totals["requests"]),
                  str(totals["cache_hits"]), f"{len(result.failed)} failed" if result.failed else "")
    return table
