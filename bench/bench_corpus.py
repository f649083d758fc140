"""Detection on real scraped pages: the article-extraction benchmark's 181 news and blog pages.

Fetch https://github.com/scrapinghub/article-extraction-benchmark yourself and point this script
at a folder holding its ``html/*.html.gz`` and ``ground-truth.json`` (the pages are never to be
committed here)::

    .venv/bin/python bench/bench_corpus.py DATA_DIR [--layout lines|blank|both] [--json OUT]
    .venv/bin/python bench/bench_corpus.py DATA_DIR --sample 64 --seed 15   # findings to label
    .venv/bin/python bench/bench_corpus.py DATA_DIR --tables                # candidate real tables

Each page becomes text the way a naive scraper makes it (:func:`blocks`): the visible text of every
block-level element, one block per line (layout ``lines``) or with a blank line between blocks
(layout ``blank``). Each block is labelled body / not body from the page's ``articleBody``
(:func:`label_body`), then the text goes through ``rewriter.detect.detect`` and
``rewriter.check.exit_status`` exactly as ``rewriter check`` would run them. The report gives, per
layout and per kind/subtype, findings per page, how many touch body lines, how many touch full body
lines (≥ 5 words), every blocking finding (all these pages are published, so each one is a false
alarm), exit codes, time, the recall of boilerplate on short chrome lines by word family, and table
precision/recall against the hand labels in ``bench/corpus_labels.json``.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import json
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

from lxml import html as lxml_html
from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewriter.check import exit_status  # noqa: E402
from rewriter.detect import detect  # noqa: E402
from rewriter.models import BLOCKING_KINDS, BOILERPLATE, BROKEN_TABLE  # noqa: E402

LABELS = Path(__file__).with_name("corpus_labels.json")

# --- HTML to text, as a naive scraper does it ---------------------------------------------------

# Elements whose content is never visible text.
DROP = frozenset("script style noscript template svg head iframe object select textarea".split())
# Elements that start a new block. Table cells are inline (a row's cells run together, joined by a
# space: the "separators lost" of a broken table); list items are blocks without their bullet.
BLOCK = frozenset("""address article aside blockquote body br dd details dialog div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li main nav ol p pre section
    summary table tbody thead tfoot tr ul caption""".split())


def blocks(page: bytes) -> list[str]:
    """Visible text of each block-level element, whitespace collapsed, empty blocks dropped."""
    root = lxml_html.document_fromstring(page, parser=lxml_html.HTMLParser(encoding="utf-8"))
    out: list[str] = []
    buf: list[str] = []
    dropped = 0

    def flush() -> None:
        s = " ".join("".join(buf).split())
        if s:
            out.append(s)
        buf.clear()

    stack = [(root, False)]          # not etree.iterwalk: it skips comments and their tails
    while stack:
        el, closing = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else None      # comments, processing instructions
        if not closing:
            if tag in DROP:
                dropped += 1
            elif not dropped and tag:
                if tag in BLOCK:
                    flush()
                if tag in ("td", "th"):
                    buf.append(" ")
                buf.append(el.text or "")
            stack.append((el, True))
            stack.extend((child, False) for child in reversed(el))
        else:
            if tag in DROP:
                dropped -= 1
            elif not dropped and tag in BLOCK:
                flush()
            if not dropped:
                buf.append(el.tail or "")
    flush()
    return out


def layout(page_blocks: list[str], name: str) -> tuple[str, list[int]]:
    """The article text and the start offset of each block in it."""
    sep = "\n" if name == "lines" else "\n\n"
    starts, pos = [], 0
    for b in page_blocks:
        starts.append(pos)
        pos += len(b) + len(sep)
    return sep.join(page_blocks) + "\n", starts


# --- Body labels from the ground truth ----------------------------------------------------------

def normalise(s: str) -> str:
    """NFKC, case folded, every run of non-word characters (punctuation, quotes, dashes) one space."""
    return " ".join(re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", s).casefold()).split())


FULL = 5          # words: a "full" line, matched anywhere in the body, fuzzily
FUZZ = 90         # rapidfuzz partial_ratio threshold for full lines not found verbatim
GAP = 40          # characters: a short line is body only where the body text it continues left off


def label_body(page_blocks: list[str], article_body: str) -> list[bool]:
    """Whether each block is article body.

    With line and body both normalised (:func:`normalise`), a block is body when
    (a) it is a whole paragraph of the articleBody (a subhead, a short paragraph), or
    (b) it has ≥ FULL words and occurs in the body verbatim, or fuzzily (partial_ratio ≥ FUZZ, no
        longer than the body), or
    (c) it is shorter and occurs in the body within GAP characters after the place where the
        previous body block ended (a fragment of a paragraph that inline markup split).
    Short lines are never matched anywhere else: "Share" or "Menu" occur in many bodies as words.
    """
    body = " " + normalise(article_body) + " "
    paragraphs = {normalise(p) for p in article_body.split("\n")} - {""}
    labels, cursor = [], 0
    for b in page_blocks:
        n = normalise(b)
        hit = None
        if n in paragraphs:
            hit = body.find(f" {n} ", max(0, cursor - 1))
            hit = hit if hit >= 0 else body.find(f" {n} ")
            end = hit + len(n) + 1
        elif len(b.split()) >= FULL:
            hit = body.find(f" {n} ")
            end = hit + len(n) + 1
            if hit < 0 and len(n) < len(body):
                al = fuzz.partial_ratio_alignment(n, body, score_cutoff=FUZZ)
                hit, end = (al.dest_start, al.dest_end) if al else (-1, 0)
        elif n:
            hit = body.find(f" {n} ", max(0, cursor - 1), cursor + GAP + len(n) + 2)
            end = hit + len(n) + 1
        ok = hit is not None and hit >= 0
        if ok:
            cursor = end
        labels.append(ok)
    return labels


# --- Chrome word families -----------------------------------------------------------------------

CHROME_WORDS = 8  # a chrome line is short: at most this many words
FAMILIES = {name: re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.I) for name, words in {
    "menu": r"menus?",
    "search": r"search|rechercher?",
    "comments": r"comments?|commentaires?",
    "share": r"share|shares|partager|partagez",
    "cookies": r"cookies?",
    "newsletter": r"newsletters?",
    "subscribe": r"subscribe|abonnez-vous|s['’]abonner",
    "sign_in": r"sign[ -]?in|log[ -]?in",
    "follow_us": r"follow us|suivez-nous",
    "advertisement": r"advertisement|publicité",
    "related": r"related|lire aussi",
    "read_more": r"read more|lire la suite",
    "privacy": r"privacy",
    "terms": r"terms|mentions légales",
    "copyright": r"copyright|all rights reserved|tous droits réservés|©",
}.items()}


def families(s: str) -> list[str]:
    if len(s.split()) > CHROME_WORDS:
        return []
    return [name for name, rx in FAMILIES.items() if rx.search(s)]


# --- Hand labels --------------------------------------------------------------------------------

def row_hash(row: str) -> str:
    return hashlib.sha256(normalise(row).encode("utf-8")).hexdigest()[:12]


def rows_of(text: str) -> list[str]:
    return [r for r in (line.strip() for line in text.split("\n")) if r]


def label_key(page: str, text: str) -> str:
    """Page id + hash of the finding's rows, the same in both layouts: blank lines don't count."""
    digest = hashlib.sha256("\n".join(normalise(r) for r in rows_of(text)).encode("utf-8")).hexdigest()
    return f"{page[:16]}:{digest[:16]}"


def same_rows(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard overlap of two row-hash sets: how a label is matched again after the rows move."""
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0


def load_labels() -> dict[str, Any]:
    return json.loads(LABELS.read_text("utf-8")) if LABELS.exists() else {"findings": {}, "expected_tables": []}


def match_label(labels: dict[str, Any], page: str, rows: list[str]) -> dict | None:
    """The hand label of a table finding: same key, else the labelled finding on the page that
    shares the most rows (Jaccard ≥ 0.5)."""
    key = label_key(page, "\n".join(rows))
    if key in labels["findings"]:
        return labels["findings"][key]
    hashes = [row_hash(r) for r in rows]
    best = max((e for k, e in labels["findings"].items() if k.startswith(page[:16])),
               key=lambda e: same_rows(e["rows"], hashes), default=None)
    return best if best and same_rows(best["rows"], hashes) >= 0.5 else None


# --- The run ------------------------------------------------------------------------------------

def short(s: str, width: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= width else s[:width - 1] + "…"


def run_layout(pages: dict[str, list[str]], body: dict[str, list[bool]], name: str,
               labels: dict[str, Any]) -> dict[str, Any]:
    by_sub: dict[str, Counter] = defaultdict(Counter)
    blocking, exits, tables, on_body = [], Counter(), [], defaultdict(list)
    chrome_lines, chrome_hit, missed = Counter(), Counter(), Counter()
    seconds = 0.0
    for page, page_blocks in pages.items():
        text, starts = layout(page_blocks, name)
        t0 = time.perf_counter()
        findings = detect(text).findings
        seconds += time.perf_counter() - t0
        exits[exit_status({"articles": [{"error": None, "findings": [f.to_dict() for f in findings]}]})] += 1
        covered = set()
        for f in findings:
            first = bisect.bisect_right(starts, f.start) - 1
            last = bisect.bisect_right(starts, max(f.start, f.end - 1)) - 1
            span = range(first, last + 1)
            key = f"{f.kind}/{f.subtype}"
            c = by_sub[key]
            c["findings"] += 1
            c["on_body"] += (hit := any(body[page][i] for i in span))
            if hit:
                on_body[key].append(f"{page[:16]}: {short(page_blocks[first])}")
            c["on_full_body"] += any(body[page][i] and len(page_blocks[i].split()) >= FULL for i in span)
            if f.kind in BLOCKING_KINDS:
                blocking.append({"page": page[:16], "finding": key, "text": short(f.text),
                                 "context": short(page_blocks[first], 90)})
            if f.kind == BOILERPLATE:
                covered.update(span)
            if f.kind == BROKEN_TABLE:
                rows = rows_of(f.text)
                lab = match_label(labels, page, rows)
                tables.append({"page": page, "key": label_key(page, f.text), "rows": len(rows),
                               "label": lab["label"] if lab else None})
        for key in {f"{f.kind}/{f.subtype}" for f in findings}:
            by_sub[key]["pages"] += 1
        for i, b in enumerate(page_blocks):
            if body[page][i]:
                continue
            fams = families(b)
            for fam in fams + ["(any)"] * bool(fams):
                chrome_lines[fam] += 1
                chrome_hit[fam] += i in covered
            if fams and i not in covered:
                missed[short(b, 50)] += 1

    n = len(pages)
    labelled = [t for t in tables if t["label"]]
    expected = [e for e in labels["expected_tables"] if e["page"][:16] in {p[:16] for p in pages}]
    return {
        "layout": name, "pages": n, "detect_seconds": round(seconds, 3),
        "exit_codes": dict(sorted(exits.items())),
        "by_subtype": {k: {**v, "per_page": round(v["findings"] / n, 3),
                           "body_precision": round(1 - v["on_body"] / v["findings"], 3),
                           "full_body_per_page": round(v["on_full_body"] / n, 3)}
                       for k, v in sorted(by_sub.items())},
        "on_body": on_body,
        "blocking": blocking,
        "blocking_pages": sorted({b["page"] for b in blocking}),
        "chrome_recall": {fam: {"lines": chrome_lines[fam], "covered": chrome_hit[fam],
                                "recall": round(chrome_hit[fam] / chrome_lines[fam], 3) if chrome_lines[fam] else None}
                          for fam in ["(any)", *FAMILIES]},
        "chrome_missed_top": missed.most_common(25),
        "tables": {"findings": len(tables), "pages": len({t["page"] for t in tables}),
                   "labelled": len(labelled), "labelled_table": sum(t["label"] == "table" for t in labelled),
                   "precision_on_labelled": round(sum(t["label"] == "table" for t in labelled) / len(labelled), 3)
                   if labelled else None,
                   "expected": len(expected)},
        "table_findings": tables,
    }


def table_recall(pages: dict[str, list[str]], name: str, labels: dict[str, Any]) -> list[dict]:
    """For each expected real table: whether a broken_table finding covers half its rows or more."""
    out = []
    for e in labels["expected_tables"]:
        page = next((p for p in pages if p.startswith(e["page"])), None)
        if page is None:
            continue
        text, _ = layout(pages[page], name)
        found = [set(map(row_hash, rows_of(f.text))) for f in detect(text).findings if f.kind == BROKEN_TABLE]
        want = set(e["rows"])
        best = max((len(want & f) / len(want) for f in found), default=0.0)
        out.append({"page": e["page"], "note": e["note"], "in_body": e["in_body"], "rows": len(want),
                    "covered": round(best, 2), "found": best >= 0.5})
    return out


def print_sample(pages: dict[str, list[str]], layouts: tuple[str, ...], n: int, seed: int) -> None:
    """A fixed random sample of broken_table findings, each with its rows and a neighbour on either
    side, for a person to label (``--sample``); findings already labelled are marked."""
    labels = load_labels()
    all_tables = []
    for name in layouts:
        for page, page_blocks in pages.items():
            text, starts = layout(page_blocks, name)
            for f in detect(text).findings:
                if f.kind == BROKEN_TABLE:
                    all_tables.append((name, page, f.start, f.end, text))
    for name, page, start, end, text in random.Random(seed).sample(all_tables, min(n, len(all_tables))):
        rows = rows_of(text[start:end])
        before, after = rows_of(text[:start])[-1:], rows_of(text[end:])[:1]
        lab = match_label(labels, page, rows)
        print(f"\n### {label_key(page, text[start:end])} {name} {len(rows)} rows"
              f"{' labelled ' + lab['label'] if lab else ''}")
        print("\n".join([f"   ({short(r, 100)})" for r in before] + [f" | {short(r, 100)}" for r in rows]
                        + [f"   ({short(r, 100)})" for r in after]))


def html_tables(page: bytes) -> list[list[str]]:
    """Candidate real tables (``--tables``): each innermost ``<table>`` with at least 3 rows of the
    same number (≥ 2) of non-empty cells, as the lines :func:`blocks` writes for it. A person then
    looks at each, and at runs that are tables without the markup, before recording them."""
    root = lxml_html.document_fromstring(page, parser=lxml_html.HTMLParser(encoding="utf-8"))
    found = []
    for table in root.iter("table"):
        if table.find(".//table") is not None:
            continue
        shape = Counter(n for tr in table.iter("tr") if (n := sum(1 for c in tr if c.tag in ("td", "th")
                                                                   and c.text_content().strip())) >= 2)
        if shape and shape.most_common(1)[0][1] >= 3:
            found.append(blocks(lxml_html.tostring(table, encoding="utf-8")))
    return found


def load_pages(data: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    truth = json.loads((data / "ground-truth.json").read_text("utf-8"))
    pages = {}
    for page in sorted(truth):
        pages[page] = blocks(gzip.decompress((data / "html" / f"{page}.html.gz").read_bytes()))
    return pages, {p: truth[p]["articleBody"] for p in truth}


def print_report(r: dict[str, Any], recall: list[dict]) -> None:
    n = r["pages"]
    print(f"\n== layout {r['layout']}: {n} pages, detection {r['detect_seconds']:.2f} s, "
          f"exit codes {r['exit_codes']}")
    print(f"{'kind/subtype':34} {'findings':>8} {'pages':>5} {'/page':>6} {'on body':>7} "
          f"{'precision':>9} {'full body/page':>14}")
    for k, v in r["by_subtype"].items():
        print(f"{k:34} {v['findings']:8} {v['pages']:5} {v['per_page']:6.2f} {v['on_body']:7} "
              f"{v['body_precision']:9.1%} {v['full_body_per_page']:14.3f}")
    bp = [v for k, v in r["by_subtype"].items() if k.startswith(BOILERPLATE + "/")]
    if bp:
        print(f"{'boilerplate (all)':34} {sum(v['findings'] for v in bp):8} {'':5} "
              f"{sum(v['findings'] for v in bp) / n:6.2f} {sum(v['on_body'] for v in bp):7} "
              f"{1 - sum(v['on_body'] for v in bp) / max(1, sum(v['findings'] for v in bp)):9.1%} "
              f"{sum(v['on_full_body'] for v in bp) / n:14.3f}")
    print(f"blocking findings: {len(r['blocking'])} on {len(r['blocking_pages'])} page(s)")
    for b in r["blocking"]:
        print(f"  {b['page']} {b['finding']}: {b['text']!r} in {b['context']!r}")
    print("chrome recall (short non-body lines with the family's words, covered by boilerplate):")
    for fam, v in r["chrome_recall"].items():
        if v["lines"]:
            print(f"  {fam:14} {v['covered']:4}/{v['lines']:<4} {v['recall']:6.1%}")
    print("  most missed: " + "; ".join(f"{t!r} ×{c}" for t, c in r["chrome_missed_top"][:12]))
    t = r["tables"]
    prec = f"{t['precision_on_labelled']:.1%}" if t["precision_on_labelled"] is not None else "n/a"
    print(f"broken_table: {t['findings']} findings on {t['pages']} pages; {t['labelled']} match a hand label, "
          f"{t['labelled_table']} of them a table (precision {prec})")
    if recall:
        print(f"expected real tables found: {sum(e['found'] for e in recall)}/{len(recall)}")
        for e in recall:
            print(f"  {'found ' if e['found'] else 'missed'} {e['page']} {e['rows']:3} rows, "
                  f"{e['covered']:.0%} covered: {e['note']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="folder with html/*.html.gz and ground-truth.json")
    ap.add_argument("--layout", choices=("lines", "blank", "both"), default="both")
    ap.add_argument("--json", type=Path, help="write the full report here, with the findings on body lines")
    ap.add_argument("--sample", type=int, metavar="N",
                    help="print a seeded sample of N broken_table findings to label by hand, and stop")
    ap.add_argument("--tables", action="store_true", help="print candidate real tables, and stop")
    ap.add_argument("--seed", type=int, default=15, help="seed of --sample (default 15)")
    args = ap.parse_args(argv)
    layouts = ("lines", "blank") if args.layout == "both" else (args.layout,)
    t0 = time.perf_counter()
    pages, truth = load_pages(args.data)
    if args.tables:
        for page in pages:
            for rows in html_tables(gzip.decompress((args.data / "html" / f"{page}.html.gz").read_bytes())):
                print(f"\n### {page[:16]} {len(rows)} rows\n" + "\n".join(f" | {short(r, 100)}" for r in rows[:8]))
        return 0
    if args.sample:
        print_sample(pages, layouts, args.sample, args.seed)
        return 0
    t1 = time.perf_counter()
    body = {p: label_body(b, truth[p]) for p, b in pages.items()}
    t2 = time.perf_counter()
    labels = load_labels()
    nblocks = sum(map(len, pages.values()))
    print(f"{len(pages)} pages, {nblocks} blocks ({sum(map(sum, body.values()))} body); "
          f"conversion {t1 - t0:.1f} s, labelling {t2 - t1:.1f} s")
    reports = []
    for name in layouts:
        r = run_layout(pages, body, name, labels)
        recall = table_recall(pages, name, labels)
        r["expected_tables"] = recall
        print_report(r, recall)
        reports.append(r)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"reports": reports}, indent=1, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
