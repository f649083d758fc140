"""Deterministic detectors: text in, findings out, no model involved.

Every span is a character offset into the decoded text (BOM removed), so
``text[f.start:f.end] == f.text`` holds whatever the line endings. Line-level
findings (boilerplate, artifacts) span a whole line without its line break;
"\\r\\n", a lone "\\r" and "\\n" are each one line break, as :func:`models.line_col`
counts them, and belong to the break, never to a span.

Detection is linear in the size of the article: line and column come from one
:class:`models.LineIndex`, and "is this offset inside an earlier finding" is a
binary search over sorted spans (see :func:`_covered`), never a scan of all of them.

Placeholders are recognised by a small grammar (an optional verb, a noun
family, pending words, an optional ``: body``) rather than a list of literal
strings, so ``[INSERT CHART: …]``, ``[GRAPHIQUE_BARRE : …]`` and
``[source?]`` are one rule each and ``[sic]`` or ``[voulons]`` never match.
Boilerplate is decided line by line from a French/English vocabulary of web
chrome, never from the seed articles' own strings, and from its neighbours: a
lone word or a title-case run (a menu, related headlines) is chrome only next to
chrome. A broken table needs a table's shape (rows of numeric cells, or text
cells that repeat), not just a run of short lines. The newsroom markers (TK, XX,
the bracket grammar) are French and English conventions and are not looked for
in an article in another language.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Callable, NamedTuple

from .models import (ARTIFACT, BOILERPLATE, BROKEN_TABLE, DANGLING_CITATION, LINE_BREAK, PLACEHOLDER,
                     Finding, LineIndex, Reference)


@dataclass(frozen=True)
class Detection:
    findings: list[Finding]       # sorted by start
    references: list[Reference]   # every entry of the reference list or footnote definitions


class Line(NamedTuple):
    start: int
    end: int      # before the line break
    text: str


def detect(text: str) -> Detection:
    """Run every detector over ``text`` (decoded, BOM removed)."""
    lines = _split_lines(text)
    index = LineIndex(text)
    references, entry_lines, label_starts = _references(lines)
    findings = _placeholders(text, index)
    findings += _dangling(text, index, references, label_starts, findings)
    findings += _artifacts(text, index, lines)
    blocked = {f.line - 1 for f in findings} | entry_lines
    findings += _web_debris(text, index, lines, blocked)
    findings.sort(key=lambda f: (f.start, f.end))
    return Detection(findings, references)


def _split_lines(text: str) -> list[Line]:
    """Lines split on "\\r\\n", "\\r" and "\\n", as :func:`models.line_col` counts them."""
    lines, pos = [], 0
    for m in LINE_BREAK.finditer(text):
        lines.append(Line(pos, m.start(), text[pos:m.start()]))
        pos = m.end()
    lines.append(Line(pos, len(text), text[pos:]))
    return lines


def _line_finding(text: str, index: LineIndex, line: Line, kind: str, subtype: str, message: str) -> Finding:
    return Finding.at(text, line.start, line.end, kind, subtype, message, lines=index)


def _covered(spans: list[tuple[int, int]]):
    """A test "is ``pos`` inside one of ``spans``" (``start <= pos < end``) in O(log n).

    Spans may overlap or nest: sorted by start, each keeps the furthest end reached so far.
    """
    spans = sorted(spans)
    starts = [s for s, _ in spans]
    reach, furthest = [], -1
    for _, e in spans:
        furthest = max(furthest, e)
        reach.append(furthest)

    def inside(pos: int) -> bool:
        i = bisect.bisect_right(starts, pos)
        return i > 0 and reach[i - 1] > pos
    return inside


def _quote(s: str, width: int = 60) -> str:
    # Normalising a prefix gives the same first characters as normalising the whole line,
    # so a huge line costs no more than a short one; mostly blank prefixes fall back to all.
    head = " ".join(s[:8 * width].split())
    s = head if len(head) > width else " ".join(s.split())
    return f"“{s if len(s) <= width else s[:width - 1] + '…'}”"


# --- Placeholders -------------------------------------------------------------------------------

# A bracketed marker that is not a Markdown link, image, reference-style link or footnote.
_BRACKET = re.compile(r"\[(?<!!\[)([^\[\]\r\n^][^\[\]\r\n]{0,400})\](?![(\[])")
_HEAD_SPLIT = re.compile(r"\s*[:|]\s*")

_PENDING = (r"NEEDED|REQUIRED|MISSING|NECESSAIRES?|REQUISE?S?|MANQUANTE?S?|ICI|HERE|"
            r"A (?:VENIR|COMPLETER|CONFIRMER|VERIFIER|DEFINIR|PRECISER|AJOUTER|INSERER|TROUVER)|"
            r"TO (?:COME|CONFIRM|VERIFY|ADD|INSERT|BE (?:DETERMINED|CONFIRMED|ADDED))")
_PENDING_RUN = re.compile(rf"(?:(?:{_PENDING})\s*)*")
_CHART_TYPES = {"bar": r"BARRES?|BATONS?|BARS?|COLONNES?|COLUMNS?|HISTOGRAMMES?",
                "pie": r"PIE|CAMEMBERTS?|SECTEURS?|CIRCULAIRE",
                "line": r"LINES?|LIGNES?|COURBES?", "area": r"AREA|AIRES?", "scatter": r"SCATTER|NUAGE"}
_CHART_TYPE = re.compile("|".join(rf"(?P<{k}>\b(?:{v})\b)" for k, v in _CHART_TYPES.items()))
_ANY_TYPE = "|".join(_CHART_TYPES.values())
# Head grammar: [verb] noun [pending...]; the first family that matches names the subtype.
_HEAD = re.compile(rf"""^(?:(?P<verb>INSERT|INSERER|AJOUTER|ADD)\s+)?(?:
  (?P<citation_needed>CITATIONS?(?=\s+(?:NEEDED|REQUIRED|NECESSAIRE|MANQUANT))|SOURCES?|REFERENCES?|
     REF\.?|CITE|NEEDS?\s+(?:A\s+)?(?:SOURCE|CITATION|REFERENCE))
 |(?P<chart>(?:(?:{_ANY_TYPE})\s+)?(?:GRAPHIQUES?|GRAPHS?|CHARTS?|DIAGRAMMES?|DIAGRAMS?|INFOGRAPHI(?:ES?|CS?)|
     HISTOGRAMMES?|CAMEMBERTS?|COURBES?|PLOTS?)(?:\s+(?:EN\s+)?(?:{_ANY_TYPE}))?)
 |(?P<table>TABLEAUX?|TABLES?)
 |(?P<image>IMAGES?|PHOTOS?|PHOTOGRAPHI(?:ES?)|PHOTOGRAPHS?|ILLUSTRATIONS?|VISUELS?|VISUALS?|PICTURES?|IMG)
 |(?P<quote>CITATIONS?|QUOTES?|QUOTATIONS?|VERBATIMS?)
 |(?P<data_needed>DONNEES?|DATA|CHIFFRES?|STATS?|STATISTI(?:QUES?|CS?)|NUMBERS?|NOMBRES?|FIGURES?|
     MONTANTS?|AMOUNTS?|POURCENTAGES?|PERCENTAGES?|DATES?|PRIX|PRICES?|INFOS?|INFORMATIONS?|DETAILS?)
 |(?P<to_complete>TBD|TBC|TBA|PLACEHOLDER|A\s+(?:COMPLETER|CONFIRMER|VERIFIER|PRECISER|DEFINIR|VENIR)|TO\s+COME)
 |(?P<todo>TODO|FIXME|A\s+FAIRE)
 |(?P<tk>TK(?:TK)*)
 |(?P<missing_figure>X{{2,}}(?:[.,]X+)?)
)(?![\w'])(?P<rest>.*)$""", re.X)
_FAMILIES = ("citation_needed", "chart", "table", "image", "quote", "data_needed", "to_complete",
             "todo", "tk", "missing_figure")

# Newsroom markers outside brackets. TK and XX are case-sensitive tokens: "TKO", "XXe siècle",
# "XXL" and "Louis XIV" are not markers; "XX %" and "XX,X milliards" are.
_INLINE = re.compile(r"""(?=[{TFÀX])   # cheap first-character test: most positions fail here
 (?:(?P<template_variable>\{\{[^{}\r\n]{1,80}\}\})
 |(?P<todo>\b(?:TODO|FIXME|À\ FAIRE)\b(?:\([^)\n]*\))?[ \t]*:[^\n\r]*)
 |(?P<tk>(?<![\w-])TK(?:TK)*(?![\w-]))
 |(?P<missing_figure>(?<![\w.,-])X{2,}(?:[.,]X+)?(?![\w-])(?!\s?(?:ème|eme|siècle|siecle|century)\b)))
""", re.X)

_MESSAGES = {
    "data_needed": "missing data to supply", "citation_needed": "source to supply", "chart": "chart to build", "table": "table to build",
    "image": "image to insert", "quote": "quote to insert", "todo": "editor's note left in the text",
    "tk": "TK marker: text to come", "missing_figure": "XX stands for a missing figure",
    "template_variable": "unfilled template variable",
}


def _normalise(head: str) -> str:
    """Upper case, accents and apostrophe variants folded, "_"/"-" as spaces: "À_COMPLÉTER" → "A COMPLETER"."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", head) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[_\-]", " ", folded.upper().replace("’", "'")).split())


def _parse_marker(content: str) -> tuple[str, dict | None] | None:
    """(subtype, payload) when the bracket content follows the placeholder grammar, else None."""
    parts = _HEAD_SPLIT.split(content.strip(), maxsplit=1)
    head, body = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    question = head.endswith("?")
    m = _HEAD.match(_normalise(head.rstrip("? ")))
    if not m:
        return None
    family = next(name for name in _FAMILIES if m[name])
    rest = m["rest"].strip()
    if rest and not m["verb"] and not _PENDING_RUN.fullmatch(rest):
        return None                     # "[Table ronde]", "[Source de revenus]": ordinary words
    if m["verb"] and rest and not body:
        body = " ".join(head.split()[-len(rest.split()):])      # "[INSERT QUOTE FROM CEO]"
    pending = question or family == "to_complete" or bool(rest and not m["verb"])
    upper = not any(c.islower() for c in head)
    if not (upper or pending or m["verb"] or (family in ("chart", "table") and body)):
        return None                     # a bare lower-case noun ("[image]") is too ambiguous
    if family == "citation_needed" and body and not pending:
        return None                     # "[SOURCE : Insee]" is an attribution, not a gap
    if family == "quote" and question:
        family = "citation_needed"      # "[citation?]"
    subtype = "data_needed" if family == "to_complete" else family
    chart_type = None
    if family == "chart":
        t = _CHART_TYPE.search(m["chart"])
        chart_type = t.lastgroup if t else None
    return subtype, (_payload(body, chart_type) if body else None)


def _payload(body: str, chart_type: str | None) -> dict:
    """Title, axis or column labels and data pairs of ``title | labels | label : value, …``."""
    sections = [s.strip() for s in body.split("|")]
    title, rest = sections[0], sections[1:]
    data = []
    if rest:
        items = [i.strip() for i in re.split(r",\s+|;\s*", rest[-1]) if i.strip()]
        if items and all(":" in i for i in items):
            rest.pop()
            data = [{"label": k.strip(), "value": v.strip()} for k, _, v in (i.partition(":") for i in items)]
    labels = [label for s in rest for label in re.split(r"\s*[:,;]\s*", s) if label]
    return {"title": title, "chart_type": chart_type, "labels": labels, "data": data}


# Newsroom conventions of French and English: in an article in another language "TK" or "XX" is an
# ordinary token ("der TK", the Techniker Krankenkasse) and an English or French bracket grammar is
# not the author's. Language-neutral markers (TODO, FIXME, {{variables}}) are found in any language.
_COVERED_ONLY = frozenset({"tk", "missing_figure", "data_needed", "citation_needed", "chart", "table", "image",
                           "quote"})


def _placeholders(text: str, index: LineIndex) -> list[Finding]:
    found = []
    covered = functools.cache(lambda: _covered_language(text))    # only asked when a marker is seen
    for m in _BRACKET.finditer(text):
        parsed = _parse_marker(m[1])
        if parsed and (parsed[0] not in _COVERED_ONLY or covered()):
            subtype, payload = parsed
            message = f"{_MESSAGES[subtype]}: {_quote(payload['title'] if payload else m[0])}"
            if payload and payload["data"]:
                message += f" ({len(payload['data'])} data points)"
            found.append(Finding.at(text, m.start(), m.end(), PLACEHOLDER, subtype, message, payload,
                                    lines=index))
    taken = _covered([(f.start, f.end) for f in found])
    for m in _INLINE.finditer(text):
        start, end = m.start(), m.start() + len(m[0].rstrip())
        if not taken(start) and (m.lastgroup not in _COVERED_ONLY or covered()):
            found.append(Finding.at(text, start, end, PLACEHOLDER, m.lastgroup,
                                    f"{_MESSAGES[m.lastgroup]}: {_quote(text[start:end])}", lines=index))
    return found


# --- References and dangling citations ----------------------------------------------------------

_ENTRY = re.compile(r"[ \t]*\[(\^[^\]\s]{1,40}|\d{1,3})\](:?)[ \t]+(\S.*?)\s*")
_REF_HEADING = re.compile(r"(?:#{1,6}\s*)?(?:notes et )?(?:r[ée]f[ée]rences|sources|notes|footnotes|"
                          r"bibliograph(?:ie|y))\s*:?", re.I)
_NUMBERED = re.compile(r"[ \t]*(\d{1,3})[.)][ \t]+(\S.*?)\s*")
_URL = re.compile(r"https?://[^\s<>\"'\])]+")
_MARKER = re.compile(r"\[(?<!!\[)(\^[^\]\s]{1,40}|\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*)\](?!\()")


def _references(lines: list[Line]) -> tuple[list[Reference], set[int], set[int]]:
    """Entries ``[1] …``, ``[1]: url``, ``[^a]: …``, and ``1. …`` under a "Références" heading.

    Returns the references, the indices of their lines and the start offsets of their labels
    (a label opening an entry is not a citation marker).
    """
    refs, entry_lines, label_starts = [], set(), set()
    in_list = False
    for i, line in enumerate(lines):
        m = _ENTRY.fullmatch(line.text)
        if m and (m[2] or not m[1].startswith("^")):
            label_starts.add(line.start + m.start(1) - 1)
            label, body = m[1], m[3]
        elif in_list and (m := _NUMBERED.fullmatch(line.text)):
            label, body = m[1], m[2]
        else:
            stripped = line.text.strip()
            in_list = bool(_REF_HEADING.fullmatch(stripped)) or (in_list and not stripped)
            continue
        url = _URL.search(body)
        start = line.start + len(line.text) - len(line.text.lstrip())
        refs.append(Reference(label, body, url[0].rstrip(".,;:") if url else None,
                              start, line.start + len(line.text.rstrip()), i + 1))
        entry_lines.add(i)
    return refs, entry_lines, label_starts


def _marker_labels(raw: str) -> list[str]:
    """``"1, 3–5"`` → ``["1", "3", "4", "5"]``; a footnote label stays as written."""
    if raw.startswith("^"):
        return [raw]
    labels = []
    for part in re.split(r"\s*[,;]\s*", raw):
        bounds = re.split(r"\s*[–-]\s*", part)
        first, last = int(bounds[0]), int(bounds[-1])
        labels += [str(n) for n in range(first, last + 1)] if 0 <= last - first < 50 else bounds
    return labels


def _dangling(text: str, index: LineIndex, refs: list[Reference], label_starts: set[int],
              placeholders: list[Finding]) -> list[Finding]:
    known = {r.label for r in refs}
    in_placeholder = _covered([(f.start, f.end) for f in placeholders])
    found = []
    for m in _MARKER.finditer(text):
        if m.start() in label_starts or in_placeholder(m.start()):
            continue
        missing = [label for label in _marker_labels(m[1]) if label not in known]
        if missing:
            subtype = "footnote" if m[1].startswith("^") else "numeric"
            message = f"no reference entry for [{'], ['.join(missing)}]"
            found.append(Finding.at(text, m.start(), m.end(), DANGLING_CITATION, subtype, message, lines=index))
    return found


# --- Generation artifacts -----------------------------------------------------------------------

_NUMBER = r"(?:(?:environ|about|approx\.?)\s|~\s?|≈\s?)?\d[\d\s.,]*"
_ARTIFACTS = re.compile(rf"""(?ix)
  (?P<word_count>\(?(?:(?:nombre\ (?:total\ )?de\ mots|compte\ de\ mots|word\ count|total\ words|words|mots)
       \s*:\s*{_NUMBER}(?:mots|words)?|(?:longueur|length)\s*:\s*{_NUMBER}\s*(?:mots|words)
       |{_NUMBER}\s*(?:mots|words))\)?\s*(?:\([^)]*\))?$)
 |(?P<assistant_chatter>(?:(?:bien\ sûr|certainly|sure|of\ course|absolutely)\s*[!,.]\s*)?
       (?:voici|here\ is|here's)\s+(?:l['’]article|votre\ article|the\ article|your\ article|the\ rewritten|
       la\ version|the\ revised)\b.*:$
   |(?:as\ an\ ai\ language\ model|as\ a\ large\ language\ model|en\ tant\ que\ (?:grand\ )?modèle\ de\ langage
       |en\ tant\ qu['’]ia,?\ je)\b.*)
""")
_ARTIFACT_MESSAGES = {"word_count": "word count left by the generator",
                      "assistant_chatter": "assistant chatter left by the generator"}


def _artifacts(text: str, index: LineIndex, lines: list[Line]) -> list[Finding]:
    found = []
    for line in lines:
        m = _ARTIFACTS.match(line.text.strip())
        if m:
            found.append(_line_finding(text, index, line, ARTIFACT, m.lastgroup,
                                       f"{_ARTIFACT_MESSAGES[m.lastgroup]}: {_quote(line.text)}"))
    return found


# --- Web debris: boilerplate lines and broken tables --------------------------------------------

_A = "['’]"
_W = r"(?:\S++\s++)"    # skip a word: "{_W}{0,9}?X" finds X among the first words, trying word starts only
_CHROME = re.compile(rf"""(?ix)
  (?P<comments>(?:💬\s*)?(?:\d+\s+)?(?:comments?|commentaires?)\s*(?:\(\d+\))?\s*:?$
   |(?:click\ to\ comment|leave\ a\ (?:reply|comment)|post\ (?:a\ )?comment|add\ a\ comment|write\ a\ comment
      |laisse[rz]\ un\ commentaire|ajouter\ un\ commentaire|écrire\ un\ commentaire|no\ comments\ yet
      |be\ the\ first\ to\ comment|soyez\ le\ premier\ à\ commenter)\b.{{0,60}}$
   |(?:your\ email\ address\ will\ not\ be\ published|votre\ adresse\ (?:e-?mail|électronique|de\ messagerie)
      \ ne\ sera\ pas\ publiée|required\ fields\ are\ marked|les\ champs\ obligatoires\ sont\ indiqués).{{0,120}}$
   |(?:comments\ are\ (?:coming\ soon|closed|disabled)|les\ commentaires\ sont\ (?:fermés|désactivés)).{{0,120}}$
   |{_W}{{0,6}}?(?:feel\ free\ to|don{_A}t\ hesitate\ to|n{_A}hésitez\ pas\ à)\s{_W}{{0,6}}?
      (?:feedback|vos\ (?:avis|retours|commentaires)|your\ (?:thoughts|comments))\b.{{0,20}}$)
 |(?P<metadata>(?:published|posted|updated|last\ updated|publiée?|mis\ à\ jour|modifiée?)
      (?:\s+(?:on|le|at|by|par))?\s*:?$
   |(?:\d+\s*min(?:utes?)?\s+(?:read|de\ lecture)|(?:temps\ de\ )?lecture\s*:\s*\d+\s*min(?:utes?)?
      |reading\ time\s*:\s*\d+\s*min(?:utes?)?)$)
 |(?P<related>(?:à\ lire\ (?:aussi|également|ensuite)|lire\ (?:aussi|également)|voir\ aussi|à\ voir\ aussi
      |read\ (?:also|next|more)|see\ also|also\ read|related)\s*(?:[:\-–—]\s*.{{0,200}})?$)
 |(?P<navigation>(?:accueil|home|menu|skip\ to\ (?:main\ )?content|aller\ au\ contenu(?:\ principal)?|back\ to\ top
      |retour\ en\ haut(?:\ de\ (?:la\ )?page)?|(?:previous|next)\ (?:article|post|story)|article\ (?:précédent|suivant)
      |lire\ la\ suite|voir\ plus|see\ more|load\ more|afficher\ plus|most\ read(?:\ posts|\ articles|\ stories)?
      (?:\ this\ (?:week|month))?|les\ (?:articles\ )?plus\ lus(?:\ (?:de\ la\ semaine|du\ mois))?|most\ popular
      |related\ (?:posts|articles|stories)|articles?\ similaires|sur\ le\ même\ sujet|you\ (?:may|might)\ also\ like
      |vous\ aimerez\ aussi|sign\ in|log\ ?in|log\ ?out|se\ connecter|se\ déconnecter|connexion|mon\ compte
      |my\ account|s{_A}inscrire|sign\ up)\s*[:»›>]?$
   |(?:tags?|mots-clés|étiquettes|catégories|categories)\s*:.{{0,200}}$
   |(?:[^>»›\n]{{1,60}}+(?<=\s)[>»›]\s){{2,}}[^>»›\n]{{1,60}}$)
 |(?P<search>(?:rechercher|search|search\ for|rechercher\ sur\ le\ site|search\ this\ site|tapez\ votre\ recherche
      |type\ (?:your\ search|here\ to\ search)|que\ recherchez-vous)\s*(?:…|\.\.\.)?\s*[:?]?$)
 |(?P<cookies>(?:tout\ accepter|accept\ all(?:\ cookies)?|accepter(?:\ et\ fermer|\ tout|\ les\ cookies)?
      |tout\ refuser|refuser(?:\ tout)?|reject\ all|j{_A}accepte|ok,?\ j{_A}ai\ compris|i\ agree|got\ it!?
      |manage\ (?:preferences|cookies)|gérer\ (?:mes\ |les\ )?(?:préférences|cookies)|paramètres\ des\ cookies
      |cookie\ settings)$
   |{_W}{{0,12}}?(?:nous|we|ce\ site|this\ (?:web)?site|notre\ site|our\ (?:web)?site)\s{_W}{{0,8}}?cookies?\b.{{0,200}}$
   |{_W}{{0,12}}?cookies?\W+{_W}{{0,12}}?(?:accept|consent|paramétr|préférences|preferences)\w*.{{0,120}}$)
 |(?P<social>(?:connect\ with\ us|follow\ us|suivez[-\ ]nous|rejoignez[-\ ]nous|share(?:\ this(?:\ article|\ post|\ story)?)?
      |partager(?:\ cet\ article|\ l{_A}article)?|partagez(?:\ cet\ article)?|tweet(?:er)?|imprimer|print
      |copy\ link|copier\ le\ lien|envoyer\ par\ e-?mail|email\ this)(?:\s+(?:on|sur)\s+[\w\ ,&]{{1,40}})?\s*:?$
   |(?:(?:facebook|twitter|x|linkedin|instagram|whatsapp|pinterest|youtube|tiktok|telegram|reddit|e-?mail|messenger
      |threads|bluesky)\s*[,|·•/]?\s*){{2,}}$
   |{_W}{{0,10}}?(?:likez|like\ us|aimez[-\ ]nous|suivez[-\ ]nous|follow\ us)\s{_W}{{0,6}}?
      (?:facebook|twitter|linkedin|instagram|youtube|tiktok|x)\b.{{0,20}}$)
 |(?P<advertisement>(?:advertisement|advertising|publicité|pub|sponsored(?:\ content)?|contenu\ sponsorisé|sponsorisé
      |promoted|paid\ (?:post|content)|ad)\s*$)
 |(?P<newsletter>newsletters?\b(?:\s+\S+){{0,5}}\s*$
   |(?:inscrivez-vous|abonnez-vous|sign\ up|subscribe|register|s{_A}inscrire|s{_A}abonner)\b.{{0,40}}\bnewsletters?\b.{{0,80}}$
   |(?:recevez|receive|get)\b.{{0,100}}\b(?:chaque\ (?:matin|jour|semaine|soir)|tous\ les\ (?:matins|jours|soirs)
      |every\ (?:morning|day|week|evening)|dans\ votre\ boîte|in\ your\ inbox|par\ e-?mail|by\ e-?mail)\b.{{0,100}}$)
 |(?P<subscription>(?:abonnez-vous|je\ m{_A}abonne|s{_A}abonner|subscribe(?:\ now|\ today)?|become\ a\ (?:member|subscriber)
      |déjà\ abonné|already\ (?:a\ )?subscriber|offre\ d{_A}abonnement|essai\ gratuit|free\ trial)\b(?:\s+\S+){{0,8}}\s*[!?:]?$
   |(?={_W}{{0,10}}?\d+(?:[.,]\d+)?\s?(?:€|\$|£|euros?))
      {_W}{{0,14}}?(?:ttc|au\ lieu\ de|instead\ of|numéros|issues|sans\ engagement|par\ mois|per\ month
      |\S*/\s?(?:mois|month|an|year))\b[^.]{{0,60}}$)
 |(?P<contact>(?:contact(?:ez[-\ ]nous)?|contact\ us|get\ in\ touch|nous\ contacter|write\ to\ us|écrivez[-\ ]nous)
      \s*(?:[:\-–—].{{0,300}})?$
   |{_W}{{0,10}}?(?:feel\ free\ to|don{_A}t\ hesitate\ to|n{_A}hésitez\ pas\ à)\s+(?:contact|reach|get\ in\ touch|write
      |nous\ contacter|nous\ écrire)\b.{{0,80}}$
   |(?:phone|telephone|tél(?:éphone)?|tel|fax|mobile|portable)\.?\s*:?\s*\+?\(?\d[\d\ ().-]{{6,}}\d$
   |(?:e-?mail|phone|tél(?:éphone)?|tel|address|adresse|fax)\s*:
      (?=.{{0,300}}(?:@|\(a\)|\+?\d[\d\ .-]{{7,}}\d|\b\d{{5}}\b)).{{0,300}}$)
 |(?P<legal>(?:copyright\b|©|\(c\)\s*\d{{4}}).{{0,300}}$
   |{_W}{{0,12}}?(?:tous\ droits\ réservés|all\ rights\ reserved)\b.{{0,100}}$
   |(?:(?:privacy\ policy|politique\ de\ confidentialité|terms\ (?:and|&)\ conditions|terms\ of\ (?:use|service)
      |conditions\ générales(?:\ d{_A}utilisation|\ de\ vente)?|mentions\ légales|cgu|cgv|plan\ du\ site|sitemap
      |legal\ notice|cookie\ policy|politique\ (?:de\ )?cookies)\s*[-|·•/]?\s*){{1,8}}$)
 |(?P<about>(?:about\ us|à\ propos(?:\ de\ nous)?|qui\ sommes[-\ ]nous\s*\??)\s*(?:[:\-–—|]\s*.{{0,200}})?$
   |(?:we\ are|nous\ sommes)\s+(?:a|an|the|un|une|le|la|les)\b.{{0,200}}?\b(?:magazine|media|médias?|site|website
      |blog|publication|journal|newsroom|platform|plateforme|agency|agence)\b)
 |(?P<image_caption>[^\W_][\w-]*_[\w-]*$|\S+\.(?:jpe?g|png|gif|webp|svg|avif)$
   |(?:crédits?(?:\ photos?)?|photo(?:\ credit)?|image\ credit|credit|source\ (?:image|photo)|photos?|images?
      |pictures?|illustrations?|légende|caption)\s*:\s*\S.{{0,200}}$
   |[^()\n]{{1,200}}\([^()\n]{{0,60}}\b(?:photos?|images?|credits?|crédits?|getty|shutterstock|istock)\b[^()\n]{{0,60}}\)\s*$)
""")
_CHROME_LABELS = {
    "comments": "comment widget", "metadata": "date or reading-time widget", "related": "teaser for another article",
    "navigation": "navigation", "search": "search box", "cookies": "cookie banner", "social": "share or follow buttons",
    "advertisement": "advertisement label", "newsletter": "newsletter prompt", "subscription": "subscription offer",
    "contact": "publisher contact block", "legal": "copyright or legal footer", "about": "publisher 'about us' block",
    "image_caption": "image alt text or caption",
}
# Widget labels: a short line built from a family's word and the vocabulary of web interfaces
# ("Back To Main Menu", "View Comments", "Share this with Messenger", "Voir les commentaires").
# Kept as data: the family words name the subtype; the interface words may stand around them.
_WIDGET_FAMILIES = {
    "navigation": "menu menus navigation nav login logout log sign register connexion connecter déconnecter "
                  "inscription compte account",
    "search": "search searches rechercher recherche",
    "comments": "comment comments commentaire commentaires disqus",
    "social": "share shares sharing partager partagez partage partages tweet follow suivez",
    "cookies": "cookie cookies",
    "newsletter": "newsletter newsletters infolettre",
    "subscription": "subscribe subscriber subscribers subscription abonnez-vous abonner abonné abonnés abonnement",
    "related": "related",
    "legal": "privacy confidentialité terms copyright © cgu cgv",
    "advertisement": "advertisement advertisements advertising publicité ads",
}
_WIDGET_WORD = {w: family for family, words in _WIDGET_FAMILIES.items() for w in words.split()}
_INTERFACE_WORDS = frozenset("""
    back to go main top bottom view show hide load loading more all see close open toggle expand collapse
    submit cancel reply post posts add leave write read your our my this the a an with via by on in of for
    from here now us join get sign up in out free daily weekly email e-mail mail sms link permalink options
    option extra panel settings setting preferences policy policies notice statement rights overview
    agreement information info center centre form box bar field button icon site web page pages title
    content excerpt archive advanced new updated recent latest popular powered count tags topics stories
    articles links footer header sub primary secondary mobile widget quick manage required and or & + -
    – — / | : › ‹ » « > < → ( ) … you we it is be de
    retour au aux à la le les l' menu principal voir afficher masquer plus tous toutes tout fermer ouvrir
    notre nos votre vos mon ma mes ce cet cette avec par sur en du des ici lien paramètres préférences
    politique gestion gérer conditions générales d'utilisation utilisation mentions légales informations
    formulaire titre contenu archives avancée nouveau nouvelle récents populaires et ou un une
    facebook twitter x linkedin instagram whatsapp pinterest youtube tiktok telegram reddit messenger
    threads bluesky google google+ flipboard tumblr snapchat rss""".split())
_WIDGET_TOKEN = re.compile(r"[\w'’+&©-]+|[^\w\s]")


def _widget(s: str) -> tuple[str | None, bool]:
    """(family, pure) of a short line holding a family's word ("Privacy Notice" → legal): pure when
    every other word is an interface word or a count; (None, False) without a family word or when
    the line is long or a sentence. A pure line of two words or more is a widget on its own; an
    impure one, or a lone word ("Cookies"), is a widget only next to other chrome."""
    if len(s) > 120:                    # eight words at most: a paragraph is never tokenised
        return None, False
    tokens = [t.lower().replace("’", "'") for t in _WIDGET_TOKEN.findall(s)]
    words = [t for t in tokens if t[0].isalnum() or t in "©&+"]
    if not words or len(words) > 8 or (s.endswith((".", "?", "!")) and len(words) > 5):
        return None, False
    family = next((_WIDGET_WORD[t] for t in words if t in _WIDGET_WORD), None)
    if family is None:
        return None, False
    pure = all(t in _WIDGET_WORD or t in _INTERFACE_WORDS or t.isdigit() for t in tokens)
    return family, pure and len(words) >= 2


_LIST_ITEM = re.compile(r"\s*(?:[-*+•‣◦▪]|\d{1,3}[.)])\s")

# Alt text: a standalone line describing a scene ("man holding a phone"), not a sentence.
_WORD = re.compile(r"[^\W\d_]+")
_STOP = {"en": frozenset("the and of with while at in to for from by this that its his her their an is are was were".split()),
         "fr": frozenset("le la les des du de et un une dans pour sur avec est sont que qui au aux ce cette ses son par "
                         "pas d l".split())}
_COVERED_WORDS = _STOP["en"] | _STOP["fr"]
# Function words of German, Spanish, Italian, Portuguese and Dutch that are not French or English words.
_OTHER_WORDS = frozenset("""der die das und ist nicht mit von den dem ein eine einer für auf sich auch zu
    el los las y del por con una es lo como su pero di che della sono nel alla gli
    os um uma não em da dos das para com het een dat zijn voor niet""".split())
_LANGUAGE_SAMPLE = 50_000       # characters: enough to tell the language, and detection stays linear
_AUX = {"en": frozenset("is are was were has have had will would can could should may might must does did do".split()),
        "fr": frozenset("est sont était étaient sera seront a ont avait avaient peut peuvent doit doivent fait font".split())}
_PERSONAL = frozenset("i im ive ll you your we our my me je j tu nous vous mon ma mes notre votre".split())
_SENTENCE_END = re.compile(r"[.!?…][)\]’'\"”»]*(?:\s|$)")
_NOT_PARTICIPLES = frozenset("during morning evening nothing something anything everything thing king ring spring "
                             "string ceiling".split())
_PARTICIPLE = re.compile(r"\w{2,}(?:ing|ant)\b", re.I)
_SCENE = re.compile(r"\b(?:man|men|woman|women|person|people|child(?:ren)?|boy|girl|hands?|laptop|computer|smartphone"
                    r"|phone|screen|desk|office|background|robot|team|homme|hommes|femmes?|personnes?|enfants?|mains?"
                    r"|ordinateur|écran|bureau|fond|équipe)\b", re.I)


def _language(words: list[str]) -> str | None:
    en = sum(w in _STOP["en"] for w in words)
    fr = sum(w in _STOP["fr"] for w in words)
    return "en" if en > fr else "fr" if fr > en else None


def _covered_language(text: str) -> bool:
    """Whether ``text`` may be French or English, the languages whose newsroom markers are known.

    Only positive evidence makes it another language: that language's function words ("der",
    "und", "el", "della", "não", "het") outnumber the French and English ones, make 5 % of the
    words, five at least, and three different ones at least. A short text counts as covered.
    """
    words = _WORD.findall(text[:_LANGUAGE_SAMPLE].lower())
    other = [w for w in words if w in _OTHER_WORDS]
    return (len(other) < max(5, 0.05 * len(words)) or len(set(other)) < 3
            or len(other) <= sum(w in _COVERED_WORDS for w in words))


def _scene_phrase(tokens: list[str]) -> bool:
    """Whether a line opens as a noun phrase with a participle ("Happy woman using a laptop …"):
    a participle among the first five words, and no finite verb in "-ed" before it ("Police
    arrested six people during …" is a sentence, whatever it ends with). A line that ends in a
    full stop must open so, and hold no comma ("Following the arrest, a lawyer asked …")."""
    for t in tokens[:5]:
        word = t.strip(".,;:()'’").lower()
        if _PARTICIPLE.fullmatch(word) and word not in _NOT_PARTICIPLES:
            return True
        if len(word) > 4 and word.endswith("ed"):
            return False
    return False


def _is_alt_text(s: str, doc_language: Callable[[], str | None]) -> bool:
    """A short caption-like line: a noun phrase with a participle ("woman holding a phone"), no
    auxiliary verb, not Title Case, and either a scene noun ("woman", "écran") or a language other
    than the article's. A sentence is body text however alone it stands: one that ends in a full
    stop (finite verb and all), speaks in the first or second person, or quotes someone."""
    tokens = s.split()
    if not 3 <= len(tokens) <= 25 or s[-1] in "?!:" or 2 * sum(t[0].isupper() for t in tokens) > len(tokens):
        return False
    if _SENTENCE_END.search(s.rstrip(". ")) or any(q in s for q in "“”«»\"") \
            or (s.endswith(".") and ("," in s or not _scene_phrase(tokens))):
        return False
    words = _WORD.findall(s.lower())
    language = _language(words)
    if language is None or _AUX[language].intersection(words) or _PERSONAL.intersection(words) \
            or not _PARTICIPLE.search(s):
        return False
    return bool(_SCENE.search(s)) or language != doc_language()


# --- Broken tables: rows that share a table's shape -----------------------------------------------

# Where a list item's prose starts ("Brazil (Group C): 21st", "July 12 -- Dayton, OH", "5 catches,
# 1 touchdown"): cells are counted before it. A comma inside a number ("$1,299.00") is no break.
_PROSE_BREAK = re.compile(r"[,;:]\s|\s\(|\s[-–—]{1,2}\s")
_LIST_PUNCTUATION = re.compile(r"[,;:]\s|\s[-–—]{1,2}\s")
_NUMERIC_CELL = re.compile(r"[-+±(]?[$€£¥]?\d")
# Function words: common in a headline or a sentence, rare in a table's cells.
_TABLE_WORDS = _STOP["en"] | _STOP["fr"] | frozenset("""a on or as it be been has have had not but if into over after
    about than so you your we our he she they à en ou ne se sa il elle ils leur""".split())


def _table_row(s: str) -> bool:
    """A line of cells run together: 3-20 words, at least two cell starts (capital or digit) after
    the first word, and neither sentence punctuation at its end, nor Markdown table pipes, nor the
    separators of a list item's prose ("Brazil (Group C): 21st", "July 12 -- Dayton, OH")."""
    words = s.split()
    return (3 <= len(words) <= 20 and s[-1] not in ".!?:;,…»”\"" and "|" not in s
            and not _LIST_PUNCTUATION.search(s)
            and sum(w[0].isupper() or w[0].isdigit() for w in words[1:]) >= 2)


def _numeric_cells(s: str) -> int:
    """Numeric cells before the row's prose starts, when the row can be a table row (short, with
    few function words, no pipes); else 0. "QB Sam Porter 64 100% 2 touchdowns, 1 interception." → 3."""
    if len(s) > 300:
        return 0
    words = s.split()
    if not 2 <= len(words) <= 25 or "|" in s or s[-1] in "?!:":
        return 0
    cells = _PROSE_BREAK.split(s, maxsplit=1)[0].split()
    if 5 * sum(w.lower() in _TABLE_WORDS for w in cells) > len(cells):
        return 0                        # "Copper rose 0.86% to $5,880.00 a tonne." is a sentence
    return sum(bool(_NUMERIC_CELL.match(w)) for w in cells)


def _header_row(s: str) -> bool:
    """Column names above numeric rows: 2-12 short words, no figure, no sentence end."""
    words = s.split()
    return (2 <= len(words) <= 12 and s[-1] not in ".!?:;,…»”\"" and "|" not in s
            and _numeric_cells(s) == 0 and max(len(w) for w in words) <= 15)


def _cells_repeat(rows: list[str]) -> bool:
    """Text cells share a table's shape when a row repeats a value of its own ("Propriétaire …
    Propriétaire", "San Francisco San Francisco", "5 GB 100 GB") in half the rows or more, and
    function words stay rare (a headline reads "… to Rebuild the Old Pier"; a row reads "Siège
    Paris San Francisco"). Words shared between rows don't count: menu items share theirs ("Fox
    News Shop", "Fox News Radio"), and so do the items of a list. A row scraped twice over ("Best
    deals Best deals") repeats everything and counts for nothing."""
    tokens = [[w.strip("()[],.;:'’").lower() for w in r.split()] for r in rows]
    words = [t for row in tokens for t in row]
    if 10 * sum(w in _TABLE_WORDS for w in words) > len(words):
        return False
    repeating = 0
    for row in tokens:
        half = len(row) // 2
        if len(row) % 2 == 0 and row[:half] == row[half:]:
            continue
        counts = Counter(t for t in row if len(t) > 1 and t not in _TABLE_WORDS)
        repeating += any(n > 1 for n in counts.values())
    return 2 * repeating >= len(rows) and repeating >= 2


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """[start, end) of each run of true flags."""
    runs, start = [], None
    for k, flag in enumerate(flags + [False]):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append((start, k))
            start = None
    return runs


def _tables(stripped: list[str], rows: list[int]) -> list[tuple[int, int]]:
    """(first, last) line of each broken table among ``rows``, the candidate lines in order.

    Candidates are grouped into runs of lines with nothing but blank lines between them (a scraper
    may put a blank line between rows). In a run, three or more rows with two numeric cells or more
    each are a table, with the header line above them (under a header, two rows of the same three
    numeric cells or more are enough: a stock ticker); three or more text rows are a table when
    their cells repeat (:func:`_cells_repeat`). A run of menu items, headlines or list items whose
    bullets were lost has neither shape.
    """
    found: list[tuple[int, int]] = []
    groups: list[list[int]] = []
    for i in rows:
        if groups and all(not stripped[j] for j in range(groups[-1][-1] + 1, i)):
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in groups:
        numeric = [_numeric_cells(stripped[i]) >= 2 for i in group]
        text_row = [_table_row(stripped[i]) for i in group]
        taken = [False] * len(group)
        for k, j in _runs(numeric):
            header = k > 0 and _header_row(stripped[group[k - 1]])
            cells = {_numeric_cells(stripped[i]) for i in group[k:j]}
            if j - k >= 3 or (j - k == 2 and header and len(cells) == 1 and min(cells) >= 3):
                first = k - 1 if header else k
                found.append((group[first], group[j - 1]))
                taken[first:j] = [True] * (j - first)
        for k, j in _runs([t and not n for t, n in zip(text_row, taken)]):
            if j - k >= 3 and _cells_repeat([stripped[i] for i in group[k:j]]):
                found.append((group[k], group[j - 1]))
    found.sort()
    return found


def _next_to_chrome(widgets: dict[int, str], chrome: dict[int, str], nonblank: list[int]) -> None:
    """Add to ``chrome`` each line of ``widgets`` whose nonblank neighbour is chrome, forwards then
    backwards, so that a run of them next to chrome is taken whole."""
    for order in (nonblank, nonblank[::-1]):
        previous = None
        for i in order:
            if i in widgets and previous in chrome:
                chrome[i] = widgets[i]
            previous = i


def _title_line(s: str) -> bool:
    """A menu item or a headline: 1-14 words, most of them capitalised, no sentence end."""
    if len(s) > 200:
        return False
    words = s.split()
    return (len(words) <= 14 and s[-1] not in ".;,:" and 2 * sum(w[0].isupper() or w[0].isdigit() for w in words)
            >= len(words))


def _link_lists(stripped: list[str], candidates: set[int], chrome: dict[int, str], nonblank: list[int]) -> None:
    """Menus and runs of related headlines: two or more title lines in a row (:func:`_title_line`)
    under or above a navigation or "related" line ("Menu", "Related Stories", "Back To Main Menu"),
    or with chrome on both sides. They take that line's subtype; without one, short items are
    navigation and longer ones related headlines. A list in the body has no such neighbour."""
    run: list[int] = []
    for pos, i in enumerate(nonblank + [-1]):
        if i in candidates and i not in chrome and _title_line(stripped[i]):
            run.append(pos)
            continue
        if len(run) >= 2:
            before = nonblank[run[0] - 1] if run[0] > 0 else None
            after = nonblank[run[-1] + 1] if run[-1] + 1 < len(nonblank) else None
            sides = [chrome.get(before), chrome.get(after)]
            anchor = next((t for t in sides if t in ("navigation", "related")), None)
            if anchor or all(sides):
                items = [nonblank[p] for p in run]
                mean = sum(len(stripped[j].split()) for j in items) / len(items)
                near, far = (0, -1) if sides[0] else (-1, 0)
                if len(stripped[items[near]].split()) > 4:
                    subtype = "related"                 # headlines under "Related Stories"
                else:
                    subtype = anchor or ("navigation" if mean <= 4 else "related")
                    if not all(sides):
                        # Menu items are short: on the side away from the menu's label, longer
                        # lines are what the menu leads to (the article's title, a dateline).
                        keep = [len(stripped[j].split()) <= 6 for j in items]
                        last = len(keep) - 1 - keep[::-1].index(True) if far == -1 else keep.index(True)
                        items = items[:last + 1] if far == -1 else items[last:]
                for j in items:
                    chrome[j] = subtype
        run = []


def _web_debris(text: str, index: LineIndex, lines: list[Line], blocked: set[int]) -> list[Finding]:
    """Boilerplate lines and broken tables; ``blocked`` lines (findings, references) are left alone.

    Titles, headings and body text carry none of the chrome cues; list items and Markdown headings
    are skipped outright. A short fragment with no cue of its own that starts in lower case ("on"
    after "Published") continues a widget, so it is chrome when the lines on both sides of it are;
    a title or heading starts with a capital and is never taken this way.
    """
    stripped = [line.text.strip() for line in lines]
    doc_language = functools.cache(lambda: _language(_WORD.findall(text.lower())))   # only if a caption needs it
    candidates = [i for i, s in enumerate(stripped) if s and i not in blocked and s[0] != "#"
                  and not _LIST_ITEM.match(lines[i].text)]
    chrome: dict[int, str] = {}
    for i in candidates:
        m = _CHROME.match(stripped[i])
        if m:
            chrome[i] = m.lastgroup
        elif (i == 0 or not stripped[i - 1]) and (i + 1 == len(lines) or not stripped[i + 1]) \
                and _is_alt_text(stripped[i], doc_language):
            chrome[i] = "image_caption"
    widgets = {}
    for i in candidates:
        if i not in chrome:
            family, pure = _widget(stripped[i])
            if pure:
                chrome[i] = family
            elif family and len(stripped[i].split()) <= 6:
                widgets[i] = family
    nonblank = [i for i, s in enumerate(stripped) if s]
    _next_to_chrome(widgets, chrome, nonblank)
    _link_lists(stripped, set(candidates), chrome, nonblank)

    found, in_tables = [], set()
    for first, last in _tables(stripped, [i for i in candidates if i not in chrome]):
        rows = [i for i in range(first, last + 1) if stripped[i]]
        found.append(Finding.at(text, lines[first].start, lines[last].end, BROKEN_TABLE, "run_together",
                                f"table of {len(rows)} rows whose column separators were lost: "
                                f"{_quote(lines[first].text)}", lines=index))
        in_tables.update(range(first, last + 1))

    fragments = {}
    for before, i, after in zip(nonblank, nonblank[1:], nonblank[2:]):
        if before in chrome and after in chrome and i not in chrome and stripped[i][0].islower() \
                and len(stripped[i].split()) <= 8 and i not in blocked and i not in in_tables:
            fragments[i] = chrome[before]
    for i, subtype in sorted({**chrome, **fragments}.items()):
        found.append(_line_finding(text, index, lines[i], BOILERPLATE, subtype,
                                   f"scraped {_CHROME_LABELS[subtype]}: {_quote(lines[i].text)}"))
    return found
