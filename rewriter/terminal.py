"""Text from models, articles and servers made safe to show on a terminal.

A model's replacement or rationale, a source's title or quote, a server's model
list: none of it may drive the terminal. Control characters (C0 but tab and
line feed, DEL, C1: ANSI and OSC escapes, a lone carriage return) and the
Unicode bidirectional controls (U+202E and friends, which reverse what follows)
are shown escaped, ``\\x1b`` or ``\\u202e``, so the reader sees that they are there.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
                     "|\r(?!\n)")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control and bidi character escaped; line breaks (LF, CRLF) and tabs kept."""
    return _UNSAFE.sub(_escape, text)
