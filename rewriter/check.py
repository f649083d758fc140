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
from typing import Any, Callable, Iterable

from . import formats
from .detect import detect
from .errors import InputError
from .loader import discover, load, read_bytes, sha256_bytes
from .models import BLOCKING_KINDS, KINDS, CLAIM
from .text import shown_path

# Exit statuses: the article set is clean, unfinished articles remain, or some input was unusable.
CLEAN, BLOCKING, INPUT_ERROR = 0, 1, 2
DETECTOR_KINDS = tuple(k for k in KINDS if k != CLAIM)


def check_article(path: str | os.PathLike, encoding: str = "utf-8",
                  blocking: frozenset[str] = BLOCKING_KINDS) -> dict[str, Any]:
    """Findings and references of one article, or its error, as plain JSON-ready data.

    Each finding says whether it ``blocking``: its kind is one of ``blocking`` (see ``--fail-on``)."""
    path = Path(path)
    try:
        article = load(path, encoding)
    except InputError as exc:
        return {"path": str(path), "sha256": _sha256_or_none(path), "error": str(exc),
                "findings": [], "references": []}
    with _no_cycle_collection():
        detection = detect(article.text)
    findings = [f.to_dict() for f in detection.findings]
    for f in findings:
        f["blocking"] = f["kind"] in blocking
    return {"path": str(path), "sha256": article.sha256, "error": None,
            "findings": findings,
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


def check_paths(paths: Iterable[str | os.PathLike], encoding: str = "utf-8",
                blocking: frozenset[str] = BLOCKING_KINDS) -> dict[str, Any]:
    """Check files and folders (recursively: .txt, .md, .markdown); the document `schemas/check.json` describes."""
    return {"articles": [check_article(p, encoding, blocking) for p in discover(list(paths))]}


def parse_fail_on(value: str) -> frozenset[str]:
    """``--fail-on placeholder,artifact``: the kinds that block; ``none`` for none. ValueError names a bad kind."""
    kinds = {k.strip() for k in value.split(",") if k.strip()}
    if kinds == {"none"}:
        return frozenset()
    unknown = sorted(kinds - set(DETECTOR_KINDS))
    if unknown or not kinds:
        raise ValueError(f"unknown kind {', '.join(unknown) or repr(value)}; choose among "
                         f"{', '.join(DETECTOR_KINDS)}, or none")
    return frozenset(kinds)


def exit_status(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS) -> int:
    """2 if any input failed (it wins: the gate cannot vouch for an unread file), 1 if any
    finding of a ``blocking`` kind remains (placeholder, dangling citation, artifact by default), else 0."""
    articles = report["articles"]
    if any(a["error"] for a in articles):
        return INPUT_ERROR
    if any(f["kind"] in blocking for a in articles for f in a["findings"]):
        return BLOCKING
    return CLEAN


def format_text(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS,
                text_of: Callable[[str], str] | None = None) -> str:
    """``path:line:col: error|warning kind/subtype message`` per finding (``error``: it blocks), then
    a count per kind.

    One record is one line: a path holding a line break or another control character is
    quoted with escapes (see :func:`text.shown_path`); ``--format json`` keeps it as it is.
    """
    lines, counts = [], Counter()
    for article in report["articles"]:
        path = shown_path(article["path"])
        for f in article["findings"]:
            level = "error" if f["kind"] in blocking else "warning"
            lines.append(f"{path}:{f['line']}:{f['column']}: {level} {f['kind']}/{f['subtype']} {f['message']}")
            counts[f["kind"]] += 1
    if lines:
        lines.append("")
    width = max(map(len, DETECTOR_KINDS))
    lines += [f"{kind:<{width}}  {counts[kind]:>5}" for kind in DETECTOR_KINDS]
    checked = sum(not a["error"] for a in report["articles"])
    errors = len(report["articles"]) - checked
    blocks = sum(counts[k] for k in blocking)
    total = sum(counts.values())
    lines.append(f"{total} finding{'s' * (total != 1)} ({blocks} blocking) in {checked} "
                 f"article{'s' * (checked != 1)}" + (f"; {errors} unreadable" if errors else ""))
    return "\n".join(lines)


def format_json(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS,
                text_of: Callable[[str], str] | None = None) -> str:
    import json
    return json.dumps(report, ensure_ascii=False)


# `check --format NAME`: each renderer takes the report, the blocking kinds and a way to read an
# article's text back (for the column units of rdjson and SARIF). Add a format here.
FORMATS: dict[str, Callable[..., str]] = {
    "text": format_text, "json": format_json,
    "github": formats.github, "rdjson": formats.rdjson, "sarif": formats.sarif,
}


def text_reader(encoding: str = "utf-8") -> Callable[[str], str]:
    """``text_of(path)``: an article's decoded text, as detection saw it."""
    return lambda path: load(Path(path), encoding).text


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_bytes(read_bytes(path))
    except InputError:
        return None
