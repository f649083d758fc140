"""The suite's own guarantees: no internet, no user settings."""

from __future__ import annotations

import os
import socket

import pytest


def test_the_test_suite_cannot_reach_the_internet():
    with pytest.raises(ConnectionRefusedError, match="tests never touch the internet"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_no_key_or_endpoint_leaks_in_from_the_environment(tmp_path):
    assert "MISTRAL_API_KEY" not in os.environ and "OPENAI_API_KEY" not in os.environ
    assert os.environ["REWRITER_CACHE_DIR"] == str(tmp_path / "cache")
