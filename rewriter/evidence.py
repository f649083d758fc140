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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .cache import JsonStore
from .errors import ConfigError
from .fetch import FetchError, decode_bytes, fetch_page, html_title, html_to_text, is_http_url, short_title, url_key
from .loader import atomic_write_text
from .models import Finding, Reference, Source
from .settings import Settings
from .text import sentences

LIBRARY_SUFFIXES = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}
DEFAULT_LIBRARY = Path("sources")
PASSAGE_SENTENCES = 2         # a passage: up to two whole sentences ...
PASSAGE_CHARS = 360           # ... or about this many characters (one longer sentence stays whole)
SNIPPETS_PER_FINDING = 4      # at most this many snippets offered per finding ...
EVIDENCE_TOKENS = 250         # ... within this many tokens (about 4 characters each); see snippets_for
MAX_MODEL_URLS = 10           # new URLs a model's proposals may have read per article (with --fetch)
TITLE_TERMS = 12              # words of a document's title indexed with each of its passages
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
    """The library's readable files: a link is followed only to a file inside the library, since
    what is read may be shown to the model (a link to ~/.ssh/config must not be)."""
    root = directory.resolve()

    def inside(p: Path) -> bool:
        try:
            return p.resolve().is_relative_to(root)
        except (OSError, RuntimeError):      # a link loop
            return False

    return sorted(p for p in directory.rglob("*")
                  if p.suffix.lower() in LIBRARY_SUFFIXES and inside(p) and p.is_file()
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
    if isinstance(queries, str):
        queries = [queries]
    # the research plan's queries are {"q": ..., "lang": ...}; plain strings are read too
    queries = [q.get("q") if isinstance(q, dict) else q for q in queries]
    found = [payload.get("reason"), payload.get("settle_with"), *queries]
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
        self._model_urls = 0            # URLs read because a proposal cited them (bounded: MAX_MODEL_URLS)
        self._pages = JsonStore(Path(settings.cache_dir) / "fetch", "page") if settings.use_cache else None

    # -- documents

    def _add(self, kind: str, *, url: str | None, path: str | None, title: str,
             text: str | None = None, error: str | None = None) -> Document:
        doc = Document(f"E{len(self.documents) + 1}", kind, url, path, short_title(title), text, error)
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
        if self.fetch and kind == "fetched" and self._model_urls >= MAX_MODEL_URLS:
            doc.error = (f"not fetched: the model gave more than {MAX_MODEL_URLS} new URLs for this article, "
                         "and each may take up to a page's time limit")
        elif self.fetch:
            self._model_urls += kind == "fetched"
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
        doc.text, doc.title = page.text, short_title(page.title) or doc.title
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
        try:
            page = fetch_page(doc.url, allow_private=self.settings.fetch_private, store=self._pages,
                              total_seconds=self.settings.page_seconds, max_bytes=self.settings.page_bytes)
        except FetchError as exc:
            doc.error = str(exc)
            return
        doc.text = page.text
        doc.title = short_title(page.title) or doc.title
        doc.date = page.date
        self._save(doc)

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
            titles = {d.id: list(dict.fromkeys(tokens(d.title)))[:TITLE_TERMS] for d in self.documents if d.text}
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
