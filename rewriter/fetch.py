"""Reading web pages: the address policy, bounded downloads, and the main text of a page.

Every URL that reaches :func:`fetch_page` may come from a model or an article, so:

- **the address policy**: unless ``allow_private``, every address a host resolves to must be public
  (not loopback, private, link-local, multicast, reserved or unspecified). The check is made by
  the connection itself (:class:`_GuardedBackend`): the host is resolved once, the addresses are
  checked, and the socket is opened to one of *those* addresses, for the first request and for
  every redirect, so a name that resolves to a public address for the check and to 127.0.0.1 for
  the connection (DNS rebinding) cannot reach loopback. TLS is still verified against the host
  name (SNI and certificate), because the URL itself is not rewritten. Proxies from the
  environment are not used: a proxy would resolve the name itself, out of reach of the check.
- **bounds**: one deadline (``total_seconds``) covers name resolution, connect, TLS, redirects and the whole
  body: every socket read and write waits at most for the time left, so a server dribbling one
  byte every few seconds is cut off on time; the body is read up to ``max_bytes``.
- **failures are words**: whatever goes wrong (a malformed URL such as ``http://0177.0.0.1/``, a
  refused address, a timeout, a TLS error) ends as :class:`FetchError`, whose text is the reason.
- **the cache** (a :class:`~rewriter.cache.JsonStore`) remembers whether a page came from public
  addresses only; a page fetched with ``allow_private`` is never served to a caller without it.

The same bounded transport serves the search providers' own API calls (:func:`http_request`),
with ``allow_private=True``: their endpoints are configured by the user, not given by a model.
"""

from __future__ import annotations

import functools
import hashlib
import html
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import urldefrag, urlsplit

import httpcore
import httpx

from . import __version__
from .cache import JsonStore
from .turns import waiting

USER_AGENT = f"rewriter/{__version__} (+fact-checking for editors)"
MAX_REDIRECTS = 5
MAX_BYTES = 2_000_000
TOTAL_SECONDS = 20.0
CACHE_SECONDS = 7 * 24 * 3600
FAILURE_SECONDS = 24 * 3600
TEXT_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text"}
REFUSED = "refused: {} resolves to a private, loopback or link-local address"

Resolver = Callable[[str], list[str]]


class FetchError(Exception):
    """Why a URL could not be read, in words (``HTTP 404``, ``timed out after 20 s``, ``refused: …``).

    ``transient``: a timeout or a dropped connection, worth trying again later.
    """

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Page:
    """One page as read: what was asked, where it ended, and its main text."""
    url: str
    final_url: str
    status: int
    content_type: str
    bytes: int            # size of the body read
    sha256: str           # of the body bytes
    seconds: float        # wall time of this call (a cache hit takes ~0)
    title: str
    text: str             # main text; table rows one per line, cells separated by " | "
    date: str = ""        # publication date the page states (ISO), else ""
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- URLs and addresses

def is_http_url(url: str) -> bool:
    """A well-formed absolute http(s) URL with a host and no whitespace."""
    if not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def url_key(url: str) -> str:
    """The form two spellings of one URL share: no fragment, lowercase scheme and host, no trailing slash."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    rest = url[len(parts.scheme) + 3 + len(parts.netloc):]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}".rstrip("/")


def host_addresses(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself), in the resolver's order."""
    seen: dict[str, None] = {}
    for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The address itself and any IPv4 address it carries (IPv4-mapped, 6to4, Teredo)."""
    yield ip
    if isinstance(ip, ipaddress.IPv6Address):
        yield from (a for a in (ip.ipv4_mapped, ip.sixtofour, ip.teredo and ip.teredo[1]) if a)


# Ranges some Python versions call global that no public page lives on: IETF protocol assignments
# (192.0.0.0/24, home of NAT and DS-Lite gateways) and IPv6 site-local addresses (deprecated, but
# still routed inside some networks).
_NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved, site-local, IETF-assigned and
    unspecified addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])    # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    return all(a.is_global and not (a.is_loopback or a.is_private or a.is_link_local or a.is_multicast
                                    or a.is_reserved or a.is_unspecified
                                    or any(a.version == net.version and a in net for net in _NOT_PUBLIC))
               for a in _embedded(ip))


def _resolve(host: str, resolve: Resolver | None) -> list[str]:
    """The host's addresses, or FetchError saying why there are none."""
    try:
        addresses = list((resolve or host_addresses)(host))
    except OSError as exc:          # socket.gaierror: no such host
        raise FetchError(f"cannot resolve {host} ({exc.strerror or exc})") from None
    except UnicodeError:            # a label IDNA cannot encode
        raise FetchError(f"cannot resolve {host} (not a valid host name)") from None
    if not addresses:
        raise FetchError(f"cannot resolve {host} (no address)")
    return addresses


def refusal(url: str, resolve: Resolver | None = None) -> str | None:
    """Why ``url`` may not be fetched, or ``None``: every address of its host must be public.

    ``resolve`` (host name -> addresses, :func:`host_addresses` by default) is for tests.
    """
    host = urlsplit(url).hostname or ""
    try:
        addresses = _resolve(host, resolve)
    except FetchError as exc:
        return str(exc)
    if not all(is_public_address(a) for a in addresses):
        return REFUSED.format(host)
    return None


# ---------------------------------------------------------------- the bounded, checked connection

class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        """Seconds left (capped by ``cap``); a timeout once none is left."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"deadline of {self.seconds:g} s passed")
        return left if cap is None else min(cap, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits at most for the time the deadline leaves."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline):
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.left(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _outcome(fn: Callable, *args: Any) -> tuple[Any, BaseException | None]:
    try:
        return fn(*args), None
    except Exception as exc:  # handed back to the waiting thread, which raises it
        return None, exc


class _GuardedBackend(httpcore.SyncBackend):
    """Opens each connection to an address that was resolved once and, unless allowed, checked."""

    def __init__(self, *, allow_private: bool, resolve: Resolver | None, deadline: _Deadline):
        self.allow_private = allow_private
        self.resolve = resolve
        self.deadline = deadline
        self.connected: list[str] = []       # every address a connection was opened to

    def _resolve_in_time(self, host: str) -> list[str]:
        """:func:`_resolve`, given no longer than the deadline leaves (getaddrinfo has no timeout of its own)."""
        answer: list = []
        worker = threading.Thread(target=lambda: answer.append(_outcome(_resolve, host, self.resolve)), daemon=True,
                                  name="resolve")
        worker.start()
        worker.join(self.deadline.left())
        if not answer:
            raise FetchError(f"timed out after {self.deadline.seconds:g} s (resolving {host})", transient=True)
        value, error = answer[0]
        if error is not None:
            raise error
        return value

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        addresses = self._resolve_in_time(host)
        if not self.allow_private and not all(is_public_address(a) for a in addresses):
            raise FetchError(REFUSED.format(host))
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, self.deadline.left(timeout), local_address,
                                             socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            self.connected.append(address)
            return _DeadlineStream(stream, self.deadline)
        assert failure is not None
        raise failure


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every fetch (building one loads the CA bundle): certificates and host names verified."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, backend: _GuardedBackend):
        super().__init__(verify=_ssl_context(), trust_env=False, retries=0)
        # httpx builds its connection pool without a way to pass a network backend: replace it with
        # the same pool over ours.
        self._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=backend,
                                             max_connections=4, retries=0)


@dataclass
class Response:
    """An HTTP response read within the bounds: status, headers, body."""
    url: str
    final_url: str
    status: int
    headers: httpx.Headers
    body: bytes
    seconds: float
    public: bool           # every connection went to a public address

    @property
    def mime(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        import json
        return json.loads(self.body.decode("utf-8", errors="replace"))


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@waiting()      # a wait on the network: a batch article's turn goes to another meanwhile
def http_request(method: str, url: str, *, headers: dict[str, str] | None = None, json: Any = None,
                 allow_private: bool = False, total_seconds: float = TOTAL_SECONDS, max_bytes: int = MAX_BYTES,
                 resolve: Resolver | None = None, follow_redirects: bool = True,
                 before_body: Callable[[httpx.Response], None] | None = None) -> Response:
    """One request under the address policy, a total deadline and a size cap; FetchError on any failure.

    ``before_body`` sees the response (status, headers) before its body is read and may raise
    FetchError to stop there (a 404, a PDF). Responses of any status are returned otherwise.
    """
    if not is_http_url(url):
        raise FetchError(f"not a well-formed http(s) URL: {url!r}")
    start = time.monotonic()
    deadline = _Deadline(total_seconds)
    backend = _GuardedBackend(allow_private=allow_private, resolve=resolve, deadline=deadline)
    timeout = httpx.Timeout(total_seconds)     # each operation is also capped by the deadline
    try:
        with httpx.Client(transport=_GuardedTransport(backend), timeout=timeout, follow_redirects=follow_redirects,
                          max_redirects=MAX_REDIRECTS, trust_env=False) as client, \
                client.stream(method, url, headers=headers, json=json) as response:
            if before_body is not None:
                before_body(response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"page too large ({int(declared):,} bytes; the limit is {max_bytes:,})")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"page too large (over {max_bytes:,} bytes); not read")
                deadline.left()
            return Response(url=url, final_url=str(response.url), status=response.status_code,
                            headers=response.headers, body=bytes(body), seconds=round(time.monotonic() - start, 3),
                            public=all(is_public_address(a) for a in backend.connected))
    except FetchError:
        raise
    except (httpx.TimeoutException, httpcore.TimeoutException):
        raise FetchError(f"timed out after {total_seconds:g} s", transient=True) from None
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.UnsupportedProtocol as exc:   # the URL itself passed is_http_url: a redirect led there
        raise FetchError(f"redirected to a URL that is not http(s) ({exc})") from None
    except httpx.InvalidURL as exc:
        raise FetchError(f"not a well-formed http(s) URL: {url!r} ({exc})") from None
    except (httpx.TransportError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise FetchError(_cause(exc), transient=True) from None     # refused or dropped connections
    except (httpx.HTTPError, httpx.StreamError, OSError, ValueError, UnicodeError, LookupError) as exc:
        raise FetchError(_cause(exc)) from None


# ---------------------------------------------------------------- text of a page

class _TextStripper(HTMLParser):
    """Visible text of an HTML page, a line per block; the fallback when trafilatura finds nothing."""
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
             "blockquote", "pre", "table", "ul", "ol", "header", "footer"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def _strip_tags(markup: str) -> str:
    parser = _TextStripper()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip(" |") for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def decode_bytes(data: bytes, charset: str | None) -> str:
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                pass
    return data.decode("cp1252", errors="replace")


MAX_TITLE_CHARS = 300


def short_title(title: str) -> str:
    """A title as the tool keeps it: whitespace folded, at most :data:`MAX_TITLE_CHARS` characters
    (a page's title is the page's to choose, and it goes into every snippet line of the prompt)."""
    title = re.sub(r"\s+", " ", title[:4 * MAX_TITLE_CHARS]).strip()
    return title if len(title) <= MAX_TITLE_CHARS else title[:MAX_TITLE_CHARS - 1].rstrip() + "…"


def html_title(markup: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", markup, re.IGNORECASE | re.DOTALL)
    return short_title(html.unescape(match.group(1))) if match else ""


_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def table_rows(text: str) -> str:
    """trafilatura's markdown tables as plain rows: "| a | b |" -> "a | b", rule lines dropped."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not (stripped.startswith("|") and stripped.endswith("|")):
            lines.append(line.rstrip())
        elif not _TABLE_RULE.match(stripped):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            while cells and not cells[-1]:
                cells.pop()
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def extract_html(markup: str, url: str | None = None) -> tuple[str, str, str]:
    """``(title, text, date)`` of a page: its main text (trafilatura, tables kept as rows), or all its
    visible text when trafilatura finds none."""
    import trafilatura  # imported here: it is slow to load, and only pages and HTML libraries need it

    # A date only where the page's markup states one: htmldate's extensive search would turn a bare
    # "2024" in a headline into "2024-01-01", a precision the page never claimed.
    doc = trafilatura.bare_extraction(markup, url=url, favor_recall=True, include_comments=False,
                                      include_tables=True, with_metadata=True,
                                      date_extraction_params={"extensive_search": False, "original_date": True})
    text = table_rows(getattr(doc, "text", None) or "")
    title = html_title(markup) or getattr(doc, "title", None) or ""
    date = getattr(doc, "date", None) or ""
    return title, text or _strip_tags(markup), date


def html_to_text(markup: str, url: str | None = None) -> str:
    """The page's main text, tables kept as rows (see :func:`extract_html`)."""
    return extract_html(markup, url)[1]


# ---------------------------------------------------------------- pages

def _readable(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise FetchError(f"HTTP {response.status_code}")
    mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime not in TEXT_TYPES:
        raise FetchError(f"unsupported content type {mime or '(none given)'}; only HTML and plain text are read")


def page_from(response: Response) -> Page:
    """The page held by a response that was read (HTML or plain text)."""
    charset = httpx.Response(200, headers=response.headers).charset_encoding
    markup = decode_bytes(response.body, charset)
    if TEXT_TYPES.get(response.mime) == "text":
        title, text, date = "", markup, ""
    else:
        title, text, date = extract_html(markup, response.final_url)
    if not text.strip():
        raise FetchError("no readable text in the page")
    return Page(url=response.url, final_url=response.final_url, status=response.status, content_type=response.mime,
                bytes=len(response.body), sha256=hashlib.sha256(response.body).hexdigest(),
                seconds=response.seconds, title=title, text=text, date=date)


_PAGE_FIELDS = {f.name for f in fields(Page)} - {"cached"}


def _cached_page(entry: Any, allow_private: bool) -> Page | None:
    """A cache entry as a Page, unless it is of another shape or came from a private address."""
    if not isinstance(entry, dict) or not _PAGE_FIELDS <= entry.keys() or not isinstance(entry.get("public"), bool):
        return None
    if not (allow_private or entry["public"]):
        return None          # fetched under --fetch-private: not evidence for a run without it
    return Page(**{name: entry[name] for name in _PAGE_FIELDS}, cached=True)


def fetch_page(url: str, *, allow_private: bool = False, total_seconds: float = TOTAL_SECONDS,
               max_bytes: int = MAX_BYTES, store: JsonStore | None = None, resolve: Resolver | None = None,
               user_agent: str = USER_AGENT) -> Page:
    """Download ``url`` and extract its text; raise :class:`FetchError` with the reason.

    Served from ``store`` when it holds the page and the page's addresses satisfy the policy.
    """
    start = time.monotonic()
    if not is_http_url(url):
        raise FetchError(f"not a well-formed http(s) URL: {url!r}")
    key = f"page:{url_key(url)}"
    failed = f"failed:{int(allow_private)}:{url_key(url)}"     # keyed on the policy: a refusal is the policy's
    if store is not None and (page := _cached_page(store.get(key), allow_private)) is not None:
        return replace(page, seconds=round(time.monotonic() - start, 3))
    if store is not None and isinstance(known := store.get(failed), str):
        raise FetchError(f"{known} (a day ago or less; not asked again)")
    try:
        response = http_request("GET", url, headers={"User-Agent": user_agent,
                                                     "Accept": "text/html, text/plain;q=0.9"},
                                allow_private=allow_private, total_seconds=total_seconds, max_bytes=max_bytes,
                                resolve=resolve, before_body=_readable)
        page = page_from(response)
    except FetchError as exc:
        # What will not change by asking again (a 404, a PDF, a page too large, a refusal) is
        # remembered for a day, so a rerun asks nothing; timeouts, drops and 5xx are asked again.
        if store is not None and not exc.transient and not str(exc).startswith("HTTP 5"):
            store.set(failed, str(exc), expire=FAILURE_SECONDS)
        raise
    if store is not None:
        entry = {name: value for name, value in page.to_dict().items() if name in _PAGE_FIELDS}
        store.set(key, {**entry, "public": response.public}, expire=CACHE_SECONDS)
    return page


T = TypeVar("T")


def fetch_pages(urls: list[str], *, concurrency: int = 8, **kwargs: Any) -> list[Page | FetchError]:
    """:func:`fetch_page` for each URL, ``concurrency`` at once; results in the order of ``urls``."""
    return in_parallel(lambda url: fetch_page(url, **kwargs), urls, concurrency)


def in_parallel(read: Callable[[T], Page], items: list[T], concurrency: int) -> list[Page | FetchError]:
    """``read(item)`` for each item, ``concurrency`` at once, in order; a FetchError is kept as that
    item's result, so one page that fails never loses the others."""
    def one(item: T) -> Page | FetchError:
        try:
            return read(item)
        except FetchError as exc:
            return exc

    if not items:
        return []
    with waiting(), ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return list(pool.map(one, items))

