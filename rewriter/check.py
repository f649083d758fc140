"""`rewriter check`: run the detectors over articles and report like a linter.

A file that cannot be read or decoded is reported with its error and the
others are still checked, so one bad file never hides the state of the rest.
"""

from __future__ import annotations

import gc
import json
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

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
    return {"articles": list(check_files(discover(list(paths)), encoding))}


def check_files(files: Iterable[Path], encoding: str = "utf-8") -> Iterator[dict[str, Any]]:
    """:func:`check_article` of each file, one at a time: ``rewriter check`` writes each article's
    results before reading the next, so its memory does not grow with the number of files."""
    for path in files:
        yield check_article(path, encoding)


class Gate:
    """What the exit status and the closing counts need, gathered article by article."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.checked = 0
        self.unreadable = 0

    def add(self, article: dict[str, Any]) -> dict[str, Any]:
        if article["error"]:
            self.unreadable += 1
        else:
            self.checked += 1
        self.counts.update(f["kind"] for f in article["findings"])
        return article

    def watch(self, articles: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``articles`` unchanged, each one counted as it goes by."""
        return map(self.add, articles)

    @property
    def status(self) -> int:
        """2 if any input failed (it wins: the gate cannot vouch for an unread file), 1 if any
        placeholder, dangling citation or artifact remains, else 0."""
        if self.unreadable:
            return INPUT_ERROR
        if any(self.counts[k] for k in BLOCKING_KINDS):
            return BLOCKING
        return CLEAN


def exit_status(report: dict[str, Any]) -> int:
    """:attr:`Gate.status` of a whole report."""
    gate = Gate()
    for article in report["articles"]:
        gate.add(article)
    return gate.status


def format_text(report: dict[str, Any]) -> str:
    """``path:line:col: kind/subtype message`` per finding, then a count per kind."""
    return "\n".join(text_lines(report["articles"]))


def text_lines(articles: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The lines of :func:`format_text`, each article's as soon as it is checked.

    One record is one line: a path holding a line break or another control character is
    quoted with escapes (see :func:`text.shown_path`); ``--format json`` keeps it as it is.
    """
    gate = Gate()
    for article in gate.watch(articles):
        path = shown_path(article["path"])
        for f in article["findings"]:
            yield f"{path}:{f['line']}:{f['column']}: {f['kind']}/{f['subtype']} {f['message']}"
    counts = gate.counts
    total = sum(counts.values())
    if total:
        yield ""
    width = max(map(len, DETECTOR_KINDS))
    yield from (f"{kind:<{width}}  {counts[kind]:>5}" for kind in DETECTOR_KINDS)
    blocking = sum(counts[k] for k in BLOCKING_KINDS)
    yield (f"{total} finding{'s' * (total != 1)} ({blocking} blocking) in {gate.checked} "
           f"article{'s' * (gate.checked != 1)}" + (f"; {gate.unreadable} unreadable" if gate.unreadable else ""))


def json_pieces(articles: Iterable[dict[str, Any]]) -> Iterator[str]:
    """``json.dumps({"articles": list(articles)}, ensure_ascii=False)`` in pieces, one per article,
    so the document is written without holding every article's results."""
    yield '{"articles": ['
    for i, article in enumerate(articles):
        yield (", " if i else "") + json.dumps(article, ensure_ascii=False)
    yield "]}"


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_bytes(read_bytes(path))
    except InputError:
        return None
