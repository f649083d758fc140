"""Vega-Lite specs to SVG and PNG with vl-convert, in a helper process of their own.

vl-convert holds the interpreter (the GIL) while it draws. The first chart of a process starts
its JavaScript engine, 850 ms of CPU on this project's 2 GHz test machine; each later chart takes
40 to 60 ms. In a batch that stalled every article thread meanwhile: no reply read, no request
sent, the model's slots idle. In a process of its own the charts are drawn beside the batch, on
another core, and the article waiting for its chart gives its turn away (rewriter/turns.py).

The helper is ``python -m rewriter.vlrender``, started on the first chart (or earlier, by
:func:`start`, once a run knows it will wait on the model and then draw charts) and kept for the
process's life. It starts its engine first, then reads specs on stdin and answers on stdout, one
at a time, each message a length-prefixed block; it ignores Ctrl-C (the batch it serves decides
what an interrupt means) and ends when its stdin closes. Should it fail to start or die, the chart
is drawn here, in this process, as before: the result is the same bytes either way.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import struct
import subprocess
import sys
import threading
from collections import OrderedDict
from typing import BinaryIO

from .turns import waiting

_LENGTH = struct.Struct(">Q")
_OK, _FAILED = b"0", b"1"


class RenderError(ValueError):
    """vl-convert refused the spec (the helper's message, as vl-convert raised it)."""


def draw(spec_json: str) -> tuple[bytes, bytes]:
    """The SVG and PNG bytes of a spec, drawn in this process (the PNG from the SVG: the same bytes
    as rendering the spec twice, at half the cost)."""
    import vl_convert

    svg_text = vl_convert.vegalite_to_svg(spec_json)
    return svg_text.encode("utf-8"), vl_convert.svg_to_png(svg_text, scale=2)


class _Helper:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(),
                                                                          os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "rewriter.vlrender"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.asked = 0

    def draw(self, spec_json: str) -> tuple[bytes, bytes]:
        self.asked += 1
        _send(self.process.stdin, spec_json.encode("utf-8"))
        status = self.process.stdout.read(1)
        if status == _OK:
            return _receive(self.process.stdout), _receive(self.process.stdout)
        if status == _FAILED:
            raise RenderError(_receive(self.process.stdout).decode("utf-8", "replace"))
        raise OSError("the chart helper ended")

    def close(self) -> None:
        if not self.asked:
            self.process.kill()     # started early and never asked (the run ended first): no need to
                                    # wait for its engine to finish starting
        try:
            self.process.stdin.close()
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


_helper: _Helper | None = None
_broken = False
_lock = threading.Lock()
# The charts drawn last, by spec: articles that reach the same chart while it is being drawn wait
# for it (one at a time, on the lock) and take it from here rather than drawing it again.
_recent: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
RECENT = 32


def svg_and_png(spec_json: str) -> tuple[bytes, bytes]:
    """The SVG and PNG of a spec, drawn by the helper process (started on first use), or here when
    it cannot be had. Raises :class:`RenderError` (or vl-convert's own error, drawn here) for a
    spec vl-convert refuses."""
    with waiting(), _lock:      # a chart is local work done elsewhere: the article's turn goes meanwhile
        drawn = _recent.get(spec_json)
        if drawn is None and not _broken:
            drawn = _by_helper(spec_json)
        if drawn is not None:
            _keep(spec_json, drawn)
            return drawn
    drawn = draw(spec_json)
    with _lock:
        _keep(spec_json, drawn)
    return drawn


def start() -> None:
    """Start the helper now, when charts are due later in this run (vl-convert installed): its
    JavaScript engine starts beside the model's wait instead of when the first chart is asked for.
    A no-op once it runs, has failed, or while a chart is being drawn."""
    global _helper
    if _helper is not None or _broken or importlib.util.find_spec("vl_convert") is None:
        return
    if not _lock.acquire(blocking=False):
        return      # a chart is being drawn: the helper is there already, or being started
    try:
        if _helper is None and not _broken:
            _helper = _Helper()
    except OSError:
        pass        # the first chart will try again, and draw here if it must
    finally:
        _lock.release()


def _by_helper(spec_json: str) -> tuple[bytes, bytes] | None:
    """Drawn by the helper; None once it cannot be had (then charts are drawn here from now on)."""
    global _helper, _broken
    try:
        if _helper is None:
            _helper = _Helper()
        return _helper.draw(spec_json)
    except RenderError:
        raise
    except OSError:
        _broken = True
        if _helper is not None:
            _helper.close()
            _helper = None
        return None


def _keep(spec_json: str, drawn: tuple[bytes, bytes]) -> None:
    _recent[spec_json] = drawn
    _recent.move_to_end(spec_json)
    while len(_recent) > RECENT:
        _recent.popitem(last=False)


def helper_pid() -> int | None:
    """The helper's process id while it runs (tests, benchmarks)."""
    return _helper.process.pid if _helper is not None else None


def close() -> None:
    """Stop the helper (it stops by itself too when this process ends: its stdin closes)."""
    global _helper
    with _lock:
        if _helper is not None:
            _helper.close()
            _helper = None


atexit.register(close)


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _send(stream: BinaryIO, data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> bytes:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise OSError("the chart helper ended")
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise OSError("the chart helper ended")
    return data


# Drawn once when the helper starts, so that its JavaScript engine is running before the first
# real chart comes (see start()).
_WARM_UP = ('{"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "data": {"values": [{"a": 1}]}, '
            '"mark": "bar", "encoding": {"y": {"field": "a", "type": "quantitative"}}}')


def _serve(source: BinaryIO, sink: BinaryIO) -> None:
    """The helper's loop: its engine started, then a spec in, its SVG and PNG out, until stdin closes."""
    try:
        draw(_WARM_UP)
    except Exception:  # noqa: S110 - vl-convert missing or refusing: each real chart says why
        pass
    while True:
        head = source.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return
        spec_json = source.read(_LENGTH.unpack(head)[0]).decode("utf-8")
        try:
            svg, png = draw(spec_json)
        except Exception as exc:  # vl-convert's refusal goes back as it was raised, in words
            sink.write(_FAILED)
            _send(sink, f"{type(exc).__name__}: {exc}".encode("utf-8"))
            continue
        sink.write(_OK)
        _send(sink, svg)
        _send(sink, png)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(sys.stdin.buffer, sys.stdout.buffer)
