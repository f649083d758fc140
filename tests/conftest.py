"""Shared fixtures: every test runs with its own cache, home and clean environment."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTICLES = REPO / "articles"
SEEDS = sorted(ARTICLES.glob("*.txt"))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test reads the user's settings or writes the user's cache."""
    for name in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL", "REWRITER_MODEL", "REWRITER_CACHE_DIR",
                 "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                 "REWRITER_RAISE_ERRORS", "REWRITER_SEARX_URL", "REWRITER_WIKIPEDIA_URL", "REWRITER_CONTACT",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REWRITER_CACHE_DIR", str(tmp_path / "cache"))
    # No test searches unless it asks to: research would otherwise default on with a model configured.
    monkeypatch.setenv("REWRITER_RESEARCH", "none")
    yield


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Tests talk to servers on 127.0.0.1 only: any other connection fails loudly."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"tests never touch the internet: connection to {host} refused")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
