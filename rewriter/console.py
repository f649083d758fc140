"""All printing goes through here: data on stdout, progress and status on stderr.

Tests capture both through click's runner, since the consoles look up
``sys.stdout`` / ``sys.stderr`` at write time.
"""

from __future__ import annotations

import sys

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)


def out(text: str = "", *, nl: bool = True) -> None:
    """Write data to stdout, unstyled, exactly as given."""
    sys.stdout.write(text + ("\n" if nl else ""))


def status(message: str, *, style: str | None = None) -> None:
    """One status line on stderr."""
    err.print(message, style=style, markup=False)


def warn(message: str) -> None:
    err.print(message, style="yellow", markup=False)
