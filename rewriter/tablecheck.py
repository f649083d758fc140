"""Broken tables rebuilt as Markdown, and the cell-by-cell check that a rebuild only reformats.

A table whose column separators were lost ("Licences Open source Propriétaire …") can only be
split into cells by someone who reads the language, so the model proposes the Markdown table; the
check here holds it to the original text: each Markdown row has the words of its original line, in
the same order, and nothing else. That is a formatting change, which needs no source (status
``reformat``). One word altered, added or dropped, a row merged or split, and it is refused.

Offline, a table whose columns are unambiguous (tabs, or runs of two or more spaces) is rebuilt by
rule: :func:`rebuild`.
"""

from __future__ import annotations

import re

from .models import LINE_BREAK

_SEPARATOR_CELL = re.compile(r":?-{3,}:?")
_UNAMBIGUOUS = re.compile(r"\t+| {2,}")


def _break(text: str) -> str:
    found = LINE_BREAK.search(text)
    return found.group(0) if found else "\n"


def rows_of(text: str) -> list[str]:
    """The non-blank lines of ``text``, stripped."""
    return [line.strip() for line in LINE_BREAK.split(text) if line.strip()]


def _cells(row: str) -> list[str]:
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def parse_markdown_table(table: str) -> tuple[list[list[str]], str | None]:
    """The rows of cells of a Markdown table (separator row left out), or ``[]`` and why it is not one."""
    lines = rows_of(table)
    if len(lines) < 2:
        return [], "a Markdown table needs a header row and a separator row"
    stray = [line for line in lines if not line.startswith("|")]
    if stray:
        return [], f"the replacement holds text outside the table ({stray[0]!r}): a rebuild is the table only"
    cells = [_cells(line) for line in lines]
    if not all(_SEPARATOR_CELL.fullmatch(c) for c in cells[1]):
        return [], "the second row of a Markdown table must be its separator (|---|---|)"
    rows = [cells[0], *cells[2:]]
    widths = {len(r) for r in rows} | {len(cells[1])}
    if len(widths) != 1 or len(rows[0]) < 2:
        return [], f"every row must have the same number of cells (two or more); found {sorted(widths)}"
    if any(all(_SEPARATOR_CELL.fullmatch(c) for c in r) for r in rows[1:]):
        return [], "a second separator row inside the table"
    return rows, None


def markdown_table(rows: list[list[str]], line_break: str = "\n") -> str:
    """``rows`` (the first one the header) as a Markdown table, pipes in cells escaped."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return line_break.join([line(rows[0]), "|" + "---|" * len(rows[0]), *(line(r) for r in rows[1:])])


def cell_problem(original: str, proposed: str) -> str | None:
    """Why the Markdown table ``proposed`` is not exactly the table ``original`` reformatted, or ``None``.

    Row by row, the words of the cells (split on whitespace) must be the words of the original
    line, in the same order; a different number of rows, or one word altered, added or dropped, is
    a problem, named with its row.
    """
    rows, why = parse_markdown_table(proposed)
    if why:
        return why
    lines = rows_of(original)
    if len(rows) != len(lines):
        return f"the table has {len(rows)} rows and the original text {len(lines)}: rows were merged, split, added or dropped"
    for n, (cells, line) in enumerate(zip(rows, lines), 1):
        got, want = " ".join(cells).split(), line.split()
        if got == want:
            continue
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return f"row {n}: word {i + 1} is {g!r} in the table and {w!r} in the original text"
        if len(got) > len(want):
            return f"row {n}: the table adds {' '.join(got[len(want):])!r}"
        return f"row {n}: the table drops {' '.join(want[len(got):])!r}"
    return None


def rebuild(original: str) -> str | None:
    """The Markdown table of ``original`` when its columns are unambiguous (every row split by tabs
    or runs of two or more spaces into the same number of cells, two or more), else ``None``."""
    lines = rows_of(original)
    rows = [_UNAMBIGUOUS.split(line) for line in lines]
    if len(rows) < 2 or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
        return None
    return markdown_table(rows, _break(original))
