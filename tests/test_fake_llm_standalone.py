"""The fake model runs where pytest is not installed: `python -m tests.fake_llm` and bench/ need it."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from tests.conftest import REPO

# Runs the module as `python -m tests.fake_llm` would, with any `import pytest` failing.
NO_PYTEST = ("import runpy, sys; sys.modules['pytest'] = None; "
             "sys.argv = ['fake_llm', '--auto', '--latency', '0']; "
             "runpy.run_module('tests.fake_llm', run_name='__main__', alter_sys=True)")


def test_the_fake_model_runs_standalone_without_pytest():
    proc = subprocess.Popen([sys.executable, "-c", NO_PYTEST], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            proc.kill()
            raise AssertionError(f"the fake model did not start: {line}{proc.communicate()[1]}")
        models = httpx.get(f"{match.group(1)}/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == ["fake-model"]
    finally:
        proc.terminate()
        proc.wait(5)
