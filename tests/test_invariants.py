"""Properties of emit/review/apply on random articles: BOM or not, LF, CRLF, lone CR, mixed, no final newline.

1. Rejecting every change gives back the input bytes exactly.
2. Accepted changes alter only their spans (a deleted whole line also loses its line break), and a
   line break inside a replacement is the one of the line it goes on.
3. ``git apply changes.diff`` gives exactly the bytes of the rewritten file.

Examples are few (git runs in a subprocess for each) but the shapes are the awkward ones.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewriter import emit, review
from rewriter.apply import apply
from rewriter.loader import load
from rewriter.models import DELETE, REPLACE, Finding, Proposal, change_id

from .test_emit import BOM, write_report

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHARS = list("ab é€.,;’«»\t-") + ["\r", "[", "]"]
words = st.text(alphabet=CHARS, max_size=16)


@st.composite
def articles(draw) -> bytes:
    lines = draw(st.lists(words, min_size=1, max_size=10))
    uniform = draw(st.sampled_from(["\n", "\r\n", "\r", None]))
    eols = [uniform or draw(st.sampled_from(["\n", "\r\n", "\r"])) for _ in lines]
    text = "".join(line + eol for line, eol in zip(lines, eols))
    if not draw(st.booleans()):
        text = text[: -len(eols[-1])]
    if not text:
        text = "x"
    return (BOM if draw(st.booleans()) else b"") + text.encode("utf-8")


@st.composite
def runs(draw):
    """An article, random non-overlapping spans with random edits, and which ones are accepted."""
    raw = draw(articles())
    text = raw.decode("utf-8-sig")
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10, unique=True)))
    findings, proposals, accepted = {}, [], set()
    for start, end in zip(cuts[::2], cuts[1::2]):
        f = Finding.at(text, start, end, "claim", "test", "random span")
        action = draw(st.sampled_from([REPLACE, DELETE]))
        new = draw(st.text(alphabet=CHARS + ["\n"], max_size=12)) if action == REPLACE else ""
        p = Proposal(change_id(f.id), f.id, action, new, rationale="random", status="verified")
        findings[f.id] = f
        proposals.append(p)
        if draw(st.booleans()):
            accepted.add(p.id)
    return raw, findings, proposals, accepted


def make(root: Path, raw: bytes, findings, proposals) -> tuple[Path, Path]:
    path = root / "articles" / "a.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    article = load(path)
    out_dir = root / "out" / "a"
    emit.write_outputs(out_dir, article, findings, proposals, repo_path="articles/a.txt")
    write_report(out_dir, article, "articles/a.txt", findings, proposals)
    return path, out_dir


@SETTINGS
@given(runs())
def test_rejecting_every_change_gives_back_the_input_bytes(case):
    raw, findings, proposals, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        path, out_dir = make(Path(tmp), raw, findings, proposals)
        article = load(path)
        assert article.encode(emit.splice(article.text, emit.text_edits(findings, proposals, set()))) == raw
        review.review_bulk(out_dir, None, True)
        result = apply(out_dir, repo_root=Path(tmp))
        assert not result.edits and path.read_bytes() == raw


def breaks(text: str) -> list[tuple[int, str]]:
    """(offset, break) of each line break, CRLF, lone CR or LF, read one character at a time."""
    found, i = [], 0
    while i < len(text):
        if text[i] in "\r\n":
            eol = "\r\n" if text[i:i + 2] == "\r\n" else text[i]
            found.append((i, eol))
            i += len(eol)
        else:
            i += 1
    return found


def line_break_at(text: str, pos: int) -> str:
    return next((eol for i, eol in breaks(text) if i == pos), "")


def line_break_before(text: str, pos: int) -> str:
    return next((eol for i, eol in breaks(text) if i + len(eol) == pos), "")


def with_line_breaks_of(text: str, pos: int, new: str) -> str:
    """``new`` with each of its breaks made the one ending the line at ``pos`` (the last one on a last line)."""
    ends = breaks(text)
    if not ends:
        return new
    after = [eol for i, eol in ends if i + len(eol) > pos]
    eol = after[0] if after else ends[-1][1]
    out, last = [], 0
    for i, own in breaks(new):
        out += [new[last:i], eol]
        last = i + len(own)
    return "".join(out) + new[last:]


@SETTINGS
@given(runs())
def test_accepted_changes_alter_only_their_spans(case):
    raw, findings, proposals, accepted = case
    with tempfile.TemporaryDirectory() as tmp:
        path, out_dir = make(Path(tmp), raw, findings, proposals)
        text = load(path).text
        decisions = review.Decisions.load(out_dir)
        for p in proposals:
            decisions.record(p.id, "accept" if p.id in accepted else "reject", save=False)
        decisions.save()
        result = apply(out_dir, repo_root=Path(tmp))
        by_id = {p.id: p for p in proposals}
        assert {e.change_id for e in result.edits} == accepted
        expected = text
        for e in sorted(result.edits, reverse=True):        # rebuilt from the end, independently of splice
            p = by_id[e.change_id]
            f = findings[p.finding_id]
            span = (f.start, f.end)
            if (e.start, e.end) != span:                     # only a whole-line delete may widen, over
                assert p.action == DELETE                    # its line break and the blank lines beside it
                assert e.start <= f.start and f.end <= e.end and e.end - e.start > f.end - f.start
                extra = text[e.start:f.start] + text[f.end:e.end]
                assert not extra.strip(" \t\r\n") and ("\n" in extra or "\r" in extra)
                assert line_break_at(text, f.end) or line_break_before(text, f.start)
            new = with_line_breaks_of(text, f.start, p.replacement) if p.action == REPLACE else ""
            expected = expected[:e.start] + new + expected[e.end:]
        assert path.read_bytes() == (BOM if raw.startswith(BOM) else b"") + expected.encode("utf-8")


@SETTINGS
@given(runs())
def test_git_apply_of_changes_diff_gives_the_rewritten_bytes(case):
    raw, findings, proposals, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        path, out_dir = make(Path(tmp), raw, findings, proposals)
        rewritten = (out_dir / "a.txt").read_bytes()
        if rewritten == raw:
            assert (out_dir / "changes.diff").read_bytes() == b""
            return
        proc = subprocess.run(["git", "-c", "core.autocrlf=false", "apply", "out/a/changes.diff"],
                              cwd=tmp, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        assert path.read_bytes() == rewritten
