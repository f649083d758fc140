"""`rewriter check`: run the detectors over articles and report like a linter.

A file that cannot be read or decoded is reported with its error and the
others are still checked, so one bad file never hides the state of the rest.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

from .detect import detect
from .errors import InputError
from .loader import discover, load, read_bytes, sha256_bytes
from .models import BLOCKING_KINDS, KINDS, CLAIM
from .text import shown_path

# Exit statuses: the article set is clean, unfinished articles remain, or some input was unusable.
CLEAN, BLOCKING, INPUT_ERROR = 0, 1, 2
DETECTOR_KINDS = tuple(k for k in KINDS if k != CLAIM)


def check_article(path: str | os.PathLike, encoding: str = "utf-8") -> dict[str, Any]:
    """Findings and references of one article, or its error, as plain JSON-ready data."""
    path = Path(path)
    try:
        article = load(path, encoding)
    except InputError as exc:
        return {"path": str(path), "sha256": _sha256_or_none(path), "error": str(exc),
                "findings": [], "references": []}
    with _no_cycle_collection():
        detection = detect(article.text)
    return {"path": str(path), "sha256": article.sha256, "error": None,
            "findings": [f.to_dict() for f in detection.findings],
            "references": [r.to_dict() for r in detection.references]}


@contextmanager
def _no_cycle_collection():
    """Detection allocates findings by the ten thousand and makes no reference cycles, so the cycle
    collector's passes over them are pure cost (40 % of a 50 MB check): held off for one article."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check_paths(paths: Iterable[str | os.PathLike], encoding: str = "utf-8") -> dict[str, Any]:
    """Check files and folders (recursively: .txt, .md, .markdown); the document `schemas/check.json` describes."""
    return {"articles": [check_article(p, encoding) for p in discover(list(paths))]}


def exit_status(report: dict[str, Any]) -> int:
    """2 if any input failed (it wins: the gate cannot vouch for an unread file), 1 if any
    placeholder, dangling citation or artifact remains, else 0."""
    articles = report["articles"]
    if any(a["error"] for a in articles):
        return INPUT_ERROR
    if any(f["kind"] in BLOCKING_KINDS for a in articles for f in a["findings"]):
        return BLOCKING
    return CLEAN


def format_text(report: dict[str, Any]) -> str:
    """``path:line:col: kind/subtype message`` per finding, then a count per kind.

    One record is one line: a path holding a line break or another control character is
    quoted with escapes (see :func:`text.shown_path`); ``--format json`` keeps it as it is.
    """
    lines, counts = [], Counter()
    for article in report["articles"]:
        path = shown_path(article["path"])
        for f in article["findings"]:
            lines.append(f"{path}:{f['line']}:{f['column']}: {f['kind']}/{f['subtype']} {f['message']}")
            counts[f["kind"]] += 1
    if lines:
        lines.append("")
    width = max(map(len, DETECTOR_KINDS))
    lines += [f"{kind:<{width}}  {counts[kind]:>5}" for kind in DETECTOR_KINDS]
    checked = sum(not a["error"] for a in report["articles"])
    errors = len(report["articles"]) - checked
    blocking = sum(counts[k] for k in BLOCKING_KINDS)
    total = sum(counts.values())
    lines.append(f"{total} finding{'s' * (total != 1)} ({blocking} blocking) in {checked} "
                 f"article{'s' * (checked != 1)}" + (f"; {errors} unreadable" if errors else ""))
    return "\n".join(lines)


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_bytes(read_bytes(path))
    except InputError:
        return None
