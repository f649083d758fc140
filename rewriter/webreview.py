"""The review as a page: the article with each change inline, in the browser.

:func:`render_page` draws one or more runs as HTML; everything that comes from
the article, the model or a source is escaped here and nowhere else, and links
only ever point to http(s) pages or to the run's own saved evidence. The same
view is written read-only as ``out/<stem>/review.html`` by :func:`static_page`,
and served with buttons by :class:`ReviewServer`, on 127.0.0.1 only, under a
random token that every request must carry. Decisions go through
:class:`rewriter.review.Decisions`, saved on every click, with the terminal
review's rules: an article changed since its run takes no decision.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import unquote, urlsplit

from .emit import DELETE, proposal_position, word_diff
from .errors import RewriterError
from .loader import Article
from .models import KEEP, VERIFIED, Finding, Proposal
from .record import Run
from .review import ACCEPT, REJECT, Decisions, article_text, fillable, read_run

TEMPLATE = Path(__file__).with_name("templates") / "review.html"
SHOWN = {ACCEPT: "accepted", REJECT: "rejected"}
MAX_BODY = 1 << 20   # a decision is a few hundred bytes; refuse anything near a megabyte


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _href(url: str) -> str | None:
    """``url`` if it is an http(s) address to link to, else None (javascript:, data:, …)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


@dataclass
class ArticleView:
    """One run as the page shows it: its record, the text it saw (None if changed) and decisions."""
    index: int
    run: Run
    text: str | None
    problem: str            # why the article cannot be decided on, "" when it can
    decisions: Decisions | None

    @classmethod
    def load(cls, index: int, out_dir: Path) -> ArticleView:
        run = read_run(out_dir)
        try:
            text = article_text(run)
            problem = "" if text is not None else (
                f"{run.article_path} is missing or changed since the run: no decision can be taken; "
                f"run `rewriter run {run.article_path}` again")
        except RewriterError as exc:
            text, problem = None, str(exc)
        return cls(index, run, text, problem, Decisions.load(out_dir, run))


def _label(p: Proposal) -> str:
    return "fill" if fillable(p) else ("keep" if p.action == KEEP else p.action)


def _evidence_link(view: ArticleView, where: str, base: str) -> str:
    """A link to a source's saved evidence file when it lies in the run's evidence/ folder."""
    path = Path(where)
    folder = view.run.out_dir / "evidence"
    try:
        inside = (not folder.is_symlink() and not path.is_symlink() and path.resolve().parent == folder.resolve()
                  and path.is_file())
    except OSError:
        inside = False
    if not inside:
        return f'<span class="where">{_e(where)}</span>' if where and not _href(where) else ""
    return f'<a class="evidence" href="{_e(base + "evidence/" + path.name)}">saved evidence</a>'


def _sources(view: ArticleView, p: Proposal, base: str) -> str:
    items = []
    for s in p.sources:
        href = _href(s.url) if s.url else None
        link = (f'<a href="{_e(href)}" rel="noreferrer noopener" target="_blank">{_e(s.url)}</a>' if href
                else f'<span class="url">{_e(s.url or "(local snippet)")}</span>')
        about = " · ".join(_e(x) for x in (s.title, s.publisher, s.date) if x)
        where = (s.location or {}).get("evidence", "")
        parts = [f'<span class="badge s-{_e(s.status)}">{_e(s.status)}</span> {link}',
                 f'<div class="about">{about}</div>' if about else "",
                 f'<blockquote>{_e(" ".join(s.quote.split()))}</blockquote>' if s.quote else "",
                 f'<div class="why">{_e(s.reason)}</div>' if s.reason else "",
                 _evidence_link(view, where, base) if where else ""]
        items.append(f'<li>{"".join(parts)}</li>')
    return f'<ul class="sources">{"".join(items)}</ul>' if items else '<p class="none">no source</p>'


def _state(view: ArticleView, p: Proposal) -> tuple[str, dict[str, Any] | None]:
    entry = view.decisions.entry(p.id) if view.decisions else None
    return (entry["decision"] if entry else "undecided"), entry


def _new_text(p: Proposal, entry: dict[str, Any] | None) -> str | None:
    """The text the change puts in place: the reviewer's, the proposed one, or None (a gap left)."""
    if entry and entry["decision"] == ACCEPT and entry["replacement"] is not None:
        return entry["replacement"]
    if p.changes_text:
        return "" if p.action == DELETE else p.replacement
    return None


def _mark(n: int, view: ArticleView, p: Proposal, f: Finding) -> str:
    state, entry = _state(view, p)
    new = _new_text(p, entry)
    body = f'<del>{_e(f.text)}</del>' if new is not None else f'<span class="gap">{_e(f.text)}</span>'
    if new:
        body += f'<ins>{_e(new)}</ins>'
    return (f'<span class="mark {_e(state)} a-{_e(_label(p))}" id="m-{view.index}-{_e(p.id)}" '
            f'data-card="c-{view.index}-{_e(p.id)}">{body}<sup>{n}</sup></span>')


def _card(n: int, view: ArticleView, p: Proposal, interactive: bool, base: str, note: str = "") -> str:
    f = view.run.findings.get(p.finding_id)
    state, entry = _state(view, p)
    where = f"{f.kind}/{f.subtype} · line {f.line}" if f else f"finding {p.finding_id} missing"
    head = (f'<span class="n">{n}</span> <span class="where">{_e(where)}</span> '
            f'<span class="badge st-{_e(p.status)}">{_e(p.status)}</span> '
            f'<span class="conf">confidence {p.confidence:.2f}</span>'
            + (f' <span class="badge d-{_e(state)}">{_e(SHOWN.get(state, state))}</span>' if view.decisions else ""))
    lines = [f'<div class="head">{head}</div>']
    new = _new_text(p, entry)
    if f is not None and new is not None:   # a gap still open is shown in the text, in yellow
        lines.append(f'<div class="diff">{_e(word_diff(f.text, new))}</div>')
    if entry and entry.get("replacement") is not None:
        url = entry.get("source")
        given = (f'<a href="{_e(url)}" rel="noreferrer noopener" target="_blank">{_e(url)}</a>' if url and _href(url)
                 else _e(url or ""))
        lines.append('<div class="own">typed by the reviewer, not verified'
                     + (f' · source given: {given}' if url else "") + "</div>")
    for text, cls in ((p.status_reason, "reason"), (p.error or "", "reason"), (note, "reason")):
        if text:
            lines.append(f'<div class="{cls}">{_e(" ".join(text.split()))}</div>')
    lines.append(f'<div class="rationale">{_e(" ".join(p.rationale.split()) or "(no rationale given)")}</div>')
    if p.sources or not fillable(p):
        lines.append(_sources(view, p, base))
    decidable = interactive and not view.problem and (p.changes_text or fillable(p))
    if decidable:
        proposed = "" if fillable(p) or p.action == DELETE else p.replacement
        current = entry["replacement"] if entry and entry["replacement"] is not None else proposed
        url = (entry or {}).get("source", "")
        buttons = ([] if fillable(p) else ['<button type="button" class="accept" data-do="accept">Accept <kbd>y</kbd></button>',
                                           '<button type="button" class="reject" data-do="reject">Reject <kbd>n</kbd></button>'])
        buttons.append(f'<button type="button" class="edit" data-do="edit">{"Fill" if fillable(p) else "Edit"} <kbd>e</kbd></button>')
        lines.append(f'<div class="actions">{"".join(buttons)}</div>')
        lines.append('<form class="editor" hidden>'
                     f'<textarea name="text" rows="3" aria-label="your text">{_e(current)}</textarea>'
                     f'<input name="url" type="url" placeholder="source URL (optional)" value="{_e(url)}">'
                     '<button type="submit">Save and accept</button> <button type="button" data-do="cancel">'
                     'Cancel</button> <span class="hint">Ctrl+Enter saves, Esc cancels</span></form>')
    lane = _lane(view, p)
    return (f'<section class="card {_e(state)}" id="c-{view.index}-{_e(p.id)}" data-change="{_e(p.id)}" '
            f'data-article="{view.index}" data-status="{_e(p.status)}" data-decision="{_e(state)}" '
            f'data-kind="{_e(f.kind if f else "")}" data-lane="{_e(lane)}" tabindex="-1">'
            f'{"".join(lines)}</section>')


def _lane(view: ArticleView, p: Proposal) -> str:
    """The proposal's lane, for reports whose proposals carry one; "" otherwise."""
    return str(getattr(p, "lane", "") or "")


def _paragraphs(view: ArticleView, interactive: bool, base: str) -> str:
    """The article, one <div> per line, each change inline and its card under its paragraph."""
    run, text = view.run, view.text
    shown = [p for p in run.proposals if p.finding_id in run.findings]
    number = {p.id: n for n, p in enumerate(run.proposals, 1)}
    if text is None:
        return "".join(_card(number[p.id], view, p, interactive, base) for p in run.proposals)
    tops: list[tuple[Proposal, Finding]] = []
    inner: dict[str, list[Proposal]] = {}
    for p in sorted(shown, key=lambda q: proposal_position(run.findings, q)):
        f = run.findings[p.finding_id]
        last = tops[-1][1] if tops else None
        if last is not None and (f.start < last.end or f.start == f.end == last.end):
            inner.setdefault(tops[-1][0].id, []).append(p)
        else:
            tops.append((p, f))
    blocks, inline, cards, pos = [], [], [], 0

    def close() -> None:
        blocks.append(f'<div class="para">{"".join(inline) or "&nbsp;"}</div>{"".join(cards)}')
        inline.clear()
        cards.clear()

    def plain(chunk: str) -> None:
        # Escaped whole, then cut into lines: escaping writes no line break, so each line is
        # escaped as if alone, with one call for the chunk rather than one per line.
        lines = _e(chunk.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
        for i, line in enumerate(lines):
            if i:
                close()
            if line:
                inline.append(line)

    for p, f in tops:
        plain(text[pos:f.start])
        inline.append(_mark(number[p.id], view, p, f))
        cards.append(_card(number[p.id], view, p, interactive, base))
        for q in inner.get(p.id, []):
            cards.append(_card(number[q.id], view, q, interactive, base,
                               note=f"inside change {number[p.id]}; only the outer or earlier one is applied"))
        pos = f.end
    plain(text[pos:])
    close()
    orphans = [p for p in run.proposals if p.finding_id not in run.findings]
    blocks += [_card(number[p.id], view, p, interactive, base) for p in orphans]
    return "".join(blocks)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def render_article(view: ArticleView, *, interactive: bool, base: str = "") -> str:
    """One article's section: its name, counts, a note if it cannot be decided, and its text."""
    run, states = view.run, [_state(view, p)[0] for p in view.run.proposals if p.changes_text or fillable(p)]
    if view.decisions is None:   # the read-only page: nothing is decided there
        gaps = sum(fillable(p) for p in run.proposals)
        counts = f'{len(states) - gaps} changes proposed · {gaps} left to fill · {_count(len(run.proposals), "finding")}'
    else:
        counts = (f'{states.count(ACCEPT)} accepted · {states.count(REJECT)} rejected · '
                  f'{states.count("undecided")} undecided · {_count(len(run.proposals), "finding")}')
    notes = [view.problem] if view.problem else []
    if view.decisions and view.decisions.stale_sha:
        notes.append("decisions.json was made for other article bytes; starting afresh")
    outdated = view.decisions.outdated() if view.decisions else []
    if outdated:
        notes.append(f"{len(outdated)} earlier decision(s) were made on proposals a later run changed: decide again")
    verified = interactive and not view.problem and any(p.status == VERIFIED and p.changes_text for p in run.proposals)
    button = ('<button type="button" class="verified" data-do="accept-verified">Accept all verified</button>'
              if verified else "")
    place = f" — decisions in {_e(run.out_dir / 'decisions.json')}" if interactive else ""
    return (f'<article id="a-{view.index}" data-article="{view.index}" data-base="{_e(base)}">'
            f'<header><h2>{_e(run.article_path)}</h2><div class="counts">{counts}{place}</div>{button}</header>'
            + "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
            + f'<div class="text">{_paragraphs(view, interactive, base)}</div></article>')


def render_page(views: list[ArticleView], *, token: str = "", nonce: str | None = None) -> str:
    """The whole page; with a ``token`` it is the served one, with buttons posting under it."""
    nonce = nonce or secrets.token_urlsafe(16)
    interactive = bool(token)
    prefix = f"/{token}/" if token else ""
    statuses = sorted({p.status for v in views for p in v.run.proposals})
    kinds = sorted({v.run.findings[p.finding_id].kind for v in views for p in v.run.proposals
                    if p.finding_id in v.run.findings})
    lanes = sorted({_lane(v, p) for v in views for p in v.run.proposals} - {""})

    def select(name: str, values: list[str], extra: list[str] = ()) -> str:
        options = "".join(f'<option value="{_e(x)}">{_e(x)}</option>' for x in [*extra, *values])
        return f'<label>{name} <select id="f-{name}"><option value="">all</option>{options}</select></label>'

    filters = select("status", statuses) + select("kind", kinds)
    if interactive:
        filters += select("decision", ["undecided", ACCEPT, REJECT])
    if lanes:
        filters += select("lane", lanes)
    body = "".join(render_article(v, interactive=interactive,
                                  base=(f"{prefix}a/{v.index}/" if interactive else "")) for v in views)
    title = views[0].run.article_path if len(views) == 1 else f"{len(views)} articles"
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=_e(f"Review: {title}"), nonce=_e(nonce), token=_e(prefix), filters=filters, body=body,
        mode="review" if interactive else "read-only: decide with <code>rewriter review OUT --web</code>")


def static_page(article: Article, findings: dict[str, Finding], proposals: list[Proposal], *,
                repo_path: str, out_dir: Path) -> str:
    """``review.html``: the run's view, read-only and self-contained, drawn from what emit has in
    hand (no report read back); its evidence links are relative to the run's folder."""
    run = Run(Path(out_dir), {"article": {"path": repo_path}}, findings,
              sorted(proposals, key=lambda p: proposal_position(findings, p)))
    # A file, not a page served: the same run writes the same bytes (its nonce comes from what it shows).
    nonce = hashlib.sha256(article.sha256.encode() + repr([p.to_dict() for p in proposals]).encode()).hexdigest()[:22]
    return render_page([ArticleView(0, run, article.text, "", None)], nonce=nonce)


# --- the server ------------------------------------------------------------------


class Refused(Exception):
    """A request the page may not do; its message is shown to the reviewer."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class ReviewServer(ThreadingHTTPServer):
    """The review page for ``out_dirs`` on 127.0.0.1 (a random port unless ``port``), under a token."""

    daemon_threads = True

    def __init__(self, out_dirs: list[Path], port: int = 0):
        self.out_dirs = [Path(d) for d in out_dirs]
        for d in self.out_dirs:
            read_run(d)   # a folder that is no run fails now, in one line, not on the first click
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{self.token}/"

    def views(self) -> list[ArticleView]:
        return [ArticleView.load(i, d) for i, d in enumerate(self.out_dirs)]

    def decide(self, index: int, body: dict[str, Any]) -> str:
        """Record what one click asks for and return the article's section drawn again."""
        if not 0 <= index < len(self.out_dirs):
            raise Refused(HTTPStatus.NOT_FOUND, "no such article")
        with self.lock:
            view = ArticleView.load(index, self.out_dirs[index])
            if view.problem:
                raise Refused(HTTPStatus.CONFLICT, view.problem)
            decisions = view.decisions
            what = body.get("do")
            if what == "accept-verified":
                for p in view.run.reviewable:
                    if p.status == VERIFIED and not decisions.state(p.id):
                        decisions.record(p.id, ACCEPT, save=False)
                decisions.save()
            else:
                change = body.get("change")
                p = view.run.proposal(change) if isinstance(change, str) else None
                if p is None or not (p.changes_text or fillable(p)):
                    raise Refused(HTTPStatus.BAD_REQUEST, f"{change!r} is not a change to decide in this run")
                if what in (ACCEPT, REJECT) and not fillable(p):
                    decisions.record(p.id, what)
                elif what == "edit":
                    text, url = body.get("text"), (body.get("url") or "").strip()
                    if not isinstance(text, str) or not isinstance(url, str):
                        raise Refused(HTTPStatus.BAD_REQUEST, "text and url must be strings")
                    if url and not _href(url):
                        raise Refused(HTTPStatus.BAD_REQUEST, "the source URL must start with http:// or https://")
                    if not text.strip() and (fillable(p) or p.action != DELETE):
                        raise Refused(HTTPStatus.BAD_REQUEST, "type the text to put in its place first")
                    proposed = "" if p.action == DELETE else p.replacement
                    own = None if text == proposed and not url and not fillable(p) else text
                    decisions.record(p.id, ACCEPT, own, source=url or None)
                else:
                    raise Refused(HTTPStatus.BAD_REQUEST, f"unknown action {what!r}")
            return render_article(ArticleView.load(index, self.out_dirs[index]), interactive=True,
                                  base=f"/{self.token}/a/{index}/")


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:   # the terminal shows the URL, not each request
        pass

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, nonce: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
                         "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _route(self) -> list[str] | None:
        """The path's parts after the token, or None (and a 403 sent) without the right one."""
        parts = [unquote(x) for x in urlsplit(self.path).path.split("/")[1:]]
        if not parts or not secrets.compare_digest(parts[0].encode(), self.server.token.encode()):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: open the URL rewriter printed, with its token\n",
                       "text/plain; charset=utf-8")
            return None
        return parts[1:]

    def do_GET(self) -> None:
        parts = self._route()
        if parts is None:
            return
        try:
            if parts in ([], [""]):
                nonce = secrets.token_urlsafe(16)
                page = render_page(self.server.views(), token=self.server.token, nonce=nonce)
                return self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8", nonce)
            if len(parts) == 4 and parts[0] == "a" and parts[1].isdigit() and parts[2] == "evidence":
                return self._evidence(int(parts[1]), parts[3])
        except RewriterError as exc:
            return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{exc}\n".encode(), "text/plain; charset=utf-8")
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _evidence(self, index: int, name: str) -> None:
        """A saved evidence file of the run, as plain text; nothing outside its evidence/ folder."""
        if index >= len(self.server.out_dirs) or "/" in name or "\\" in name or name.startswith("."):
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        linked = self.server.out_dirs[index] / "evidence"
        folder = linked.resolve()
        path = (folder / name).resolve()
        # A link anywhere on the way (the folder itself, or a file in it) could lead out of the run.
        if linked.is_symlink() or (linked / name).is_symlink() or path.parent != folder or not path.is_file():
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        self._send(HTTPStatus.OK, path.read_bytes(), "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        parts = self._route()
        if parts is None:
            return
        try:
            if len(parts) != 3 or parts[0] != "a" or not parts[1].isdigit() or parts[2] != "decide":
                raise Refused(HTTPStatus.NOT_FOUND, "not found")
            if self.headers.get_content_type() != "application/json":
                raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a decision is a small JSON object")
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            if not isinstance(body, dict):
                raise Refused(HTTPStatus.BAD_REQUEST, "send a JSON object")
            self._json(HTTPStatus.OK, {"html": self.server.decide(int(parts[1]), body)})
        except Refused as exc:
            self._json(exc.status, {"error": str(exc)})
        except (ValueError, UnicodeDecodeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except RewriterError as exc:
            self._json(HTTPStatus.CONFLICT, {"error": str(exc)})


def serve(out_dirs: list[Path], *, open_browser: bool, show) -> None:
    """Serve the review page until Ctrl-C; ``show`` prints a line for the person."""
    import webbrowser

    server = ReviewServer(out_dirs)
    show(f"review page: {server.url}")
    show("decisions are saved on every click; Ctrl-C stops the server")
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    for d in server.out_dirs:
        show(f"stopped; decisions in {d / 'decisions.json'}; next: rewriter apply {d}")
