"""A web server on 127.0.0.1 for the evidence tests: serves tests/pages/ and a few misbehaving routes.

Import the ``pages`` fixture into a test module; ``pages.url("/x")`` is the full URL and
``pages.requests`` lists every request received (path and headers). Misbehaving routes: ``/big``,
``/slow``, ``/slow-loris`` (a byte every 0.2 s), ``/hang`` (headers, then nothing), ``/moved``,
``/loop``, ``/slow-redirect``, ``/to-localhost``, ``/redirect-to/<URL>``, ``/report.pdf``, ``/empty.html``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parent / "pages"
TYPES = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}


@dataclass
class Served:
    base: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(served: Served):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status: int, content_type: str | None, body: bytes, headers: dict | None = None):
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            served.requests.append((self.path, dict(self.headers)))
            path = self.path.split("?", 1)[0]
            if path == "/report.pdf":
                return self._send(200, "application/pdf", b"%PDF-1.4 not text")
            if path == "/big":
                return self._send(200, "text/html", b"<p>" + b"x" * 2_100_000 + b"</p>")
            if path == "/slow":
                time.sleep(1.5)
                return self._send(200, "text/plain", b"too late")
            if path == "/moved":
                return self._send(302, None, b"", {"Location": "/insee-chomage.html"})
            if path == "/to-localhost":   # the same server under a name that resolves to loopback
                port = self.server.server_address[1]
                return self._send(302, None, b"", {"Location": f"http://localhost:{port}/insee-chomage.html"})
            if path == "/loop":
                return self._send(302, None, b"", {"Location": "/loop"})
            if path == "/slow-redirect":      # each hop takes 0.4 s: five of them outlast a 1 s deadline
                time.sleep(0.4)
                return self._send(302, None, b"", {"Location": "/slow-redirect"})
            if path in ("/slow-loris", "/hang"):
                return self._dribble(every=0.2 if path == "/slow-loris" else 60.0)
            if path == "/empty.html":
                return self._send(200, "text/html", b"<html><body><script>var x = 1;</script></body></html>")
            if path.startswith("/redirect-to/"):   # /redirect-to/<absolute URL>
                return self._send(302, None, b"", {"Location": self.path[len("/redirect-to/"):]})
            file = (PAGES / path.lstrip("/")).resolve()
            if PAGES in file.parents and file.is_file() and file.suffix in TYPES:
                return self._send(200, TYPES[file.suffix], file.read_bytes())
            return self._send(404, "text/html", b"<h1>Not found</h1>")

        def _dribble(self, every: float, size: int = 200):
            """Headers at once, then one byte of body every ``every`` seconds (slow-loris)."""
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                for _ in range(size):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(every)
            except OSError:
                pass          # the client gave up, as it should

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass    # clients that give up early (size cap, timeout) are what some tests are about


@pytest.fixture
def pages():
    served = Served(base="")
    server = _Server(("127.0.0.1", 0), _handler(served))
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
