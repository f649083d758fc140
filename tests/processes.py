"""Run `rewriter` as a real process: to signal it, kill it, or run it without root's privileges."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Root ignores file modes; dropping the two capabilities that let it do so makes a
# chmod mean what it says, as it does for everyone else.
UNPRIVILEGED = (["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                 "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rewriter.cli", *args]


def run_unprivileged(cwd: Path, *args: str, input: str = "") -> subprocess.CompletedProcess:
    """`rewriter ARGS` in ``cwd``, bound by file modes even when the tests run as root."""
    if UNPRIVILEGED and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: file modes cannot be made to bind")
    return subprocess.run(UNPRIVILEGED + command(*args), cwd=cwd, input=input, capture_output=True, text=True,
                          timeout=60)


class Rewriter:
    """`rewriter ARGS` running in the background, its stdin a pipe, its output collected as it comes."""

    def __init__(self, cwd: Path, *args: str):
        self.proc = subprocess.Popen(command(*args), cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(4096):
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def type(self, text: str) -> None:
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.output.count(text) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} x{count} never came; output so far:\n{self.output}")
            time.sleep(0.02)

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


def wait_until(condition, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
