"""Findings and proposals in the formats CI and code review tools read.

* ``github``: GitHub Actions workflow commands (``::error file=…,line=…::message``), one per
  finding, escaped as actions/toolkit's ``command.ts`` does: ``%``, CR and LF in the message;
  those and ``:`` and ``,`` in properties.
* ``rdjson``: reviewdog's Diagnostic format (``DiagnosticResult``); columns in UTF-8 bytes.
  A run's proposals become suggestions, which reviewdog posts as one-click suggested changes.
* ``sarif``: SARIF 2.1.0 with what GitHub code scanning requires; columns in UTF-16 code units.

Every renderer takes the ``check`` document (schemas/check.json), the set of blocking kinds and
``text_of(path)``, which gives an article's decoded text for the unit conversions.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from . import __version__
from .models import LineIndex

TOOL = "rewriter"   # no home page is named: the project publishes none yet
TextOf = Callable[[str], str]


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _findings(report: dict[str, Any]) -> Iterable[tuple[dict, dict]]:
    for article in report["articles"]:
        for f in article["findings"]:
            yield article, f


class Columns:
    """Columns of one text in UTF-8 bytes or UTF-16 code units, from character offsets."""

    def __init__(self, text: str) -> None:
        self.text, self.lines = text, LineIndex(text)

    def _prefix(self, offset: int) -> tuple[int, str]:
        line, column = self.lines.line_col(offset)
        return line, self.text[offset - column + 1:offset]

    def utf8(self, offset: int) -> tuple[int, int]:
        line, prefix = self._prefix(offset)
        return line, len(prefix.encode("utf-8")) + 1

    def utf16(self, offset: int) -> tuple[int, int]:
        line, prefix = self._prefix(offset)
        return line, len(prefix.encode("utf-16-le")) // 2 + 1


def github(report: dict[str, Any], blocking: frozenset[str], text_of: TextOf) -> str:
    lines = []
    for article, f in _findings(report):
        command = "error" if f["kind"] in blocking else "warning"
        props = {"file": article["path"], "line": f["line"], "col": f["column"],
                 "endLine": f["end_line"], "endColumn": f["end_column"], "title": f"{f['kind']}/{f['subtype']}"}
        head = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
        lines.append(f"::{command} {head}::{escape_data(f['message'])}")
    for article in report["articles"]:
        if article["error"]:
            lines.append(f"::error file={escape_property(article['path'])}::{escape_data(article['error'])}")
    return "\n".join(lines)


def _rd_range(columns: Columns, start: int, end: int) -> dict[str, Any]:
    (sl, sc), (el, ec) = columns.utf8(start), columns.utf8(end)
    return {"start": {"line": sl, "column": sc}, "end": {"line": el, "column": ec}}


def rd_diagnostic(path: str, columns: Columns, f: dict[str, Any], severity: str, message: str,
                  suggestion: str | None = None) -> dict[str, Any]:
    where = _rd_range(columns, f["start"], f["end"])
    diagnostic = {"message": message, "location": {"path": path, "range": where}, "severity": severity,
                  "code": {"value": f"{f['kind']}/{f['subtype']}"}}
    if suggestion is not None:
        diagnostic["suggestions"] = [{"range": where, "text": suggestion}]
    return diagnostic


def rd_result(diagnostics: list[dict[str, Any]]) -> str:
    return json.dumps({"source": {"name": TOOL}, "diagnostics": diagnostics},
                      ensure_ascii=False)


def rdjson(report: dict[str, Any], blocking: frozenset[str], text_of: TextOf) -> str:
    diagnostics, columns = [], {}
    for article, f in _findings(report):
        path = article["path"]
        if path not in columns:
            columns[path] = Columns(text_of(path))
        diagnostics.append(rd_diagnostic(path, columns[path], f, "ERROR" if f["kind"] in blocking else "WARNING",
                                         f["message"]))
    return rd_result(diagnostics)


def sarif(report: dict[str, Any], blocking: frozenset[str], text_of: TextOf) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results, columns = [], {}
    for article, f in _findings(report):
        path = article["path"]
        if path not in columns:
            columns[path] = Columns(text_of(path))
        rule = f"{f['kind']}/{f['subtype']}"
        rules.setdefault(rule, {"id": rule, "name": rule.replace("/", "_"),
                                "shortDescription": {"text": f"{f['kind'].replace('_', ' ')}: {f['subtype']}"}})
        (sl, sc), (el, ec) = columns[path].utf16(f["start"]), columns[path].utf16(f["end"])
        results.append({
            "ruleId": rule, "ruleIndex": list(rules).index(rule),
            "level": "error" if f["kind"] in blocking else "warning",
            "message": {"text": f["message"]},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec,
                           "snippet": {"text": f["text"]}}}}],
            "partialFingerprints": {"rewriterFinding/v1": f["id"]}})
    log = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": TOOL, "version": __version__, "rules": list(rules.values())}},
                     "columnKind": "utf16CodeUnits", "results": results}]}
    return json.dumps(log, ensure_ascii=False)


def _uri(path: str) -> str:
    """A URI relative to the checkout (``%SRCROOT%``: where CI runs check), as code scanning wants."""
    import os
    from urllib.parse import quote
    if os.path.isabs(path):
        try:
            relative = os.path.relpath(path)
        except ValueError:   # another drive on Windows
            relative = path
        path = path if relative.startswith("..") else relative
    return quote(path.replace("\\", "/").removeprefix("./"))


def run_suggestions(path: str, text: str, findings: dict, proposals: Iterable) -> str:
    """A run's text-changing proposals as reviewdog suggestions on the article (rdjson)."""
    columns, diagnostics = Columns(text), []
    for p in proposals:
        f = findings.get(p.finding_id)
        if f is None or not p.changes_text:
            continue
        new = "" if p.action == "delete" else p.replacement
        why = " ".join((p.rationale or "").split())
        source = next((s.url for s in p.sources if s.url), "")
        message = f"{f.kind}/{f.subtype}: {p.status}, confidence {p.confidence:.2f}" + (f" — {why}" if why else "") \
            + (f" (source: {source})" if source else "")
        diagnostics.append(rd_diagnostic(path, columns, f.to_dict(), "INFO" if p.status == "verified" else "WARNING",
                                         message, new))
    return rd_result(diagnostics)
