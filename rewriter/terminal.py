"""Text from models, articles and servers made safe to show on a terminal.

A model's replacement or rationale, a source's title or quote, a server's model
list: none of it may drive the terminal. Control characters (C0 but tab and
line feed, DEL, C1: ANSI and OSC escapes, a lone carriage return) and the
Unicode bidirectional controls (U+202E and friends, which reverse what follows)
are shown escaped, ``\\x1b`` or ``\\u202e``, so the reader sees that they are there.
"""

from __future__ import annotations

import re
import sys

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
                     "|\r(?!\n)")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control and bidi character escaped; line breaks (LF, CRLF) and tabs kept."""
    return _UNSAFE.sub(_escape, text)


_MARK = re.compile(r"\[-.*?-\]|\{\+.*?\+\}", re.S)


def marked(line: str):
    """A rich Text of a review line: ``[-deleted-]`` red, ``{+inserted+}`` green, markers kept
    (so the line reads the same without colour)."""
    from rich.text import Text
    text, at = Text(), 0
    for m in _MARK.finditer(line):
        text.append(line[at:m.start()])
        text.append(m.group(), style="red strike" if m.group().startswith("[-") else "green bold")
        at = m.end()
    text.append(line[at:])
    return text


def review_printer(console=None):
    """``show(line)`` for the terminal review: escaped, coloured on a terminal (rich honours
    ``NO_COLOR`` and plain pipes), wrapped at word boundaries to the terminal's width. A change
    marker sticks to its words (``[-old``, ``new+}``), so no marker is ever split."""
    from rich.console import Console
    console = console or Console(highlight=False)

    def show(line: str) -> None:
        safe = printable(line)
        if not console.is_terminal:
            console.file.write(safe + "\n")
            return
        console.print(marked(safe), overflow="fold", no_wrap=False)
    return show


def text_editor():
    """``edit(text)`` for the review's ``e``: ``$VISUAL`` or ``$EDITOR`` on a temporary file, None when
    the text comes back unchanged. Neither set: None here, so the review asks on one line, with
    readline's arrows and history when the input is a terminal."""
    import os
    if not (os.environ.get("VISUAL") or os.environ.get("EDITOR")):
        if sys.stdin.isatty():
            try:
                import readline  # noqa: F401  (input() then edits with arrows and keeps a history)
            except ImportError:
                pass
        return None

    def edit(text: str) -> str | None:
        import click
        new = click.edit(text + "\n", extension=".txt", require_save=False)
        if new is None:
            return None
        new = new[:-1] if new.endswith("\n") else new
        return None if new == text else new
    return edit
