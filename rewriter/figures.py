"""Chart and table placeholders filled: checked data, a Vega-Lite chart, alt text, a data table, a source line.

Runs after ``verify`` (it needs the checked sources). For a ``placeholder/chart`` or
``placeholder/table`` finding, the data is the model's (``label : value`` lines or a two-column
Markdown table in its replacement, with the sources it cites) or, failing that, the placeholder's
own payload. Each value is held to the rule for claims: it must be stated by a verified quote that
names its label. All of them are → ``verified``; otherwise ``needs_review``, and data taken from the
draft is labelled "data from the draft, not verified". A draft value the verified data contradicts
("Claude : 175B") is named in the reason.

A chart's Vega-Lite specification is written to ``<figures_dir>/<id>.vl.json`` and, with the
optional ``vl-convert-python`` (``pip install 'rewriter[charts]'``), rendered to ``<id>.svg`` and
``<id>.png`` offline. The placeholder's replacement is a Markdown figure with short alt text, a
caption stating the key point, the data as a Markdown table and a "Source :" / "Source:" line.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import posixpath
import re
import shutil
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from . import jsontext, vlrender
from .evidence import fold
from .loader import atomic_write, atomic_write_text
from .models import NEEDS_REVIEW, PLACEHOLDER, REPLACE, VERIFIED, Finding, Proposal, Source
from .tablecheck import markdown_table, parse_markdown_table
from .text import language
from .verify import SOURCE_VERIFIED, Figure as Quoted, _scan, support

FIGURE_SUBTYPES = frozenset({"chart", "table"})
FIGURES_DIR = "figures"
RENDER_HINT = "pip install 'rewriter[charts]' to render it to SVG and PNG (or: vl-convert vl2svg)"
_SCALE_LETTERS = {"k": 10**3, "m": 10**6, "b": 10**9, "bn": 10**9, "t": 10**12, "tn": 10**12}
_VALUE = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(%|[kmbt]n?)?\s*$", re.I)
_ROW = re.compile(r"^\s*[-•*]?\s*(.+?)\s*:\s*(.+?)\s*$")
_WORDS = {"fr": {10**12: ("billion", "billions"), 10**9: ("milliard", "milliards"), 10**6: ("million", "millions")},
          "en": {10**12: ("trillion", "trillion"), 10**9: ("billion", "billion"), 10**6: ("million", "million")}}
_TEXTS = {
    "fr": {"chart": "Graphique", "bar": "en barres", "pie": "circulaire", "line": "en courbe", "label": "Catégorie",
           "value": "Valeur", "source": "Source :", "draft": "données du brouillon, non vérifiées",
           "lead": "{top} en tête avec {value}", "ahead": ", devant {next} ({value})",
           "from": "De {first} ({a}) à {last} ({b})", "of": "{title} : "},
    "en": {"chart": "Chart", "bar": "bar", "pie": "pie", "line": "line", "label": "Category", "value": "Value",
           "source": "Source:", "draft": "draft data, not verified", "lead": "{top} leads with {value}",
           "ahead": ", ahead of {next} ({value})", "from": "From {first} ({a}) to {last} ({b})",
           "of": "{title}: "},
}


@dataclass(frozen=True)
class Datum:
    label: str
    written: str          # as the draft or the model wrote it: "1.7T", "45 %"
    value: Decimal | None  # what it stands for: 1700000000000, 45; None for a table's text cell
    unit: str             # "%" or ""
    step: Decimal         # the precision it is written to


def parse_value(written: str) -> Datum | None:
    """``"1.7T"`` → 1.7 × 10^12, ``"45 %"`` → 45 %, ``"175B"`` → 175 × 10^9; ``None`` when not a number."""
    m = _VALUE.match(written)
    if not m:
        return None
    try:
        raw = Decimal(m[1].replace(",", "."))
    except InvalidOperation:
        return None
    suffix = (m[2] or "").lower()
    scale = Decimal(_SCALE_LETTERS.get(suffix, 1))
    step = Decimal(1).scaleb(raw.as_tuple().exponent) * scale
    return Datum("", written.strip(), raw * scale, "%" if suffix == "%" else "", step)


def format_value(datum: Datum, lang: str) -> str:
    """The value in the article's language: ``45 %`` and ``1,7 billion`` in French, ``45%`` and
    ``1.7 trillion`` in English."""
    def number(x: Decimal) -> str:
        text = format(x.normalize(), "f")
        return text.replace(".", ",") if lang == "fr" else text
    if datum.value is None:
        return datum.written
    if datum.unit == "%":
        return f"{number(datum.value)} %" if lang == "fr" else f"{number(datum.value)}%"
    for scale, (one, many) in _WORDS["fr" if lang == "fr" else "en"].items():
        if abs(datum.value) >= scale:
            x = datum.value / scale
            return f"{number(x)} {one if abs(x) < 2 else many}"
    return number(datum.value)


def parse_rows(text: str) -> list[tuple[str, str]]:
    """``label : value`` lines, or a two-column Markdown table, as (label, value) pairs; ``[]`` otherwise."""
    rows, why = parse_markdown_table(text)
    if why is None and len(rows[0]) == 2:
        return [(a, b) for a, b in rows[1:]]
    pairs = [_ROW.match(line) for line in text.splitlines() if line.strip()]
    return [(m[1], m[2]) for m in pairs] if pairs and all(pairs) else []


def _data(pairs, text_cells: bool = False) -> list[Datum] | None:
    """The data points of ``pairs``; a value that is not a number makes it ``None`` unless
    ``text_cells`` (a table's cells may be words: "Volontaire/Moyen")."""
    data = []
    for label, written in pairs:
        datum = parse_value(written)
        if datum is None and not text_cells:
            return None
        datum = datum or Datum("", written.strip(), None, "", Decimal(0))
        data.append(replace(datum, label=label))
    return data or None


def _unsupported(data: list[Datum], sources: list[Source], quote_lang) -> list[str]:
    """The data points no verified quote states (a quote must name the label and give the value)."""
    verified = [s for s in sources if s.status == SOURCE_VERIFIED]
    missing = []
    for d in data:
        figure = Quoted(d.written, d.value, (d.value,), d.step) if d.value is not None else None
        if not any(fold(d.label) in fold(s.quote) and (fold(d.written) in fold(s.quote) if figure is None else
                                                      support(figure, _scan(s.quote, quote_lang(s))[1]) is not None)
                   for s in verified):
            missing.append(f"{d.label} : {d.written}")
    return missing


def _source_name(source: Source) -> str:
    return source.title or source.publisher or urlsplit(source.url).netloc or source.url


def _caption(data: list[Datum], kind: str, lang: str) -> str:
    t = _TEXTS[lang]
    shown = [format_value(d, lang) for d in data]
    if kind == "line" and len(data) > 1:
        return t["from"].format(first=data[0].label, a=shown[0], last=data[-1].label, b=shown[-1]) + "."
    if any(d.value is None for d in data):
        return ", ".join(f"{d.label} : {d.written}" if lang == "fr" else f"{d.label}: {d.written}" for d in data)
    order = sorted(range(len(data)), key=lambda i: data[i].value, reverse=True)
    text = t["lead"].format(top=data[order[0]].label, value=shown[order[0]])
    if len(order) > 1:
        text += t["ahead"].format(next=data[order[1]].label, value=shown[order[1]])
    return text + "."


def vega_lite(title: str, data: list[Datum], kind: str, lang: str, labels: tuple[str, str]) -> dict:
    """A Vega-Lite specification of ``data`` as a bar, pie or line chart, each value written on it."""
    values = [{"label": d.label, "value": float(d.value), "shown": format_value(d, lang), "order": i}
              for i, d in enumerate(data)]
    # the values are written on the marks, so the value axis is left out; its name goes under the title
    spec: dict = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                  "title": {"text": title, "subtitle": labels[1]},
                  "data": {"values": values}, "width": 360, "height": 240, "config": {"font": "sans-serif"}}
    x = {"field": "label", "type": "nominal", "sort": {"field": "order"}, "title": labels[0],
         "axis": {"labelAngle": 0}}
    y = {"field": "value", "type": "quantitative", "title": labels[1], "axis": None}
    if kind == "pie":
        theta = {"field": "value", "type": "quantitative", "stack": True}
        order = {"field": "order", "type": "quantitative"}
        color = {"field": "label", "type": "nominal", "sort": {"field": "order"}, "title": labels[0]}
        spec["layer"] = [{"mark": {"type": "arc", "outerRadius": 100}, "encoding": {"theta": theta, "color": color, "order": order}},
                         {"mark": {"type": "text", "radius": 125},
                          "encoding": {"theta": theta, "text": {"field": "shown"}, "order": order}}]
    elif kind == "line":
        spec["layer"] = [{"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": y}},
                         {"mark": {"type": "text", "dy": -10}, "encoding": {"x": x, "y": y, "text": {"field": "shown"}}}]
    else:
        spec["layer"] = [{"mark": "bar", "encoding": {"x": x, "y": y}},
                         {"mark": {"type": "text", "dy": -6}, "encoding": {"x": x, "y": y, "text": {"field": "shown"}}}]
    return spec


def render(spec: dict, base: Path, cache: Path | None = None) -> list[Path]:
    """``base``.vl.json, and with vl-convert ``base``.svg and ``base``.png; the files written.

    A render costs 50 to 100 ms of CPU (a JavaScript engine lays the chart out), more than the
    rest of an article's local work, so with ``cache`` (a folder) each rendering is kept there
    under the hash of its spec and vl-convert's version: a rerun, or the same chart in another
    article, copies the files instead of rendering them again.
    """
    spec_json = jsontext.dumps(spec) + "\n"
    atomic_write_text(base.with_suffix(".vl.json"), spec_json, durable=False)
    written = [base.with_suffix(".vl.json")]
    try:
        import vl_convert
    except ImportError:
        return written
    svg, png = _rendered(vl_convert, spec_json, cache)
    atomic_write(base.with_suffix(".svg"), svg, durable=False)
    atomic_write(base.with_suffix(".png"), png, durable=False)
    return [*written, base.with_suffix(".svg"), base.with_suffix(".png")]


def _rendered(vl_convert, spec_json: str, cache: Path | None) -> tuple[bytes, bytes]:
    """The SVG and PNG bytes of a spec: from ``cache`` when rendered before, else rendered (by the
    helper process of rewriter/vlrender.py) and kept there."""
    version = getattr(vl_convert, "__version__", "unknown")
    key = hashlib.sha256(f"vl-convert {version}\n{spec_json}".encode("utf-8")).hexdigest()
    paths = (cache / f"{key}.svg", cache / f"{key}.png") if cache is not None else None
    if paths is not None:
        try:
            return paths[0].read_bytes(), paths[1].read_bytes()
        except OSError:
            pass            # not rendered yet (or the cache was cleared half-way): render it
    svg, png = vlrender.svg_and_png(spec_json)
    if paths is not None:
        try:        # the PNG first: a hit reads both, and an SVG alone is a miss
            atomic_write(paths[1], png, durable=False)
            atomic_write(paths[0], svg, durable=False)
        except OSError:
            pass            # a cache that cannot be written costs a render next time, nothing more
    return svg, png


def expect_charts(findings: list[Finding]) -> None:
    """Chart placeholders among ``findings`` will be drawn at the end of this run: the chart helper
    starts now (``vlrender.start``), its JavaScript engine beside the model's replies."""
    if any(f.kind == PLACEHOLDER and f.subtype == "chart" for f in findings):
        vlrender.start()


def fill(text: str, findings: dict[str, Finding], proposals: list[Proposal], evidence, figures_dir: Path,
         render_cache: Path | None = None, lang: str | None = None) -> list[Proposal]:
    """Each chart or table placeholder's proposal rebuilt from checked data (see the module docstring);
    charts rendered once per spec with ``render_cache`` (see :func:`render`). ``lang``: the article's
    language when the caller knows it (a batch holds more articles than ``language`` remembers)."""
    lang = lang or language(text)
    fixes = [(findings[p.finding_id], p) for p in proposals if p.changes_text and p.action == REPLACE
             and p.finding_id in findings]
    result = []
    for p in proposals:
        f = findings.get(p.finding_id)
        if f is not None and f.kind == PLACEHOLDER and f.subtype in FIGURE_SUBTYPES:
            inside = [(cf, cp) for cf, cp in fixes if cf.id != f.id and f.start <= cf.start and cf.end <= f.end]
            p = _filled(p, f, lang, evidence, figures_dir, inside, render_cache)
        result.append(p)
    return result


def _corrected(finding: Finding, fixes: list[tuple[Finding, Proposal]]) -> dict:
    """The placeholder's payload with the corrections proposed for claims inside it made ("Mixtral : 46.7B")."""
    from .detect import _parse_marker     # the placeholder grammar, read the way detection reads it

    new = finding.text
    for cf, cp in sorted(fixes, key=lambda fix: -fix[0].start):
        new = new[:cf.start - finding.start] + cp.replacement + new[cf.end - finding.start:]
    parsed = _parse_marker(new[1:-1]) if new.startswith("[") and new.endswith("]") else None
    return (parsed[1] if parsed and parsed[1] else None) or finding.payload or {}


def _filled(proposal: Proposal, finding: Finding, lang: str, evidence, figures_dir: Path,
            fixes: list[tuple[Finding, Proposal]] = (), render_cache: Path | None = None) -> Proposal:
    payload = _corrected(finding, fixes) if fixes else finding.payload or {}
    cells = finding.subtype == "table"
    draft = _data(((d["label"], d["value"]) for d in payload.get("data") or []), cells)
    model = _data(parse_rows(proposal.replacement), cells) if proposal.action == REPLACE else None
    data = model or draft
    if data is None:
        return proposal
    def quote_lang(source: Source) -> str:
        doc = evidence.document(source.location["evidence_id"]) if source.location else None
        return language(doc.text or "") if doc is not None else lang
    sources = proposal.sources if model else [s for _f, p in fixes for s in p.sources if s.status == SOURCE_VERIFIED]
    fixed = {fold(d.label) for d in data for _f, p in fixes if p.status == VERIFIED and fold(d.label) in fold(p.replacement)
             and d.written in p.replacement} if not model else set()
    missing = [m for m in _unsupported(data, sources, quote_lang) if fold(m.rpartition(" : ")[0]) not in fixed]
    verified = [s for s in sources if s.status == SOURCE_VERIFIED]
    notes = []
    if model and draft:
        said = {fold(d.label): d for d in draft}
        notes += [f"the draft said {d.label} : {said[fold(d.label)].written}, the data says {d.written}"
                  for d in model if fold(d.label) in said and said[fold(d.label)].written != d.written
                  and (d.value is None or said[fold(d.label)].value != d.value)]
    kind = payload.get("chart_type") or "bar"
    labels = payload.get("labels") or []
    t = _TEXTS[lang]
    heads = (labels[0] if labels else t["label"], labels[1] if len(labels) > 1 else t["value"])
    title = payload.get("title") or finding.message
    table = markdown_table([list(heads), *([d.label, format_value(d, lang)] for d in data)])
    names = sorted({_source_name(s) for s in verified}) if not missing else []
    source_line = f"{t['source']} {', '.join(names) or t['draft']}"
    caption = t["of"].format(title=title) + _caption(data, kind, lang)
    blocks = [table, source_line]
    rendered: list[Path] = []
    if finding.subtype == "chart":
        base = figures_dir / finding.id
        rendered = render(vega_lite(title, data, kind, lang, heads), base, render_cache)
        alt = f"{t['chart']} {t[kind]} : {title}" if lang == "fr" else f"{t[kind].capitalize()} chart: {title}"
        blocks = [f"![{alt}]({FIGURES_DIR}/{finding.id}.svg)", f"*{caption}*", *blocks]
    else:
        blocks = [f"*{caption}*", *blocks]
    replacement = "\n\n".join(blocks)
    notes += [f"{p.replacement} as corrected at {p.id} ({'verified' if p.status == VERIFIED else p.status} there)"
              for _f, p in fixes]
    if missing:
        what = "data from the model" if model else "data from the draft"
        reasons = [f"{what}, not verified: no verified quote names and states {', '.join(missing)}", *notes]
        status = NEEDS_REVIEW
    else:
        reasons = [f"data verified: each value is stated by a verified quote naming it ({', '.join(names)})", *notes]
        status = VERIFIED
    if finding.subtype == "chart" and not any(p.suffix == ".svg" for p in rendered):
        reasons.append(f"chart not rendered: its Vega-Lite spec is {base.with_suffix('.vl.json')}; {RENDER_HINT}")
        status = NEEDS_REVIEW
    rationale = proposal.rationale if model else "Rule: built from the placeholder's own data (the draft's)."
    return replace(proposal, action=REPLACE, replacement=replacement, rationale=rationale, sources=sources,
                   status=status, status_reason="; ".join(reasons), error=None if status == VERIFIED else proposal.error)


def figure_files(proposal: Proposal, out_dir: Path) -> list[Path]:
    """The files of ``out_dir/figures/`` the proposal's replacement shows (its chart, the PNG and
    spec beside it), those that exist."""
    ids = re.findall(r"\]\((?:[^()\s]*/)?([\w-]+)\.svg\)", proposal.replacement)
    return [path for i in ids for path in (Path(out_dir) / FIGURES_DIR / f"{i}{ext}" for ext in (".svg", ".png", ".vl.json"))
            if path.is_file()]


def review_lines(proposal: Proposal, out_dir: Path) -> list[str]:
    """For review.md: where the proposal's chart is, and its data table, as a reader will see them."""
    rows = [line for line in proposal.replacement.splitlines() if line.startswith("|")]
    if not rows:
        return []
    files = figure_files(proposal, out_dir)
    lines = ["Figure: " + ", ".join(f"`{p.as_posix()}`" for p in files) if files else "Table:", ""]
    return [*lines, *rows, ""]


# ---------------------------------------------------------------- assets: apply and changes.diff

def assets_for(out_dir: Path, proposals: list[Proposal], article: Path, folder: str = FIGURES_DIR) -> list[tuple[Path, Path]]:
    """(file in ``out_dir/figures/``, where it goes) for each figure the ``proposals`` show: into
    ``folder`` beside the article (``articles/figures/`` by default)."""
    return [(src, article.parent / folder / src.name) for p in proposals for src in figure_files(p, out_dir)]


def in_folder(proposal: Proposal, folder: str) -> Proposal:
    """The proposal with its figure links pointing into ``folder`` (relative to the article) instead of ``figures/``."""
    if folder == FIGURES_DIR:
        return proposal
    return replace(proposal, replacement=proposal.replacement.replace(f"]({FIGURES_DIR}/", f"]({folder.rstrip('/')}/"))


def copy_assets(assets: list[tuple[Path, Path]]) -> list[Path]:
    """Copy each figure to its place (atomically); the places written."""
    for src, dest in assets:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
    return [dest for _src, dest in assets]


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.lru_cache(maxsize=64)    # the same chart in many articles (a series, a template) is encoded once
def _base85_lines(data: bytes) -> tuple[str, ...]:
    """Git's binary-patch encoding of ``data``: zlib, then base85 lines of 52 bytes, each led by its length."""
    packed = zlib.compress(data, 9)
    # Encoded in one call: a 52-byte line is 13 whole 4-byte groups, so line i is characters
    # 65i..65i+65 of the whole (the last line padded as alone), at a fraction of the per-call cost.
    encoded = base64.b85encode(packed, pad=True).decode("ascii")
    return tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[min(52, len(packed) - i) - 1]
                 + encoded[i // 52 * 65:i // 52 * 65 + 65] for i in range(0, len(packed), 52))


def new_file_patch(path: str, data: bytes) -> str:
    """A git patch creating ``path`` with ``data``: a text patch for UTF-8 text (SVG, JSON), a
    binary one (``git diff --binary`` style) for anything else (PNG); ``git apply`` reproduces it."""
    from .emit import _git_path    # quoted as git quotes a path with spaces or non-ASCII characters

    a_name, b_name = _git_path(f"a/{path}"), _git_path(f"b/{path}")
    head = [f"diff --git {a_name} {b_name}", "new file mode 100644", f"index {'0' * 40}..{_blob_id(data)}"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\0" not in text and "\r" not in text:
        lines = text.split("\n")
        end = lines.pop() if lines else ""
        body = [f"+{line}" for line in lines] + ([f"+{end}", "\\ No newline at end of file"] if end else [])
        count = len(lines) + (1 if end else 0)
        return "\n".join([*head, "--- /dev/null", f"+++ {b_name}", f"@@ -0,0 +1,{count} @@", *body]) + "\n"
    return "\n".join([*head, "GIT binary patch", f"literal {len(data)}", *_base85_lines(data), "",
                      "literal 0", *_base85_lines(b""), "", ""])


def figure_patches(out_dir: Path, proposals: list[Proposal], repo_path: str) -> str:
    """The patches that create the figures of the text-changing ``proposals`` beside the article."""
    folder = posixpath.join(posixpath.dirname(repo_path), FIGURES_DIR)
    files = [f for p in proposals if p.changes_text for f in figure_files(p, out_dir)]
    return "".join(new_file_patch(posixpath.join(folder, f.name), f.read_bytes()) for f in dict.fromkeys(files))
