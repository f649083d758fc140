"""emit: span edits, git-compatible diffs, CriticMarkup and review.md.

Also holds the helpers the review/apply tests share: a run folder built by
hand (report.json as the pipeline writes it) and a throwaway git repository.
"""

from __future__ import annotations

import codecs
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter import emit
from rewriter.loader import decode, load, sha256_bytes
from rewriter.models import (BOILERPLATE, DELETE, FAILED, KEEP, NEEDS_HUMAN, NEEDS_REVIEW, PLACEHOLDER,
                             REPLACE, VERIFIED, Finding, Proposal, Source, change_id)
from rewriter.resources import schema_errors

from .conftest import ARTICLES, SEEDS

BOM = codecs.BOM_UTF8
URL = "https://example.org/mistral-mixtral"


# --- helpers shared with test_review, test_apply and test_invariants -----------------

def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    proc = subprocess.run(["git", "-c", "core.autocrlf=false", *args], cwd=cwd, input=data,
                          capture_output=True, check=True)
    return proc.stdout.decode("utf-8", "replace")


@pytest.fixture
def git_env(monkeypatch):
    """A git identity and no system config, so commits work the same everywhere."""
    for key, value in {"GIT_AUTHOR_NAME": "Ed Itor", "GIT_AUTHOR_EMAIL": "ed@example.org",
                       "GIT_COMMITTER_NAME": "Ed Itor", "GIT_COMMITTER_EMAIL": "ed@example.org",
                       "GIT_CONFIG_NOSYSTEM": "1"}.items():
        monkeypatch.setenv(key, value)


def init_repo(root: Path) -> Path:
    """A clean repository whose first commit holds ``root/articles`` (not ``out/``)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ed Itor")
    git(root, "config", "user.email", "ed@example.org")
    git(root, "add", "-A", "--", "articles")
    git(root, "commit", "-q", "-m", "articles")
    return root


def change(find: str, action: str = REPLACE, replacement: str = "", *, status: str = VERIFIED,
           kind: str = PLACEHOLDER, nth: int = 0, rationale: str = "", sources=None) -> dict:
    return {"find": find, "action": action, "replacement": replacement, "status": status,
            "kind": kind, "nth": nth, "rationale": rationale, "sources": sources}


def build(text: str, changes: list[dict]) -> tuple[dict[str, Finding], list[Proposal]]:
    """Findings at the ``nth`` occurrence of each ``find``, and one proposal for each."""
    findings, proposals = {}, []
    for c in changes:
        starts = [m.start() for m in re.finditer(re.escape(c["find"]), text)]
        start = starts[c["nth"]]
        f = Finding.at(text, start, start + len(c["find"]), c["kind"], "test", f"found {c['find']!r}")
        findings[f.id] = f
        sources = c["sources"]
        if sources is None:
            sources = [Source(URL, title="Mixtral of experts", publisher="Mistral AI", date="2023-12-11",
                              quote="Mixtral has 46.7B total parameters.", status="verified")]
        proposals.append(Proposal(change_id(f.id), f.id, c["action"], c["replacement"],
                                  rationale=c["rationale"] or f"Fix {c['find']}.", confidence=0.8,
                                  sources=sources, status=c["status"]))
    return findings, proposals


def write_report(out_dir: Path, article, path_given: str, findings, proposals,
                 repo_path: str | None = None) -> None:
    """report.json as the pipeline writes it; ``repo_path`` None leaves out the paths newer runs add."""
    where = {} if repo_path is None else {"absolute_path": article.path.resolve().as_posix(), "repo_path": repo_path}
    report = {"version": 1, "tool": "rewriter test",
              "article": {"path": path_given, **where, "file": article.path.name, "stem": article.stem,
                          "sha256": article.sha256, "encoding": article.encoding, "bom": article.bom,
                          "language": "fr", "date": None},
              "generated_at": "2026-01-01T00:00:00+00:00", "offline": False,
              "findings": [f.to_dict() for f in findings.values()], "claims": [], "references": [],
              "evidence": [], "proposals": [p.to_dict() for p in proposals], "errors": [],
              "usage": {"model": "fake-model", "base_url": "http://127.0.0.1:9/v1", "requests": 0, "prompt_tokens": 0,
                        "completion_tokens": 0, "cache_hits": 0, "calls": [], "stages": {}}}
    assert schema_errors(report, "report") == [], "the helper writes what the pipeline writes"
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


def make_run(root: Path, raw: bytes, changes: list[dict], name: str = "000_test.txt", *,
             out_root: Path | None = None, given: str | None = None) -> Path:
    """``root/articles/<name>`` holding ``raw`` and ``OUT/<stem>/`` as `rewriter run` leaves it.

    ``out_root`` defaults to ``root/out``; ``given`` is the article path as typed on the command
    line (default ``articles/<name>``, typed from ``root``).
    """
    path = root / "articles" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    article = load(path)
    findings, proposals = build(article.text, changes)
    out_dir = (root / "out" if out_root is None else out_root) / path.stem
    emit.write_outputs(out_dir, article, findings, proposals, repo_path=f"articles/{name}")
    write_report(out_dir, article, given or f"articles/{name}", findings, proposals, f"articles/{name}")
    return out_dir


SAMPLE = ("Mixtral compte 12 milliards de paramètres [DONNÉES NÉCESSAIRES].\n"
          "Annoncé le 23 mars 2023 à Paris.\n"
          "Comments are coming soon!\n"
          "Fin de l'article.")
SAMPLE_CHANGES = [
    change("12 milliards", replacement="46,7 milliards", kind="claim"),
    change("[DONNÉES NÉCESSAIRES]", NEEDS_HUMAN, status=NEEDS_HUMAN, sources=[]),
    change("23 mars 2023", replacement="11 décembre 2023", status=NEEDS_REVIEW, kind="claim"),
    change("Comments are coming soon!\n", DELETE, kind=BOILERPLATE, sources=[]),
]


# --- splice and plan ---------------------------------------------------------------

def test_splice_applies_edits_in_any_order_and_refuses_overlaps():
    assert emit.splice("abcdef", [(4, 5, "E"), (0, 1, "A"), (2, 2, "+")]) == "Ab+cdEf"
    with pytest.raises(ValueError, match="overlaps"):
        emit.splice("abcdef", [(0, 3, "x"), (2, 4, "y")])
    with pytest.raises(ValueError, match="outside"):
        emit.splice("abc", [(2, 9, "x")])


def test_overlapping_findings_keep_the_outer_one_whatever_the_order():
    text = "Intro.\nPartagez [TK] sur Facebook\nFin."
    findings, proposals = build(text, [change("[TK]", replacement="ceci"),
                                       change("Partagez [TK] sur Facebook\n", DELETE, kind=BOILERPLATE)])
    for order in (proposals, proposals[::-1]):
        plan = emit.plan_edits(findings, order, text=text)
        assert [e.change_id for e in plan.edits] == [proposals[1].id]
        assert proposals[1].id in plan.skipped[proposals[0].id]
    assert emit.splice(text, emit.text_edits(findings, proposals)) == "Intro.\nFin."
    # Once the outer change is rejected, the inner one applies.
    assert emit.splice(text, emit.text_edits(findings, proposals, {proposals[0].id})) == \
        "Intro.\nPartagez ceci sur Facebook\nFin."


@pytest.mark.parametrize("text,gone,result", [
    ("a\nPub\nb", ["Pub"], "a\nb"),
    ("a\r\nPub\r\nb\r\n", ["Pub"], "a\r\nb\r\n"),
    ("a\nPub", ["Pub"], "a"),
    ("a\nPub\nFin", ["Pub", "Fin"], "a"),          # no final newline before, none after
    ("a Pub b\n", ["Pub"], "a  b\n"),
])
def test_deleting_a_whole_line_takes_its_line_break(text, gone, result):
    findings, proposals = build(text, [change(g, DELETE, kind=BOILERPLATE) for g in gone])
    assert emit.splice(text, emit.text_edits(findings, proposals, text=text)) == result
    # Without the text (bare text_edits) spans are taken exactly as found.
    assert emit.splice(text, emit.text_edits(findings, proposals)).count("Pub") == 0


def test_only_replace_and_delete_change_text_and_stale_spans_are_skipped():
    findings, proposals = build(SAMPLE, SAMPLE_CHANGES + [change("Paris", KEEP, status=KEEP)])
    proposals[0].status = FAILED
    plan = emit.plan_edits(findings, proposals, text=SAMPLE)
    assert [e.change_id for e in plan.edits] == [proposals[2].id, proposals[3].id]
    plan = emit.plan_edits(findings, proposals, text=SAMPLE.replace("23 mars", "24 mars"))
    assert "no longer matches" in plan.skipped[proposals[2].id]


def test_a_line_break_in_a_replacement_takes_the_ending_of_its_line():
    text = "Un 12.\r\nDeux 23.\nTrois 34."                  # CRLF, LF, then a last line without one
    findings, proposals = build(text, [change("12", replacement="douze\n(mis à jour)\r\n"),
                                       change("23", replacement="vingt\r\ntrois"),
                                       change("34", replacement="trente\nquatre")])
    new = emit.splice(text, emit.text_edits(findings, proposals, text=text))
    assert new == "Un douze\r\n(mis à jour)\r\n.\r\nDeux vingt\ntrois.\nTrois trente\nquatre."
    # Without the article's text there is no line to take the ending from: replacements stay as given.
    assert "douze\n(mis" in emit.splice(text, emit.text_edits(findings, proposals))


def test_a_crlf_article_gets_no_lone_lf_from_a_replacement(tmp_path):
    raw = SAMPLE.replace("\n", "\r\n").encode()
    out_dir = make_run(tmp_path, raw, [change("23 mars 2023", replacement="11 décembre 2023.\nMis à jour le 12")])
    rewritten = (out_dir / "000_test.txt").read_bytes()
    assert b"11 d\xc3\xa9cembre 2023.\r\nMis \xc3\xa0 jour le 12 \xc3\xa0 Paris.\r\n" in rewritten
    assert b"\n" not in rewritten.replace(b"\r\n", b"")
    assert git_apply(tmp_path, raw, (out_dir / "changes.diff").read_bytes().decode(),
                     "articles/000_test.txt") == rewritten
    assert "{~~23 mars 2023~>11 décembre 2023.\r\nMis à jour le 12~~}" in \
        (out_dir / "000_test.critic.md").read_bytes().decode()


def test_a_lone_cr_article_keeps_its_line_ending_in_replacements_and_deletions(tmp_path):
    # Old Mac line endings: a replacement with LF or CRLF in it used to mix CR, LF and CRLF.
    raw = SAMPLE.replace("\n", "\r").encode()
    out_dir = make_run(tmp_path, raw, [change("23 mars 2023", replacement="11 décembre 2023.\nMis à jour\r\nle 12"),
                                       change("Comments are coming soon!", DELETE, kind=BOILERPLATE, sources=[])])
    rewritten = (out_dir / "000_test.txt").read_bytes()
    assert rewritten == ("Mixtral compte 12 milliards de paramètres [DONNÉES NÉCESSAIRES].\r"
                         "Annoncé le 11 décembre 2023.\rMis à jour\rle 12 à Paris.\r"
                         "Fin de l'article.").encode()
    assert git_apply(tmp_path, raw, (out_dir / "changes.diff").read_bytes().decode(),
                     "articles/000_test.txt") == rewritten
    review_md = (out_dir / "review.md").read_text(encoding="utf-8")
    assert "[-Comments are coming soon!-] (whole line deleted)" in review_md


@pytest.mark.parametrize("text, eol", [("a\rb [x] c\rd", "\r"), ("a\r\nb [x] c\rd", "\r"),
                                       ("a\rb [x] c\r\nd", "\r\n"), ("a\rb [x] c", "\r"), ("b [x] c", None)])
def test_a_replacement_takes_the_break_of_its_own_line_cr_included(text, eol):
    findings, proposals = build(text, [change("[x]", replacement="un\ndeux\r\ntrois\rquatre")])
    new = emit.splice(text, emit.text_edits(findings, proposals, text=text))
    pieces = ["un", "deux", "trois", "quatre"]
    assert new == text.replace("[x]", eol.join(pieces) if eol else "un\ndeux\r\ntrois\rquatre")


# --- diffs ---------------------------------------------------------------------------

def git_apply(tmp_path: Path, old: bytes, diff: str, name: str = "articles/a.txt") -> bytes:
    repo = tmp_path / "apply"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / name).parent.mkdir(parents=True)
    (repo / name).write_bytes(old)
    (repo / "patch.diff").write_bytes(emit.diff_bytes(diff))
    git(repo, "init", "-q")
    git(repo, "apply", "--check", "patch.diff")
    git(repo, "apply", "patch.diff")
    return (repo / name).read_bytes()


@pytest.mark.parametrize("eol,bom,final", [("\n", False, True), ("\r\n", True, False), ("\r\n", False, True)])
def test_unified_diff_applies_with_git_byte_for_byte(tmp_path, eol, bom, final):
    lines = [f"ligne {i} é" for i in range(1, 12)]
    old = (BOM if bom else b"") + (eol.join(lines) + (eol if final else "")).encode()
    text = decode(old, Path("a.txt")).text
    new_text = text.replace("ligne 1 é", "première ligne").replace("ligne 11 é", "dernière")
    new = (BOM if bom else b"") + new_text.encode()
    diff = emit.unified_diff(old, new, "articles/a.txt")
    assert diff.startswith("diff --git a/articles/a.txt b/articles/a.txt\n--- a/articles/a.txt\n")
    assert ("\\ No newline at end of file" in diff) == (not final)
    assert git_apply(tmp_path, old, diff) == new


def test_unified_diff_keeps_non_utf8_bytes_and_is_empty_without_change(tmp_path):
    old = "Café crème\r\nà 2 €\r\n".encode("cp1252")
    new = "Café noir\r\nà 2 €\r\n".encode("cp1252")
    assert git_apply(tmp_path, old, emit.unified_diff(old, new, "articles/a.txt")) == new
    assert emit.unified_diff(old, old, "articles/a.txt") == ""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["le", "la", " ", "23", "mars", ",", "é"]), max_size=14),
       st.lists(st.sampled_from(["le", "la", " ", "23", "mars", ",", "é"]), max_size=14))
def test_word_diff_opcodes_cover_both_sides_and_rebuild_the_new_one(a, b):
    """The head and tail taken out before difflib come back as equal runs: same coverage, same result."""
    assert_rebuilds(emit._opcodes(a, b), a, b)


def assert_rebuilds(ops, a, b):
    """``ops`` cover ``a`` and ``b`` end to end, in order, equal runs are equal, and they rebuild ``b``."""
    rebuilt, i, j = [], 0, 0
    for tag, x1, x2, y1, y2 in ops:
        assert (x1, y1) == (i, j) and (tag != "equal" or a[x1:x2] == b[y1:y2])
        rebuilt += b[y1:y2]
        i, j = x2, y2
    assert (i, j) == (len(a), len(b)) and rebuilt == b


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_the_tokens_cover_every_character_so_an_unchanged_text_reads_as_itself(text):
    """word_diff returns an unchanged text as it is, without tokenising it: exact only because the
    tokens cover the whole text."""
    assert "".join(emit._TOKEN.findall(text)) == text == emit.word_diff(text, text)


def test_word_diff_marks_words_only():
    assert emit.word_diff("Mixtral a 12 milliards de paramètres", "Mixtral a 46,7 milliards de paramètres") \
        == "Mixtral a [-12-]{+46,7+} milliards de paramètres"
    assert emit.word_diff("a b", "a") == "a[- b-]"
    assert emit.word_diff("le 23 mars 2023", "le 11 décembre 2023") == "le [-23 mars-]{+11 décembre+} 2023"


# --- the files of a run ---------------------------------------------------------------

def test_write_outputs_writes_the_four_files(tmp_path):
    raw = BOM + SAMPLE.replace("\n", "\r\n").encode()
    out_dir = make_run(tmp_path, raw, [dict(c, find=c["find"].replace("\n", "\r\n")) for c in SAMPLE_CHANGES])
    article = load(tmp_path / "articles" / "000_test.txt")
    rewritten = (out_dir / "000_test.txt").read_bytes()
    assert rewritten.startswith(BOM) and b"\r\n" in rewritten and b"\n" not in rewritten.replace(b"\r\n", b"")
    new_text = decode(rewritten, Path("x")).text
    assert new_text == ("Mixtral compte 46,7 milliards de paramètres [DONNÉES NÉCESSAIRES].\r\n"
                        "Annoncé le 11 décembre 2023 à Paris.\r\nFin de l'article.")
    assert git_apply(tmp_path, article.raw, (out_dir / "changes.diff").read_bytes().decode(),
                     "articles/000_test.txt") == rewritten

    critic = (out_dir / "000_test.critic.md").read_bytes().decode("utf-8")
    assert "{~~12 milliards~>46,7 milliards~~}{>>[ch-" in critic
    assert f"Fix 12 milliards. — {URL}<<}}" in critic
    assert "{--Comments are coming soon!--}{>>[ch-" in critic and "\r\n--}" not in critic   # breaks stay outside
    assert "Paris.\r\n\r\n" in critic    # single-newline lines become paragraphs
    assert "{==[DONNÉES NÉCESSAIRES]==}{>>[ch-" in critic and "left for a human" in critic

    review = (out_dir / "review.md").read_text(encoding="utf-8")
    assert review.count("\n## ") == 4
    assert "Mixtral compte [-12-]{+46,7+} milliards" in review
    assert "- action: replace · status: verified · confidence: 0.80" in review
    assert "> Mixtral has 46.7B total parameters." in review
    assert f"- [verified] {URL} — Mixtral of experts (Mistral AI, 2023-12-11)" in review


@pytest.mark.parametrize("name", ["review.md", "changes.diff", "report.json", "decisions.json", "Review.md"])
def test_an_article_named_like_an_output_file_is_not_overwritten(tmp_path, name):
    out_dir = make_run(tmp_path, SAMPLE.encode(), SAMPLE_CHANGES, name=name)
    rewritten = (out_dir / f"rewritten-{name}").read_bytes().decode()
    assert rewritten.startswith("Mixtral compte 46,7 milliards de paramètres")
    assert (out_dir / "review.md").read_text(encoding="utf-8").startswith(f"# Review: {name}")
    assert (out_dir / "changes.diff").read_text(encoding="utf-8").startswith(f"diff --git a/articles/{name} ")
    assert json.loads((out_dir / "report.json").read_text(encoding="utf-8"))["article"]["file"] == name
    assert not (out_dir / "decisions.json").exists()
    assert emit.rewritten_name("000_test.txt") == "000_test.txt"
    assert emit.rewritten_name("evidence") == "rewritten-evidence"


def test_review_and_review_md_list_proposals_in_one_order():
    """One sort key for article order, shared by record.load_report (review, apply) and review.md."""
    from rewriter import record

    assert record.proposal_position is emit.proposal_position


# --- seed articles: the diff applies in a clean clone -------------------------------------

# Typos and slips a claims stage would flag in the seeds, with their fix.
CLAIMS = {"gagnéune": "gagné une", "Miscrosoft": "Microsoft", "peut confiante": "peu confiante",
          "12 milliards de paramètres": "46,7 milliards de paramètres"}


def seed_findings(text: str) -> list[Finding]:
    """What the detector finds, plus the claims of :data:`CLAIMS` present in the text."""
    from rewriter import detect

    found = list(detect.detect(text).findings)
    for old in CLAIMS:
        start = text.find(old)
        if start != -1:
            found.append(Finding.at(text, start, start + len(old), "claim", "typo", "typo"))
    return found


def seed_proposals(findings: list[Finding]) -> list[Proposal]:
    """Realistic decisions: fix claims, fill data placeholders, leave the rest to a human, delete debris."""
    proposals = []
    for f in findings:
        if f.kind in (BOILERPLATE, "artifact"):
            action, new = DELETE, ""
        elif f.kind == "claim":
            action, new = REPLACE, CLAIMS[f.text]
        elif f.kind == PLACEHOLDER and "DONN" in f.text:
            action, new = REPLACE, "(selon le rapport AI Index 2024 de Stanford)"
        else:
            action, new = NEEDS_HUMAN, ""
        status = NEEDS_HUMAN if action == NEEDS_HUMAN else VERIFIED
        proposals.append(Proposal(change_id(f.id), f.id, action, new, rationale=f"{f.kind}: {f.message}",
                                  confidence=0.7, sources=[Source(URL, quote="q", status="verified")],
                                  status=status))
    return proposals


def seed_run(root: Path, seed: Path) -> Path:
    """A clean clone holding articles/, and out/<stem>/ for ``seed`` built from seed findings."""
    shutil.copytree(ARTICLES, root / "articles")
    init_repo(root)
    article = load(root / "articles" / seed.name)
    findings = seed_findings(article.text)
    proposals = seed_proposals(findings)
    by_id = {f.id: f for f in findings}
    out_dir = root / "out" / seed.stem
    emit.write_outputs(out_dir, article, by_id, proposals, repo_path=f"articles/{seed.name}")
    write_report(out_dir, article, f"articles/{seed.name}", by_id, proposals, f"articles/{seed.name}")
    return out_dir


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seed_diff_applies_in_a_clean_clone(tmp_path, seed, git_env):
    root = tmp_path / "clone"
    out_dir = seed_run(root, seed)
    diff = out_dir / "changes.diff"
    assert diff.read_bytes(), "every seed has something to change"
    git(root, "apply", "--check", f"out/{seed.stem}/changes.diff")
    git(root, "apply", f"out/{seed.stem}/changes.diff")
    assert (root / "articles" / seed.name).read_bytes() == (out_dir / seed.name).read_bytes()
    assert sha256_bytes(seed.read_bytes()) != sha256_bytes((out_dir / seed.name).read_bytes())


_lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "\n", "d"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_lines, _lines)
def test_line_opcodes_cover_both_sides_and_rebuild_the_new_lines(a, b):
    assert_rebuilds(emit.line_opcodes(a, b), a, b)


def test_a_long_article_with_repeated_lines_is_diffed_region_by_region():
    """Twenty copies of the same paragraphs, one word changed in each: each changed line is its own
    region, and the diff shows exactly those twenty lines."""
    block = [f"Line {k} of the seed, with its words.\n" for k in range(50)]
    old = block * 20
    new = [line.replace("seed", "SEED") if n % 50 == 25 else line for n, line in enumerate(old)]
    ops = emit.line_opcodes(old, new)
    changed = [(x1, x2, y1, y2) for tag, x1, x2, y1, y2 in ops if tag != "equal"]
    assert changed == [(n, n + 1, n, n + 1) for n in range(25, 1000, 50)]
