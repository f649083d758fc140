"""rewriter.fetch: the address policy held by the connection itself, bounded downloads, the page cache.

Each attack of issue 9 (items 8, 9, 16, 17) is reproduced here against a real server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import socket
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rewriter import fetch
from rewriter.cache import JsonStore
from rewriter.fetch import FetchError, Page, fetch_page, fetch_pages
from tests.served import PAGES, pages  # noqa: F401  (fixture)

PUBLIC = "93.184.216.34"


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket tried to connect to (the no_internet fixture still refuses non-loopback ones)."""
    seen: list[str] = []
    patched = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            seen.append(address[0])
        return patched(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.fixture
def store(tmp_path):
    s = JsonStore(tmp_path / "fetch", "page")
    yield s
    s.close()


# ---------------------------------------------------------------- a page, as read

def test_a_page_carries_its_size_hash_status_date_and_tables_as_rows(pages):
    page = fetch_page(pages.url("/table.html"), allow_private=True)
    body = (PAGES / "table.html").read_bytes()
    assert (page.status, page.content_type, page.bytes, page.cached) == (200, "text/html", len(body), False)
    assert page.sha256 == hashlib.sha256(body).hexdigest()
    assert page.url == page.final_url == pages.url("/table.html")
    assert page.title == "Mistral AI : chiffres clés"
    assert page.date == "2024-06-12"
    lines = page.text.splitlines()
    assert "Mixtral 8x7B | 46,7 milliards | décembre 2023" in lines      # a figure in a table can be quoted
    assert not any(set(line) <= set("|- ") for line in lines)            # no markdown rule lines
    assert "Mentions légales" not in page.text
    [(_, headers)] = pages.requests
    assert headers["User-Agent"] == fetch.USER_AGENT


def test_the_final_url_follows_redirects(pages):
    page = fetch_page(pages.url("/moved"), allow_private=True)
    assert page.url == pages.url("/moved") and page.final_url == pages.url("/insee-chomage.html")


def test_fetch_pages_keeps_order_and_turns_failures_into_errors(pages):
    urls = [pages.url("/note.txt"), pages.url("/missing.html"), "http://0177.0.0.1/", pages.url("/table.html")]
    note, missing, odd, table = fetch_pages(urls, concurrency=4, allow_private=True)
    assert isinstance(note, Page) and note.text.startswith("Communiqué du ministère du Travail")
    assert isinstance(missing, FetchError) and str(missing) == "HTTP 404"
    assert isinstance(odd, FetchError)
    assert isinstance(table, Page) and table.title == "Mistral AI : chiffres clés"


# ---------------------------------------------------------------- item 8: DNS rebinding

def test_dns_rebinding_on_the_first_request_never_reaches_loopback(pages, connects, monkeypatch):
    # The system resolver answers a public address first, then loopback: the attack of item 8.
    port = int(pages.base.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter([PUBLIC, "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def getaddrinfo(host, *args, **kwargs):
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(FetchError) as caught:
        fetch_page(f"http://rebind.test:{port}/note.txt")
    assert connects == [PUBLIC]                 # the connection went to the address that was checked
    assert pages.requests == []                 # and nothing reached the loopback server
    assert PUBLIC in str(caught.value)


def test_dns_rebinding_on_a_redirect_connects_to_the_checked_address(pages, connects, monkeypatch):
    # 127.0.0.1 stands for a public site here; rebind.test answers public, then private.
    monkeypatch.setattr(fetch, "is_public_address", lambda address: address in ("127.0.0.1", PUBLIC))
    port = int(pages.base.rsplit(":", 1)[1])
    answers = {"127.0.0.1": iter([["127.0.0.1"]] * 3), "rebind.test": iter([[PUBLIC], ["10.0.0.1"], ["10.0.0.1"]])}
    asked: list[str] = []

    def resolve(host):
        asked.append(host)
        return next(answers[host])

    with pytest.raises(FetchError):
        fetch_page(pages.url(f"/redirect-to/http://rebind.test:{port}/note.txt"), resolve=resolve)
    assert asked == ["127.0.0.1", "rebind.test"]           # one resolution per connection
    assert connects == ["127.0.0.1", PUBLIC]               # never 10.0.0.1
    assert [path for path, _ in pages.requests] == [f"/redirect-to/http://rebind.test:{port}/note.txt"]


def test_a_host_with_one_private_address_among_public_ones_is_refused_before_connecting(connects):
    with pytest.raises(FetchError, match=r"^refused: mixed\.test resolves to a private"):
        fetch_page("https://mixed.test/", resolve=lambda host: [PUBLIC, "10.0.0.1"])
    assert connects == []


def test_tls_names_the_host_not_the_address_it_connects_to():
    # A TCP server that keeps the first bytes it gets: the TLS ClientHello, whose SNI must be the host name.
    import ssl
    import threading

    received: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def accept():
            conn, _ = server.accept()
            with conn:
                received.append(conn.recv(4096))

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with pytest.raises(FetchError) as caught:
            fetch_page(f"https://site.test:{port}/note.txt", allow_private=True, total_seconds=2,
                       resolve=lambda host: ["127.0.0.1"])
        thread.join(timeout=2)
    assert received and received[0][:1] == b"\x16"          # a TLS handshake record
    assert b"site.test" in received[0]                       # SNI: the host name, though 127.0.0.1 was dialled
    context = fetch._ssl_context()
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- item 9: the cache keeps the policy

def test_a_page_fetched_with_fetch_private_is_not_served_from_the_cache_without_it(pages, store):
    url = pages.url("/note.txt")
    first = fetch_page(url, allow_private=True, store=store)
    again = fetch_page(url, allow_private=True, store=store)
    assert (first.cached, again.cached, again.text) == (False, True, first.text)
    assert pages.hits("/note.txt") == 1
    with pytest.raises(FetchError, match="^refused: 127.0.0.1 resolves to a private"):
        fetch_page(url, store=store)
    assert pages.hits("/note.txt") == 1          # refused before any request, and not served from the cache


def test_a_page_read_from_public_addresses_is_served_from_the_cache_to_everyone(pages, store, monkeypatch):
    url = pages.url("/note.txt")
    with monkeypatch.context() as m:
        m.setattr(fetch, "is_public_address", lambda address: True)
        fetch_page(url, store=store)
    assert fetch_page(url, store=store).cached
    assert pages.hits("/note.txt") == 1


def test_cache_entries_of_another_shape_are_refetched(pages, store):
    url = pages.url("/note.txt")
    store.set(f"page:{fetch.url_key(url)}", {"title": "", "text": "served from an old cache"})   # no policy recorded
    page = fetch_page(url, allow_private=True, store=store)
    assert not page.cached and "served from an old cache" not in page.text


# ---------------------------------------------------------------- item 16: every failure is a FetchError

@pytest.mark.parametrize("url", ["http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://[::1/", "http://host:99999/",
                                 "http://exa mple.org/", "ftp://example.org/", "http://xn--a.test/", "http:///path",
                                 "https://ex\u200bample.org/", "http://a..b/", "http://" + "a" * 300 + ".test/"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_odd_urls_end_as_a_reason_not_a_traceback(url, allow_private):
    with pytest.raises(FetchError) as caught:
        fetch_page(url, allow_private=allow_private, resolve=lambda host: ["127.0.0.2"] if allow_private else [PUBLIC])
    assert str(caught.value) and "\n" not in str(caught.value)


_HOSTS = st.one_of(
    st.sampled_from(["0177.0.0.1", "0x7f.1", "2130706433", "127.1", "[::ffff:127.0.0.1]", "[fe80::1%25eth0]",
                     "%31%32%37.0.0.1", "ß.test", "xn--zz.test", "a_b.test", "-a.test", "", "[]", "user:pw@h.test",
                     "h.test:", "h.test:0", "h.test:-1", "h.test:65536", "\u202etest"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1:6379/_INFO"])
def test_a_redirect_out_of_http_is_refused_with_its_reason(pages, target):
    with pytest.raises(FetchError, match=r"^redirected to a URL that is not http\(s\)"):
        fetch_page(pages.url(f"/redirect-to/{target}"), allow_private=True)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "", "javascript"]), host=_HOSTS,
       path=st.text(max_size=20), allow_private=st.booleans())
def test_fuzz_every_fetch_failure_is_a_fetch_error(scheme, host, path, allow_private):
    url = f"{scheme}://{host}/{path}"
    # Every name resolves to a loopback port where nothing listens (or, half the time, to nothing at all).
    try:
        fetch_page(url, allow_private=allow_private, total_seconds=2,
                   resolve=lambda h: ["127.0.0.1"] if len(h) % 2 else [])
    except FetchError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.one_of(st.sampled_from(["//[::1", "http://0177.0.0.1/", "http://:0/", "https://[fe80::1%25x]/",
                                         "http:/note.txt", "///x", "http://%00/", "HTTP://127.0.0.1:1/"]),
                        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), max_size=30)))
def test_fuzz_a_redirect_anywhere_is_a_page_or_a_fetch_error(pages, target):
    from urllib.parse import quote

    try:
        page = fetch_page(pages.url("/redirect-to/" + quote(target, safe=":/[]%@")), allow_private=True,
                          total_seconds=2)
    except FetchError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
    else:
        assert isinstance(page, Page)


# ---------------------------------------------------------------- item 17: one deadline for the whole fetch

def test_a_slow_loris_page_is_cut_off_at_the_deadline(pages):
    # /slow-loris sends its 200-byte body one byte every 0.2 s (40 s in all); each read alone is quick.
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
        fetch_page(pages.url("/slow-loris"), allow_private=True, total_seconds=1.0)
    assert time.monotonic() - start < 2.0


def test_a_page_that_sends_headers_then_nothing_is_cut_off(pages):
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 0.5 s$"):
        fetch_page(pages.url("/hang"), allow_private=True, total_seconds=0.5)
    assert time.monotonic() - start < 1.5


def test_the_deadline_spans_redirects(pages):
    # Each hop of /slow-redirect takes 0.4 s: five of them would be 2 s; the deadline is 1 s in all.
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
        fetch_page(pages.url("/slow-redirect"), allow_private=True, total_seconds=1.0)
    assert time.monotonic() - start < 1.8
    assert 2 <= pages.hits("/slow-redirect") <= 3


def test_the_body_is_read_up_to_max_bytes(pages):
    with pytest.raises(FetchError, match=r"^page too large \(\d[\d,]* bytes; the limit is 100\)$"):
        fetch_page(pages.url("/table.html"), allow_private=True, max_bytes=100)


def test_a_resolver_that_hangs_is_cut_off_at_the_deadline():
    def resolve(host):
        time.sleep(3)
        return [PUBLIC]

    start = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 0.5 s \(resolving slow-dns.test\)$"):
        fetch_page("http://slow-dns.test/", total_seconds=0.5, resolve=resolve)
    assert time.monotonic() - start < 1.5


def test_one_store_serves_parallel_fetches(pages, store):
    urls = [pages.url("/note.txt"), pages.url("/table.html"), pages.url("/insee-chomage.html")] * 3
    first = fetch_pages(urls, concurrency=8, allow_private=True, store=store)
    assert all(isinstance(p, Page) for p in first)
    again = fetch_pages(urls, concurrency=8, allow_private=True, store=store)
    assert all(p.cached for p in again) and [p.sha256 for p in again] == [p.sha256 for p in first]
    assert len(pages.requests) <= len(urls)


def test_gather_does_not_take_a_private_page_from_the_cache_for_a_run_without_fetch_private(pages, tmp_path):
    # Item 9 as it was found: the second run read the page from the cache and could verify a quote with it.
    from rewriter.evidence import gather
    from rewriter.models import Reference
    from rewriter.settings import Settings

    url = pages.url("/insee-chomage.html")
    refs = [Reference(label="1", text=f"[1] {url}", url=url, start=0, end=0, line=1)]
    private = Settings(cache_dir=tmp_path / "cache", fetch_private=True)
    [read] = gather("A.", refs, sources_dir=None, fetch=True, settings=private, evidence_dir=None).documents
    [refused] = gather("A.", refs, sources_dir=None, fetch=True, settings=Settings(cache_dir=tmp_path / "cache"),
                       evidence_dir=None).documents
    assert read.text and "7,5 %" in read.text
    assert refused.text is None and refused.error == "refused: 127.0.0.1 resolves to a private, loopback or link-local address"
    assert pages.hits("/insee-chomage.html") == 1
