"""`rewriter check`: run the detectors over articles and report like a linter.

A file that cannot be read or decoded is reported with its error and the
others are still checked, so one bad file never hides the state of the rest.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

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
    return {"articles": list(check_files(discover(list(paths)), encoding, blocking))}


def check_files(files: Iterable[Path], encoding: str = "utf-8",
                blocking: frozenset[str] = BLOCKING_KINDS) -> Iterator[dict[str, Any]]:
    """:func:`check_article` of each file, one at a time: ``rewriter check`` writes each article's
    results before reading the next, so its memory does not grow with the number of files."""
    for path in files:
        yield check_article(path, encoding, blocking)


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


class Gate:
    """What the exit status and the closing counts need, gathered article by article."""

    def __init__(self, blocking: frozenset[str] = BLOCKING_KINDS) -> None:
        self.blocking = blocking
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
        """2 if any input failed (it wins: the gate cannot vouch for an unread file), 1 if any finding
        of a blocking kind remains (placeholder, dangling citation, artifact by default), else 0."""
        if self.unreadable:
            return INPUT_ERROR
        if any(self.counts[k] for k in self.blocking):
            return BLOCKING
        return CLEAN


def exit_status(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS) -> int:
    """:attr:`Gate.status` of a whole report."""
    gate = Gate(blocking)
    for article in report["articles"]:
        gate.add(article)
    return gate.status


def format_text(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS,
                text_of: Callable[[str], str] | None = None) -> str:
    """``path:line:col: error|warning kind/subtype message`` per finding (``error``: it blocks), then
    a count per kind."""
    return "\n".join(text_lines(report["articles"], blocking))


def text_lines(articles: Iterable[dict[str, Any]], blocking: frozenset[str] = BLOCKING_KINDS) -> Iterator[str]:
    """The lines of :func:`format_text`, each article's as soon as it is checked.

    One record is one line: a path holding a line break or another control character is
    quoted with escapes (see :func:`text.shown_path`); ``--format json`` keeps it as it is.
    """
    gate = Gate(blocking)
    for article in gate.watch(articles):
        path = shown_path(article["path"])
        for f in article["findings"]:
            level = "error" if f["kind"] in blocking else "warning"
            yield f"{path}:{f['line']}:{f['column']}: {level} {f['kind']}/{f['subtype']} {f['message']}"
    counts = gate.counts
    total = sum(counts.values())
    if total:
        yield ""
    width = max(map(len, DETECTOR_KINDS))
    yield from (f"{kind:<{width}}  {counts[kind]:>5}" for kind in DETECTOR_KINDS)
    blocks = sum(counts[k] for k in blocking)
    yield (f"{total} finding{'s' * (total != 1)} ({blocks} blocking) in {gate.checked} "
           f"article{'s' * (gate.checked != 1)}" + (f"; {gate.unreadable} unreadable" if gate.unreadable else ""))


def json_pieces(articles: Iterable[dict[str, Any]]) -> Iterator[str]:
    """``json.dumps({"articles": list(articles)}, ensure_ascii=False)`` in pieces, one per article,
    so the document is written without holding every article's results."""
    yield '{"articles": ['
    for i, article in enumerate(articles):
        yield (", " if i else "") + json.dumps(article, ensure_ascii=False)
    yield "]}"


def format_json(report: dict[str, Any], blocking: frozenset[str] = BLOCKING_KINDS,
                text_of: Callable[[str], str] | None = None) -> str:
    return "".join(json_pieces(report["articles"]))


# `check --format NAME`: each renderer takes the report, the blocking kinds and a way to read an
# article's text back (for the column units of rdjson and SARIF). Add a format here. text and json
# are also written article by article (STREAMED), so their memory stays flat over any number of files.
FORMATS: dict[str, Callable[..., str]] = {
    "text": format_text, "json": format_json,
    "github": formats.github, "rdjson": formats.rdjson, "sarif": formats.sarif,
}
STREAMED: dict[str, Callable[..., Iterator[str]]] = {
    "text": lambda articles, blocking: (line + "\n" for line in text_lines(articles, blocking)),
    "json": lambda articles, blocking: itertools.chain(json_pieces(articles), ["\n"]),
}


def text_reader(encoding: str = "utf-8") -> Callable[[str], str]:
    """``text_of(path)``: an article's decoded text, as detection saw it."""
    return lambda path: load(Path(path), encoding).text


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_bytes(read_bytes(path))
    except InputError:
        return None
