"""Evidence: the texts a correction may rest on, and the snippets of them the model is shown.

Three kinds of document, each optional:

- ``reference``: the URLs behind the article's resolved ``[n]`` markers;
- ``library``: .txt, .md and .html files a newsroom keeps in ``sources/`` (or ``--sources DIR``),
  read locally, so a quote from them can be checked without any network;
- ``fetched``: a URL the model proposes, read on demand.

Nothing goes on the network unless ``fetch`` is on and the settings are not offline. Pages are
read by :mod:`rewriter.fetch`, which holds the address policy (private, loopback and link-local
hosts refused unless ``settings.fetch_private``: the URLs come from the model, and an article can
carry instructions aimed at it) and the bounds on time and size. Fetched pages are cached (under
``settings.cache_dir/fetch``) and written to ``out/<stem>/evidence/<id>.txt``, exactly the text the
grounding check reads.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import JsonStore
from .errors import ConfigError
from .fetch import FetchError, decode_bytes, fetch_page, html_title, html_to_text, is_http_url, url_key
from .loader import atomic_write_text
from .models import Finding, Reference, Source
from .settings import Settings
from .text import sentences

LIBRARY_SUFFIXES = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}
DEFAULT_LIBRARY = Path("sources")
PASSAGE_SENTENCES = 3
PASSAGE_CHARS = 600
MIN_QUERY_WORDS = 6


@dataclass
class Document:
    """One text that was, or could not be, read."""
    id: str                     # "E1", "E2", ... in order of gathering
    kind: str                   # "reference" | "library" | "fetched"
    url: str | None             # http(s) URL, or None for a library file
    path: str | None            # the library file, or the saved extract under out/<stem>/evidence/
    title: str
    text: str | None            # extracted main text; None when not read
    error: str | None = None    # why it could not be read

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "url": self.url, "path": self.path, "title": self.title,
                "read": self.text is not None, "chars": len(self.text) if self.text is not None else None,
                "error": self.error}


@dataclass
class Snippet:
    id: str          # "<document id>#<passage number>", e.g. "E3#2"; cite it as evidence_id
    document_id: str
    text: str        # a passage of up to three sentences


def document_id(evidence_id: str) -> str:
    """"E3#2" -> "E3": a snippet id names its document."""
    return evidence_id.strip().split("#", 1)[0]


# ---------------------------------------------------------------- reading

def _read_library_file(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    markup = decode_bytes(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw, "utf-8")
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


def fold(text: str) -> str:
    """Lowercase, no accents, compatibility forms and ligatures spelled out: "Œuvre, Août" -> "oeuvre, aout"."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("œ", "oe").replace("æ", "ae")


def tokens(text: str) -> list[str]:
    """Words for lexical matching, French or English: lowercase, no accents, no stopwords, no plural s/x."""
    stop = _stopwords()
    result = []
    for word in re.findall(r"[^\W_]+", fold(text)):
        if len(word) < 2 or word in stop:
            continue
        if len(word) > 4 and word[-1] in "sx" and word[-2] != "s":
            word = word[:-1]
        result.append(word)
    return result


def passages(text: str) -> list[str]:
    """Consecutive groups of up to three sentences (or about 600 characters), whitespace collapsed."""
    groups: list[list[str]] = [[]]
    for sentence in sentences(text):
        current = groups[-1]
        if current and (len(current) >= PASSAGE_SENTENCES or sum(map(len, current)) >= PASSAGE_CHARS):
            groups.append(current := [])
        current.append(re.sub(r"\s+", " ", sentence.text))
    return [" ".join(g) for g in groups if g]


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

    def _read(self, doc: Document) -> None:
        assert doc.url
        try:
            page = fetch_page(doc.url, allow_private=self.settings.fetch_private, store=self._pages,
                              total_seconds=self.settings.page_seconds, max_bytes=self.settings.page_bytes)
        except FetchError as exc:
            doc.error = str(exc)
            return
        doc.text = page.text
        doc.title = page.title or doc.title
        if self.evidence_dir is not None:
            path = Path(self.evidence_dir) / f"{doc.id}.txt"
            atomic_write_text(path, doc.text, durable=False)
            doc.path = str(path)

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
            corpus = [tokens(s.text) for s in snippets]
            kept = [(s, t) for s, t in zip(snippets, corpus) if t]
            retriever = None
            if kept:
                import bm25s  # imported here: only a run with readable evidence pays for it
                retriever = bm25s.BM25()
                retriever.index([t for _, t in kept], show_progress=False)
            self._index = (retriever, [s for s, _ in kept])
            self._indexed = readable
        return self._index

    def snippets_for(self, finding: Finding, article_text: str, k: int = 3) -> list[Snippet]:
        """The ``k`` passages of readable evidence that best match the finding and its sentence (BM25)."""
        if k <= 0 or not any(d.text for d in self.documents):
            return []
        retriever, snippets = self._snippet_index()
        if retriever is None:
            return []
        own, near = finding_context(finding, article_text)
        # The finding and its own sentence count twice; the neighbouring sentences only help a
        # sentence too short to say what it is about (a placeholder alone on its line, a heading).
        words = tokens(finding.text) + tokens(own) * 2
        if len(set(words)) < MIN_QUERY_WORDS:
            words += tokens(near)
        query = [t for t in words if t in retriever.vocab_dict]
        if not query:
            return []
        scores = retriever.get_scores(query)
        ranked = sorted((i for i in range(len(snippets)) if scores[i] > 0), key=lambda i: (-float(scores[i]), i))
        return [snippets[i] for i in ranked[:k]]

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
