"""Evidence: the texts a correction may rest on, and the snippets of them the model is shown.

Three kinds of document, each optional:

- ``reference``: the URLs behind the article's resolved ``[n]`` markers;
- ``library``: .txt, .md and .html files a newsroom keeps in ``sources/`` (or ``--sources DIR``),
  read locally, so a quote from them can be checked without any network;
- ``fetched``: a URL the model proposes, read on demand.

Nothing goes on the network unless ``fetch`` is on and the settings are not offline. A URL whose
host resolves to a private, loopback or link-local address is refused, before the request and after
each redirect, unless ``settings.fetch_private``: the URLs come from the model, and an article can
carry instructions aimed at it. Fetched extracts are cached (diskcache, under
``settings.cache_dir/fetch``) and written to ``out/<stem>/evidence/<id>.txt``, exactly the text the
grounding check reads.
"""

from __future__ import annotations

import functools
import html
import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urldefrag, urlsplit

from . import __version__
from .cache import JsonStore
from .errors import ConfigError
from .loader import atomic_write_text
from .models import Finding, Reference, Source
from .settings import Settings
from .text import sentences

USER_AGENT = f"rewriter/{__version__} (+fact-checking for editors)"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_REDIRECTS = 5
MAX_BYTES = 2_000_000
CACHE_SECONDS = 7 * 24 * 3600
TEXT_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text"}
LIBRARY_SUFFIXES = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}
DEFAULT_LIBRARY = Path("sources")
PASSAGE_SENTENCES = 2         # a passage: up to two whole sentences ...
PASSAGE_CHARS = 360           # ... or about this many characters (one longer sentence stays whole)
SNIPPETS_PER_FINDING = 4      # at most this many snippets offered per finding ...
EVIDENCE_TOKENS = 250         # ... within this many tokens (about 4 characters each); see snippets_for
CHARS_PER_TOKEN = 4
NUMBER_WEIGHT = 0.3           # a bare number ("92") says little about what a passage is about
RELATIVE_FLOOR = 0.3          # a snippet scores at least this share of the best one ...
MIN_MATCH = 1.0               # ... and shares words (not numbers) of at least this query weight: one word of
                              # the finding, its sentence or its terms, or two of the sentences around it


@dataclass
class Document:
    """One text that was, or could not be, read."""
    id: str                     # "E1", "E2", ... in order of gathering
    kind: str                   # "reference" | "library" | "fetched" | "search"
    url: str | None             # http(s) URL, or None for a library file
    path: str | None            # the library file, or the saved extract under out/<stem>/evidence/
    title: str
    text: str | None            # extracted main text; None when not read
    error: str | None = None    # why it could not be read
    date: str = ""              # the page's date, as the provider or the page states it
    provider: str = ""          # who found it: "wikipedia", "searxng", "mistral", ... ("" for the article's own)
    license: str = ""           # e.g. "CC BY-SA 4.0", kept with the source for attribution

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "url": self.url, "path": self.path, "title": self.title,
                "read": self.text is not None, "chars": len(self.text) if self.text is not None else None,
                "error": self.error, "date": self.date, "provider": self.provider, "license": self.license}


@dataclass
class Snippet:
    id: str          # "<document id>#<passage number>", e.g. "E3#2"; cite it as evidence_id
    document_id: str
    text: str        # whole sentences of the document, or a table's header row and one of its rows
    score: float = field(default=0.0, compare=False)    # how well it matched the finding (weighted BM25)


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


def document_id(evidence_id: str) -> str:
    """"E3#2" -> "E3": a snippet id names its document."""
    return evidence_id.strip().split("#", 1)[0]


# ---------------------------------------------------------------- reading

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
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _decode(data: bytes, charset: str | None) -> str:
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                pass
    return data.decode("cp1252", errors="replace")


def html_title(markup: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", markup, re.IGNORECASE | re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(match.group(1))).strip() if match else ""


def html_to_text(markup: str, url: str | None = None) -> str:
    """The page's main text (trafilatura), or all its visible text when trafilatura finds none."""
    import trafilatura  # imported here: it is slow to load, and only --fetch and HTML libraries need it

    text = trafilatura.extract(markup, url=url, favor_recall=True, include_comments=False,
                               include_tables=True)
    return text or _strip_tags(markup)


class FetchError(Exception):
    """Why a URL could not be read, in words (``HTTP 404``, ``timed out``, ...)."""


def host_addresses(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    return [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The address itself and any IPv4 address it carries (IPv4-mapped, 6to4, Teredo)."""
    yield ip
    if isinstance(ip, ipaddress.IPv6Address):
        yield from (a for a in (ip.ipv4_mapped, ip.sixtofour, ip.teredo and ip.teredo[1]) if a)


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])    # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    return all(a.is_global and not (a.is_loopback or a.is_private or a.is_link_local or a.is_multicast
                                    or a.is_reserved or a.is_unspecified)
               for a in _embedded(ip))


def refusal(url: str, resolve=None) -> str | None:
    """Why ``url`` may not be fetched, or ``None``: every address of its host must be public.

    ``resolve`` (a host name -> addresses function, :func:`host_addresses` by default) is there
    for tests, whose servers all listen on 127.0.0.1.
    """
    host = urlsplit(url).hostname or ""
    try:
        addresses = (resolve or host_addresses)(host)
    except OSError as exc:          # socket.gaierror: no such host
        return f"cannot resolve {host} ({exc.strerror or exc})"
    except UnicodeError:            # a label IDNA cannot encode
        return f"cannot resolve {host} (not a valid host name)"
    if not addresses or not all(is_public_address(a) for a in addresses):
        return f"refused: {host} resolves to a private, loopback or link-local address"
    return None


def fetch_url(url: str, *, allow_private: bool = False) -> tuple[str, str]:
    """Download ``url`` and return ``(title, text)``; raise :class:`FetchError` with the reason.

    Unless ``allow_private``, the URL and every redirect are first checked with :func:`refusal`.
    """
    import httpx

    if not is_http_url(url):
        raise FetchError(f"not a well-formed http(s) URL: {url!r}")

    def check(request: httpx.Request) -> None:
        if not allow_private and (reason := refusal(str(request.url))):
            raise FetchError(reason)

    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    headers = {"User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9"}
    try:
        # The hook runs before the first request and before each redirected one.
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS, headers=headers,
                          event_hooks={"request": [check]}) as client, client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code}")
            mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            kind = TEXT_TYPES.get(mime)
            if kind is None:
                raise FetchError(f"unsupported content type {mime or '(none given)'}; only HTML and plain text are read")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BYTES:
                raise FetchError(f"page too large ({int(declared):,} bytes; the limit is {MAX_BYTES:,})")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FetchError(f"page too large (over {MAX_BYTES:,} bytes); not read")
            charset = response.charset_encoding
            final_url = str(response.url)
    except httpx.TimeoutException:
        raise FetchError(f"timed out (connect {CONNECT_TIMEOUT:g} s, read {READ_TIMEOUT:g} s)") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    markup = _decode(bytes(body), charset)
    if kind == "text":
        return "", markup
    text = html_to_text(markup, final_url)
    if not text.strip():
        raise FetchError("no readable text in the page")
    return html_title(markup), text


def _read_library_file(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    markup = _decode(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw, "utf-8")
    if LIBRARY_SUFFIXES[path.suffix.lower()] == "html":
        return html_title(markup) or path.name, html_to_text(markup)
    first = next((line.strip().lstrip("#").strip() for line in markup.splitlines() if line.strip()), "")
    return first[:120] or path.name, markup


def library_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.suffix.lower() in LIBRARY_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


# ---------------------------------------------------------------- retrieval

@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH
    return frozenset(fold(w) for w in STOPWORDS_EN + STOPWORDS_FRENCH + _MORE_STOPWORDS)


# Reporting verbs and auxiliaries that the stock lists miss and that every news text is full of.
_MORE_STOPWORDS = tuple("has had have having were was been also said says selon aussi plus tres "
                        "dit declare affirme".split())

# French and English words that mean the same, so that a French claim finds an English page and the
# reverse: each line is the word every other one is read as, then the others. Written folded (no
# accents, lowercase) and singular; tokens() folds and drops a plural s/x before looking words up.
# Phrases (several words) are read as their first word before the words are split.
LEXICON = """
billion     milliard bn md mds mrd mrds
million     millions mio
thousand    mille
trillion    trillions
parameter   parametre
valuation   valorisation valorise valorisee valued valuing
raise       leve levee lever raised raising levait levent
round       tour
funding     financement financer funded
invest      investit investi investissement investment invested investor investisseur investir
found       fonde fondee fondateur fondatrice founded founder cofonde cofondee cofondateur cofounder
headquarter siege headquartered
revenue     chiffre_d_affaire turnover sales
employee    salarie employe staff employed emploie employait effectif
people      personne
inhabitant  habitant resident
population  populated peuplee peuple
census      recensement
release     sorti sortie publie publiee released launch lance lancee lancement launched
model       modele
license     licence
company     entreprise societe firm startup start_up jeune_pousse
delivery    livraison livre delivered deliver deliverie livrer
aircraft    avion airplane plane appareil
order       commande
profit      benefice
loss        perte
year        annee ans
month       mois
born        nee naissance birth
death       mort deces died morte decede
prize       prix
physic      physique
chemistry   chimie
capital     capitale
city        ville commune
country     pays
world       monde mondial
height      hauteur haute haut tall
metre       metre meter
visitor     visiteur visit visite
user        utilisateur
token       jeton
training    entrainement entraine trained train
weight      poid
tower       tour_eiffel
united_state etats_uni usa
germany     allemagne
england     angleterre
london      londre
washington  washington
virginia    virginie
imf         fmi
nato        otan
ecb         bce
oecd        ocde
wto         omc
"""


@functools.cache
def lexicon() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in LEXICON.strip().splitlines():
        head, *others = line.split()
        for word in others:
            table[word] = head
    return table


# "Tour Eiffel" is not "tour" (a funding round): phrases are joined before splitting into words.
_PHRASES = {"chiffre d affaires": "chiffre_d_affaire", "chiffre d'affaires": "chiffre_d_affaire",
            "start-up": "start_up", "jeune pousse": "jeune_pousse", "tour eiffel": "tower eiffel",
            "eiffel tower": "tower eiffel", "etats-unis": "united_state", "united states": "united_state"}
_PHRASE = re.compile("|".join(re.escape(p) for p in sorted(_PHRASES, key=len, reverse=True)))
_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f,](?=\d{3}(?!\d))")
_WORDS = re.compile(r"\d+(?:[.,]\d+)*[^\W_]*|[^\W_]+(?:_[^\W_]+)*")
_SCALED = re.compile(r"(\d+(?:\.\d+)?)(b|bn|m|k)")
_SCALE_WORDS = {"b": "billion", "bn": "billion", "m": "million", "k": "thousand"}


def fold(text: str) -> str:
    """Lowercase, no accents, compatibility forms and ligatures spelled out: "Œuvre, Août" -> "oeuvre, aout"."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("œ", "oe").replace("æ", "ae")


def tokens(text: str) -> list[str]:
    """Words for lexical matching, French or English alike.

    Lowercase, no accents, no stopwords, no plural s/x; French and English words of :data:`LEXICON`
    read as one ("milliards" and "billion" -> "billion"); a number is one token whatever its
    spelling ("2 102 650" -> "2102650", "46,7" -> "46.7") and "46.7B" is "46.7" and "billion".
    """
    stop, table = _stopwords(), lexicon()
    folded = _PHRASE.sub(lambda m: _PHRASES[m.group(0)], fold(text).replace("’", "'"))
    result = []
    for word in _WORDS.findall(_THOUSANDS.sub("", folded)):
        if word[0].isdigit():
            word = word.replace(",", ".")
            scaled = _SCALED.fullmatch(word)
            result += [scaled.group(1), _SCALE_WORDS[scaled.group(2)]] if scaled else [word]
            continue
        if len(word) < 2 or word in stop:
            continue
        if len(word) > 4 and word[-1] in "sx" and word[-2] != "s":
            word = word[:-1]
        result.append(table.get(word, word))
    return result


def is_number_token(token: str) -> bool:
    return token[0].isdigit() and token.replace(".", "").isdigit()


# A table row: cells separated by a tab, by pipes, or by runs of two or more spaces (three cells;
# two spaces after a full stop or a comma are typing, not a column).
_TABLE_ROW = re.compile(r"\t|\|.*\||[^\s.!?;:,] {2,}\S.*[^\s.!?;:,] {2,}\S")
_RULE_ROW = re.compile(r"^[\s|:+-]*-[\s|:+-]*$")            # |---|:---:| or +----+----+
_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-*•]\s|\d{1,3}[.)]\s)")   # a heading or a list item


def is_table_row(line: str) -> bool:
    """A line of cells separated by tabs, pipes or runs of spaces."""
    return bool(_TABLE_ROW.search(line))


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """("prose", [paragraph]) and ("table", rows) blocks; wrapped lines of a paragraph joined with a space.

    A line break inside a sentence is no boundary; a blank line, a heading, a list item and a
    table row are.
    """
    blocks: list[tuple[str, list[str]]] = []
    para: list[str] = []
    rows: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("prose", [" ".join(para)]))
            para.clear()
        if rows:
            blocks.append(("table", list(rows)))
            rows.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif _TABLE_ROW.search(raw):
            if para:
                flush()
            if not _RULE_ROW.match(line):
                rows.append(line.strip("|").strip())     # as written, less the outer pipes
        else:
            if rows or _BLOCK_START.match(raw):
                flush()
            para.append(line)
            if line.startswith("#"):
                flush()                 # a heading stands alone, and is prepended to what follows
    flush()
    return blocks


def passages(text: str) -> list[str]:
    """The passages a document is searched by, each quotable from the document as it was read.

    Prose: groups of up to two whole sentences (or about 360 characters) of one paragraph, the
    paragraph's wrapped lines joined first; a heading or a title line is prepended to the
    passage after it. Tables: each row with the header row before it ("header\\nrow"); a table of
    one row is that row.
    """
    result: list[str] = []
    heading = ""
    for kind, lines in _blocks(text):
        if kind == "table":
            header, body = (lines[0], lines[1:]) if len(lines) > 1 else ("", lines)
            result += [f"{header}\n{row}" if header else row for row in body]
            heading = ""
            continue
        paragraph = re.sub(r"\s+", " ", lines[0])
        said = [s.text for s in sentences(paragraph)]
        if (len(said) == 1 and len(said[0]) < 100 and not re.search(r"[.!?…:;]\W*$", said[0])
                and (said[0].startswith("#") or not _BLOCK_START.match(said[0]))):
            heading = f"{heading} {said[0].lstrip('#').strip()}".strip()   # a title, a heading
            continue
        group: list[str] = []
        for sentence in said:
            if group and (len(group) >= PASSAGE_SENTENCES or sum(map(len, group)) + len(sentence) > PASSAGE_CHARS):
                result.append(" ".join(group))
                group = []
            group.append(sentence)
            if heading:             # the heading rides along, as context, not as a sentence
                group[0], heading = f"{heading} {group[0]}", ""
        if group:
            result.append(" ".join(group))
    if heading:
        result.append(heading)
    return result


def finding_context(finding: Finding, article_text: str) -> tuple[str, str]:
    """The sentence(s) holding the finding, and the sentence on either side of them."""
    lo, hi = max(0, finding.start - 1500), min(len(article_text), finding.end + 1500)
    around = sentences(article_text[lo:hi], offset=lo)
    inside = [i for i, s in enumerate(around) if s.start < max(finding.end, finding.start + 1) and s.end > finding.start]
    if not inside:
        return finding.text, ""
    first, last = inside[0], inside[-1]
    own = " ".join(s.text for s in around[first:last + 1])
    near = " ".join(s.text for s in around[max(0, first - 1):first] + around[last + 1:last + 2])
    return own, near


def finding_terms(finding: Finding) -> list[str]:
    """What the claims stage said about a finding: its reason, what would settle it, its queries."""
    payload = finding.payload or {}
    queries = payload.get("queries") or []
    found = [payload.get("reason"), payload.get("settle_with"), *([queries] if isinstance(queries, str) else queries)]
    return [t for t in found if isinstance(t, str) and t.strip()]


def query_weights(finding: Finding, article_text: str, terms: Sequence[str] = ()) -> dict[str, float]:
    """Weighted query words for a finding: its own words and sentence first, then what would settle it.

    The quote counts most, its sentence next, the claim's reason, settle_with, queries and
    ``terms`` once each, the neighbouring sentences a little (they name what a pronoun refers
    to); a bare number counts :data:`NUMBER_WEIGHT` as much as a word.
    """
    own, near = finding_context(finding, article_text)
    weights: dict[str, float] = {}
    parts = [(finding.text, 2.0), (own, 1.0), (near, 0.5)]
    parts += [(t, 1.0) for t in [*finding_terms(finding), *terms]]
    for text, weight in parts:
        for token in dict.fromkeys(tokens(text)):
            w = weight * (NUMBER_WEIGHT if is_number_token(token) else 1.0)
            weights[token] = min(4.0, weights.get(token, 0.0) + w)
    return weights


def token_cost(text: str) -> int:
    """Estimated tokens of ``text`` in a prompt (about four characters a token)."""
    return -(-len(text) // CHARS_PER_TOKEN)


# ---------------------------------------------------------------- the evidence of one article

class Evidence:
    """All documents gathered for one article; fetches lazily and caches fetched pages."""

    def __init__(self, settings: Settings, *, fetch: bool, evidence_dir: Path | None):
        self.settings = settings
        self.offline = settings.offline
        self.fetch = fetch and not settings.offline
        self.evidence_dir = evidence_dir
        self.documents: list[Document] = []
        self._by_id: dict[str, Document] = {}
        self._by_url: dict[str, Document] = {}
        self._index = None            # (bm25 retriever, snippets), built on first use
        self._indexed: tuple[str, ...] = ()
        self.offered: set[str] = set()  # snippet ids shown to the model (see snippets_for)
        self._pages = JsonStore(Path(settings.cache_dir) / "fetch", "page") if settings.use_cache else None

    # -- documents

    def _add(self, kind: str, *, url: str | None, path: str | None, title: str,
             text: str | None = None, error: str | None = None) -> Document:
        doc = Document(f"E{len(self.documents) + 1}", kind, url, path, title, text, error)
        self.documents.append(doc)
        self._by_id[doc.id] = doc
        if url:
            self._by_url[url_key(url)] = doc
        return doc

    def add_url(self, url: str, kind: str, title: str = "") -> Document:
        """The document for ``url`` (one per URL), read now when fetching is on."""
        existing = self._by_url.get(url_key(url))
        if existing is not None:
            return existing
        doc = self._add(kind, url=url, path=None, title=title or url)
        if self.fetch:
            self._read(doc)
        return doc

    def document_for_url(self, url: str) -> Document | None:
        return self._by_url.get(url_key(url))

    def add_page(self, hit, page) -> Document:
        """A page a search found: ``page`` is what the fetcher (or the provider) read, or the
        exception that says why it could not be read. Saved under the evidence folder like any fetch."""
        doc = self._add("search", url=hit.url, path=None, title=hit.title or hit.url)
        doc.provider, doc.license = hit.provider, getattr(hit, "license", "")
        if isinstance(page, Exception):
            doc.error = str(page)
            return doc
        doc.text, doc.title = page.text, page.title or doc.title
        doc.date = getattr(page, "date", "") or getattr(hit, "date", "")
        self._save(doc)
        return doc

    def _save(self, doc: Document) -> None:
        if self.evidence_dir is not None and doc.text is not None:
            path = Path(self.evidence_dir) / f"{doc.id}.txt"
            atomic_write_text(path, doc.text, durable=False)
            doc.path = str(path)

    def _read(self, doc: Document) -> None:
        assert doc.url
        cached = self._cache_get(doc.url)
        if cached is None:
            try:
                title, text = fetch_url(doc.url, allow_private=self.settings.fetch_private)
            except FetchError as exc:
                doc.error = str(exc)
                return
            cached = {"title": title, "text": text}
            self._cache_set(doc.url, cached)
        doc.text = cached["text"]
        doc.title = cached["title"] or doc.title
        self._save(doc)

    def _cache_get(self, url: str) -> dict | None:
        return self._pages.get(f"page:{url_key(url)}") if self._pages else None

    def _cache_set(self, url: str, value: dict) -> None:
        if self._pages:
            self._pages.set(f"page:{url_key(url)}", value, expire=CACHE_SECONDS)

    def add_library(self, directory: Path, article_text: str = "") -> None:
        """Every .txt, .md and .html file under ``directory``, except a copy of the article itself."""
        same = re.sub(r"\s+", " ", article_text).strip()
        for path in library_files(directory):
            try:
                title, text = _read_library_file(path)
            except OSError as exc:
                self._add("library", url=None, path=str(path), title=path.name,
                          error=f"cannot read ({exc.strerror or exc})")
                continue
            if same and re.sub(r"\s+", " ", text).strip() == same:
                continue  # the article cannot vouch for itself
            self._add("library", url=None, path=str(path), title=title, text=text)

    def document(self, document_id_: str) -> Document | None:
        """The document gathered under this id ("E3"), if any."""
        return self._by_id.get(document_id_)

    def document_for_source(self, source: Source) -> Document | None:
        """The document a source cites: by evidence id, else by URL (fetched now if fetching is on).

        ``None`` when the source names no known evidence id and no well-formed http(s) URL.
        """
        if source.evidence_id:
            doc = self._by_id.get(document_id(source.evidence_id))
            if doc is not None:
                return doc
        url = (source.url or "").strip()
        if not is_http_url(url):
            return None
        return self.add_url(url, "fetched", source.title)

    # -- snippets

    def _snippet_index(self):
        readable = tuple(d.id for d in self.documents if d.text)
        if readable != self._indexed:
            snippets = [Snippet(f"{d.id}#{n}", d.id, passage)
                        for d in self.documents if d.text
                        for n, passage in enumerate(passages(d.text), 1)]
            # A passage is indexed with its document's title: "He was born on 23 June 1912" is about
            # the page's subject, which only the title may name.
            titles = {d.id: tokens(d.title) for d in self.documents if d.text}
            corpus = [tokens(s.text) + titles[s.document_id] for s in snippets]
            kept = [(s, t) for s, t in zip(snippets, corpus) if t]
            retriever = None
            if kept:
                import bm25s  # imported here: only a run with readable evidence pays for it
                retriever = bm25s.BM25()
                retriever.index([t for _, t in kept], show_progress=False)
            self._index = (retriever, [s for s, _ in kept])
            self._indexed = readable
        return self._index

    def snippets_for(self, finding: Finding, article_text: str, *, k: int = SNIPPETS_PER_FINDING,
                     terms: Sequence[str] = (), budget_tokens: int | None = None) -> list[Snippet]:
        """The passages of readable evidence that best settle ``finding``, best first.

        Ranked (BM25, French and English words read as one) on the finding's own words, its
        sentence, the claim's ``reason``, ``settle_with`` and ``queries`` from its payload, and
        ``terms``; bare numbers count little. A passage is kept when the query words (not numbers)
        it shares weigh at least :data:`MIN_MATCH`, and it scores at least :data:`RELATIVE_FLOOR` of
        the best; then at most ``k``, best first, within ``budget_tokens`` (:data:`EVIDENCE_TOKENS`
        by default; the best one is offered whatever its size), each snippet costing its prompt
        line (:meth:`snippet_cost`). Every snippet returned is recorded in :attr:`offered`.
        """
        if k <= 0 or not any(d.text for d in self.documents):
            return []
        retriever, snippets = self._snippet_index()
        if retriever is None:
            return []
        weights = {t: w for t, w in query_weights(finding, article_text, terms).items()
                   if t in retriever.vocab_dict}
        if not any(not is_number_token(t) for t in weights):
            return []
        import numpy as np

        scores = np.zeros(len(snippets))
        matched = np.zeros(len(snippets))       # weight of the query's words (not numbers) each passage has
        for token, weight in weights.items():
            found = retriever.get_scores([token])
            scores += weight * found
            if not is_number_token(token):
                matched += weight * (found > 0)
        eligible = matched >= MIN_MATCH
        best = float(scores[eligible].max()) if eligible.any() else 0.0
        ranked = sorted((i for i in range(len(snippets)) if eligible[i] and scores[i] >= RELATIVE_FLOOR * best),
                        key=lambda i: (-float(scores[i]), i))
        budget = EVIDENCE_TOKENS if budget_tokens is None else budget_tokens
        chosen: list[Snippet] = []
        spent = 0
        for i in ranked:
            snippet = snippets[i]
            cost = self.snippet_cost(snippet)
            if chosen and spent + cost > budget or any(c.text == snippet.text for c in chosen):
                continue
            chosen.append(Snippet(snippet.id, snippet.document_id, snippet.text, round(float(scores[i]), 3)))
            spent += cost
            if len(chosen) >= k:
                break
        self.offered.update(s.id for s in chosen)
        return chosen

    def snippet_cost(self, snippet: Snippet) -> int:
        """Estimated tokens of the snippet's line in a prompt: id, title, URL, date and text."""
        return token_cost(f"[{snippet.id}] ({self.origin(snippet.document_id)}) {snippet.text} (columns: )")

    def origin(self, document_id_: str) -> str:
        """How a document is named to the model: "title — URL (or library file name) — date"."""
        doc = self._by_id.get(document_id_)
        if doc is None:
            return ""
        where = doc.url or (Path(doc.path).name if doc.path else "")
        return " — ".join(x for x in (doc.title, where, doc.date) if x)

    def was_offered(self, evidence_id: str) -> bool:
        """A snippet id that :meth:`snippets_for` returned, or the id of a document one came from."""
        cited = evidence_id.strip()
        return cited in self.offered or any(document_id(s) == cited for s in self.offered)

    def to_dict(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.documents]

    def close(self) -> None:
        if self._pages:
            self._pages.close()


def reference_title(ref: Reference) -> str:
    """The words of a reference entry around its URL: "[2] Insee, Note de conjoncture, https://..." -> "Insee, ..."."""
    words = re.sub(r"^\s*(?:\[\^?[^\]]*\]:?|\d+[.)])\s*", "", (ref.text or "").replace(ref.url or "", " "))
    return re.sub(r"\s+", " ", words).strip(" ,;:-–—<>()") or (ref.url or "")


def gather(article_text: str, references: list[Reference], *, sources_dir: Path | None,
           fetch: bool, settings: Settings, evidence_dir: Path | None) -> Evidence:
    """The evidence for one article: its references (downloaded now with ``fetch``) and the library.

    ``sources_dir`` None means ``./sources`` when it exists. Offline settings read nothing at all,
    library included, so that nothing can be labelled verified.
    """
    evidence = Evidence(settings, fetch=fetch, evidence_dir=evidence_dir)
    if settings.offline:
        return evidence
    for ref in references:
        if ref.url and is_http_url(ref.url):
            evidence.add_url(ref.url, "reference", reference_title(ref))
    if sources_dir is not None:
        if not Path(sources_dir).is_dir():
            raise ConfigError(f"--sources {sources_dir}: no such folder")
        evidence.add_library(Path(sources_dir), article_text)
    elif DEFAULT_LIBRARY.is_dir():
        evidence.add_library(DEFAULT_LIBRARY, article_text)
    return evidence
