"""apply: only accepted changes reach the article, atomically, refused on changed bytes; git commits."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from rewriter import emit, review
from rewriter.apply import apply
from rewriter.cli import cli
from rewriter.errors import ApplyError
from rewriter.loader import decode, load

from .conftest import SEEDS
from .processes import run_unprivileged
from .test_emit import BOM, SAMPLE, change, git, git_env, init_repo, make_run, seed_run  # noqa: F401
from .test_review import THREE

NAME = "articles/000_test.txt"


def accepted_bytes(out_dir, article_path) -> bytes:
    """What the article should become: the accepted edits of decisions.json, nothing else."""
    run = review.read_run(out_dir)
    accepted = review.Decisions.load(out_dir, run).accepted()
    article = load(article_path)
    edits = emit.plan_edits(run.findings, [p for p in run.proposals if p.id in accepted], text=article.text)
    return article.encode(emit.splice(article.text, [(e.start, e.end, e.new) for e in edits.edits]))


def subprocess_bytes(cwd, *args) -> bytes:
    """git's stdout as bytes, for blobs that must compare byte for byte."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


@pytest.fixture
def crlf_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = BOM + SAMPLE.replace("\n", "\r\n").encode()
    changes = [dict(c, find=c["find"].replace("\n", "\r\n")) for c in THREE]
    return make_run(tmp_path, raw, changes)


def test_apply_writes_only_accepted_changes_and_prints_a_word_diff(crlf_run, tmp_path):
    first, second, third, fourth = [p.id for p in review.read_run(crlf_run).reviewable]
    decisions = review.Decisions.load(crlf_run)
    decisions.record(first, "accept", "47 milliards")
    decisions.record(second, "reject")
    decisions.record(third, "accept")
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 0, result.output
    raw = (tmp_path / NAME).read_bytes()
    assert raw == BOM + ("Mixtral compte 47 milliards de paramètres [DONNÉES NÉCESSAIRES].\r\n"
                         "Annoncé le 23 mars 2023 à Paris.\r\nFin de l'article.").encode()
    assert f"{first} line 1: Mixtral compte [-12-]{{+47+}} milliards" in result.output
    assert f"{third} line 3: [-Comments are coming soon!-] (whole line deleted)" in result.output
    assert f"wrote {NAME} (2 change(s))" in result.output
    assert not list((tmp_path / "articles").glob(".*.tmp")), "no temporary file left behind"
    assert json.loads((crlf_run / "decisions.json").read_text())["applied"]["commits"] == []

    again = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert again.exit_code == 1 and f"{NAME} already has these changes applied; nothing to do" in again.output


def test_an_article_edited_after_the_run_is_refused(crlf_run, tmp_path):
    review.review_bulk(crlf_run, "all", False)
    edited = (tmp_path / NAME).read_bytes().replace(b"Paris", b"Lyon")
    (tmp_path / NAME).write_bytes(edited)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(f"Error: {NAME} changed since the run (sha256 ")
    assert line.endswith(f"run `rewriter run {NAME}` again")
    assert (tmp_path / NAME).read_bytes() == edited


def test_a_read_only_article_is_refused_and_left_alone(crlf_run, tmp_path):
    review.review_bulk(crlf_run, "all", False)
    before = (tmp_path / NAME).read_bytes()
    (tmp_path / NAME).chmod(0o444)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1 and f"{NAME} is read-only" in result.output
    assert (tmp_path / NAME).read_bytes() == before


def test_apply_needs_decisions_and_finds_nothing_to_do_when_all_rejected(crlf_run):
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1 and "no decisions yet; run `rewriter review out/000_test` first" in result.output
    review.review_bulk(crlf_run, None, True)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 0 and "nothing to apply" in result.output


def test_commit_needs_a_repository(crlf_run):
    review.review_bulk(crlf_run, "all", False)
    with pytest.raises(ApplyError, match="not inside a git repository"):
        apply(crlf_run, commit=True)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_review_then_apply_commit_on_a_seed(tmp_path, monkeypatch, seed, git_env):
    """The loop on each seed: review on stdin, apply --commit, and the commit holds exactly that."""
    root = tmp_path / "clone"
    out_dir = seed_run(root, seed)
    monkeypatch.chdir(root)
    changes = review.read_run(out_dir).reviewable
    answers = "".join("y\n" if i % 3 != 1 else "n\n" for i in range(len(changes)))
    result = CliRunner().invoke(cli, ["review", f"out/{seed.stem}"], input=answers)
    assert result.exit_code == 0, result.output
    recorded = json.loads((out_dir / "decisions.json").read_text())["decisions"]
    assert [v["decision"] for v in recorded.values()] == \
        ["accept" if i % 3 != 1 else "reject" for i in range(len(changes))]

    path = f"articles/{seed.name}"
    expected = accepted_bytes(out_dir, root / path)
    result = CliRunner().invoke(cli, ["apply", f"out/{seed.stem}", "--commit"])
    assert result.exit_code == 0, result.output
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [path]
    assert git(root, "cat-file", "blob", f"HEAD~1:{path}").encode() == seed.read_bytes()
    assert (root / path).read_bytes() == expected
    assert subprocess_bytes(root, "cat-file", "blob", f"HEAD:{path}") == expected
    assert git(root, "status", "--porcelain", "--", "articles") == ""
    message = git(root, "log", "-1", "--format=%B")
    accepted = [cid for cid, v in recorded.items() if v["decision"] == "accept"]
    applied = [cid for cid in accepted if cid in message]
    assert applied and all(f"Rewriter-Change: {cid}" in message for cid in applied)
    assert git(root, "log", "-1", "--format=%(trailers:key=Source,valueonly)").strip() == \
        "https://example.org/mistral-mixtral"


def test_commit_refuses_an_article_with_uncommitted_changes(tmp_path, monkeypatch, git_env):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "articles").mkdir()
    (tmp_path / NAME).write_bytes(b"ancien texte\n")
    init_repo(tmp_path)
    out_dir = make_run(tmp_path, SAMPLE.encode(), THREE)   # the run saw uncommitted bytes
    review.review_bulk(out_dir, "all", False)
    with pytest.raises(ApplyError, match=f"{NAME} has uncommitted changes in git; commit or stash them first"):
        apply(out_dir, commit=True)
    assert (tmp_path / NAME).read_bytes() == SAMPLE.encode()


SPACED = "Un: 12 milliards.\nDeux [DONNÉES NÉCESSAIRES].\nTrois: 23 mars 2023.\nQuatre.\nComments are coming soon!\nCinq.\nFin de l'article."


def test_branch_gets_one_commit_per_change_and_the_checkout_stays(tmp_path, monkeypatch, git_env):
    monkeypatch.chdir(tmp_path)
    out_dir = make_run(tmp_path, SPACED.encode(), THREE)
    init_repo(tmp_path)
    review.review_bulk(out_dir, "all", False)
    result = CliRunner().invoke(cli, ["apply", "out/000_test", "--branch", "review/000"])
    assert result.exit_code == 0, result.output
    assert "your checkout is unchanged: `git switch review/000`" in result.output
    assert (tmp_path / NAME).read_bytes() == SPACED.encode()
    assert git(tmp_path, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(tmp_path, "status", "--porcelain", "--", "articles") == ""

    commits = git(tmp_path, "rev-list", "--reverse", "main..review/000").split()
    assert len(commits) == 4
    for commit in commits:
        stat = git(tmp_path, "diff-tree", "--numstat", "-r", "--no-commit-id", commit).split()
        assert stat[2] == NAME and git(tmp_path, "log", "-1", "--format=%s", commit).startswith("000_test.txt: ")
    full = subprocess_bytes(tmp_path, "cat-file", "blob", f"review/000:{NAME}").decode()
    assert full == "Un: 46,7 milliards.\nDeux [DONNÉES NÉCESSAIRES].\nTrois: 11 décembre 2023.\nQuatre.\nCinq.\nFin du texte de l'article."

    # Any single correction can be taken back with git (when no other one touches its lines).
    git(tmp_path, "switch", "-q", "review/000")
    git(tmp_path, "revert", "--no-edit", commits[1])
    assert (tmp_path / NAME).read_text(encoding="utf-8") == full.replace("11 décembre", "23 mars")

    git(tmp_path, "switch", "-q", "main")
    with pytest.raises(ApplyError, match="differs from the bytes of the run"):
        apply(out_dir, branch="review/000")
    with pytest.raises(ApplyError, match="you are on main; use --commit"):
        apply(out_dir, branch="main")


def test_a_second_branch_apply_says_it_is_done(tmp_path, monkeypatch, git_env):
    monkeypatch.chdir(tmp_path)
    out_dir = make_run(tmp_path, SAMPLE.encode(), THREE)
    init_repo(tmp_path)
    review.review_bulk(out_dir, "verified", False)
    first = apply(out_dir, branch="review/x")
    assert len(first.commits) == 3 and not first.wrote
    with pytest.raises(ApplyError, match="these changes are already on review/x; nothing to do"):
        apply(out_dir, branch="review/x")
    assert decode((tmp_path / NAME).read_bytes(), tmp_path / NAME).text == SAMPLE


# --- non-ASCII paths ---------------------------------------------------------------------

ACCENTED = "été 2024 — bilan.txt"


@pytest.fixture
def accented_run(tmp_path, monkeypatch, git_env):
    """A repository (in a folder with an accent too) whose article is ``articles/été 2024 — bilan.txt``."""
    root = tmp_path / "rédaction"
    out_dir = make_run(root, SPACED.encode(), THREE, name=ACCENTED)
    init_repo(root)
    monkeypatch.chdir(root)
    review.review_bulk(out_dir, "all", False)
    return root, out_dir


def test_commit_an_article_with_an_accented_name(accented_run):
    root, out_dir = accented_run
    result = CliRunner().invoke(cli, ["apply", str(out_dir), "--commit"])
    assert result.exit_code == 0, result.output
    path = f"articles/{ACCENTED}"
    assert git(root, "-c", "core.quotePath=false", "show", "--name-only", "--format=", "HEAD").split("\n")[0] == path
    assert subprocess_bytes(root, "cat-file", "blob", f"HEAD:{path}") == (root / path).read_bytes()
    assert (root / path).read_bytes() != SPACED.encode()
    assert git(root, "status", "--porcelain") == "?? out/\n"
    assert json.loads((out_dir / "decisions.json").read_text())["applied"]["commits"] == [
        git(root, "rev-parse", "HEAD").strip()]


def test_branch_for_an_article_with_an_accented_name(accented_run):
    root, out_dir = accented_run
    result = CliRunner().invoke(cli, ["apply", str(out_dir), "--branch", "relecture/été"])
    assert result.exit_code == 0, result.output
    assert len(git(root, "rev-list", "main..relecture/été").split()) == 4
    assert subprocess_bytes(root, "cat-file", "blob", f"relecture/été:articles/{ACCENTED}").decode() == \
        "Un: 46,7 milliards.\nDeux [DONNÉES NÉCESSAIRES].\nTrois: 11 décembre 2023.\nQuatre.\nCinq.\nFin du texte de l'article."
    assert (root / "articles" / ACCENTED).read_bytes() == SPACED.encode()


def test_commit_is_refused_before_writing_when_git_would_refuse_it(accented_run):
    """A merge in progress makes `git commit -- path` fail: that is found out before the article is written."""
    root, out_dir = accented_run
    (root / ".git" / "MERGE_HEAD").write_text(git(root, "rev-parse", "HEAD"))
    with pytest.raises(ApplyError, match="a merge is in progress in .*; finish or abort it first"):
        apply(out_dir, commit=True)
    assert (root / "articles" / ACCENTED).read_bytes() == SPACED.encode()
    assert "applied" not in json.loads((out_dir / "decisions.json").read_text())


def test_a_commit_refused_by_a_hook_leaves_the_article_written_and_says_so(accented_run):
    root, out_dir = accented_run
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\necho 'not today' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ApplyError, match="wrote articles/été 2024 — bilan.txt but git commit failed \\(not today\\)"
                                         "; commit it yourself, or `git checkout -- 'articles/été"):
        apply(out_dir, commit=True)
    assert (root / "articles" / ACCENTED).read_bytes() != SPACED.encode()
    with pytest.raises(ApplyError, match="already has these changes applied"):
        apply(out_dir)
    # --commit again commits what was written: here the hook still says no, in its words.
    with pytest.raises(ApplyError, match="git commit failed \\(not today\\)"):
        apply(out_dir, commit=True)


def test_commit_and_branch_together_are_a_usage_error(crlf_run):
    review.review_bulk(crlf_run, "all", False)
    before = (crlf_run.parent.parent / NAME).read_bytes()
    result = CliRunner().invoke(cli, ["apply", "out/000_test", "--commit", "--branch", "review/x"])
    assert result.exit_code == 2
    assert "Error: --commit and --branch exclude each other" in result.output
    assert (crlf_run.parent.parent / NAME).read_bytes() == before
    with pytest.raises(ValueError, match="exclude each other"):
        apply(crlf_run, commit=True, branch="review/x")


# --- finding the article from anywhere ------------------------------------------------------

def test_apply_from_a_subdirectory_with_out_elsewhere(tmp_path, monkeypatch, git_env):
    """`rewriter run articles/X --out /elsewhere`, then apply from articles/: found by absolute_path."""
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE, out_root=tmp_path / "elsewhere")
    init_repo(repo)
    review.review_bulk(out_dir, "verified", False)
    monkeypatch.chdir(repo / "articles")
    result = CliRunner().invoke(cli, ["apply", "../../elsewhere/000_test"])
    assert result.exit_code == 0, result.output
    assert "46,7 milliards" in (repo / NAME).read_text(encoding="utf-8")


def test_apply_in_a_moved_clone_finds_the_article_by_its_repository_path(tmp_path, monkeypatch, git_env):
    """Run from articles/ (path typed `000_test.txt`), the clone copied elsewhere and the original
    edited since: absolute_path no longer matches, repo_path under the out folder's repository does."""
    repo = tmp_path / "repo"
    make_run(repo, SAMPLE.encode(), THREE, given="000_test.txt")
    init_repo(repo)
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    (repo / NAME).write_text("autre chose", encoding="utf-8")
    out_dir = copy / "out" / "000_test"
    review.review_bulk(out_dir, "verified", False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["apply", "copy/out/000_test", "--commit"])
    assert result.exit_code == 0, result.output
    assert "46,7 milliards" in (copy / NAME).read_text(encoding="utf-8")
    assert (repo / NAME).read_text(encoding="utf-8") == "autre chose"
    assert git(copy, "show", "--name-only", "--format=", "HEAD").split() == [NAME]


def test_a_run_copied_into_another_clone_applies_to_that_clone(tmp_path, monkeypatch, git_env):
    """Both clones still hold the run's bytes: the clone that holds out/ is the one changed."""
    repo = tmp_path / "repo"
    make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    review.review_bulk(copy / "out" / "000_test", "verified", False)
    monkeypatch.chdir(copy)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 0, result.output
    assert "46,7 milliards" in (copy / NAME).read_text(encoding="utf-8")
    assert (repo / NAME).read_bytes() == SAMPLE.encode()


def test_an_old_report_without_the_new_paths_still_works(crlf_run, tmp_path):
    report = json.loads((crlf_run / "report.json").read_text(encoding="utf-8"))
    del report["article"]["absolute_path"], report["article"]["repo_path"]
    (crlf_run / "report.json").write_text(json.dumps(report), encoding="utf-8")
    review.review_bulk(crlf_run, "all", False)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 0, result.output
    assert b"46,7 milliards" in (tmp_path / NAME).read_bytes()


def test_apply_keeps_crlf_when_a_replacement_brings_lf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = SAMPLE.replace("\n", "\r\n").encode()
    out_dir = make_run(tmp_path, raw, [change("23 mars 2023", replacement="11 décembre 2023.\nMis à jour")])
    review.review_bulk(out_dir, "all", False)
    apply(out_dir)
    new = (tmp_path / NAME).read_bytes()
    assert "Annoncé le 11 décembre 2023.\r\nMis à jour à Paris.\r\n".encode() in new
    assert b"\n" not in new.replace(b"\r\n", b"")
    assert new == (out_dir / "000_test.txt").read_bytes()


# --- hardening: what a crafted out/ folder, git or the file system can do ------------------------

def test_branch_checked_out_in_another_worktree_is_refused(tmp_path, monkeypatch, git_env):
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "review/x", str(other))
    before = git(repo, "rev-parse", "review/x")
    review.review_bulk(out_dir, "verified", False)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["apply", "out/000_test", "--branch", "review/x"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        f"Error: review/x is checked out in the worktree {other}; committing on it would change that "
        "worktree under its feet: name another --branch, or apply --commit there"]
    assert git(repo, "rev-parse", "review/x") == before
    assert git(other, "status", "--porcelain") == ""
    assert (repo / NAME).read_bytes() == SAMPLE.encode()
    assert "applied" not in json.loads((out_dir / "decisions.json").read_text())


@pytest.mark.parametrize("field, value, victim", [
    ("absolute_path", "{victim}", "victim/.profile"),
    ("repo_path", "../victim/.profile", "victim/.profile"),
    ("path", "../victim/.profile", "victim/.profile"),
    ("path", "{victim}", "victim/.profile"),
    ("repo_path", ".git/hooks/post-commit", "repo/.git/hooks/post-commit"),
])
def test_a_crafted_report_cannot_make_apply_write_outside_the_repository(tmp_path, monkeypatch, git_env,
                                                                          field, value, victim):
    """The report names another file holding the very bytes it claims (so the sha256 check passes)."""
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    victim = tmp_path / victim
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(SAMPLE.encode())
    (repo / NAME).unlink()                       # the run is not about a file of this repository
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    for key in ("absolute_path", "repo_path"):
        report["article"].pop(key)
    report["article"][field] = value.format(victim=victim)
    (out_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    review.review_bulk(out_dir, "all", False)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1, result.output
    assert f"names {victim} as the article, outside {repo}" in result.output
    assert result.output.rstrip().endswith("(or the folder above out/): refused")
    assert victim.read_bytes() == SAMPLE.encode()
    assert not list(victim.parent.glob(".*.tmp"))


def test_without_a_repository_apply_stays_under_the_folder_of_the_run(tmp_path, monkeypatch):
    work = tmp_path / "work"
    out_dir = make_run(work, SAMPLE.encode(), THREE)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SAMPLE.encode())
    (work / NAME).unlink()
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    report["article"]["absolute_path"] = str(victim)
    (out_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    review.review_bulk(out_dir, "all", False)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1 and f"outside {work}" in result.output
    assert victim.read_bytes() == SAMPLE.encode()


@pytest.mark.parametrize("where, value, error", [
    (("proposals", 0, "confidence"), "high", "at $.proposals[0].confidence: 'high' is not of type 'number'"),
    (("findings", 0, "line"), "1", "at $.findings[0].line: '1' is not of type 'integer'"),
    (("article", "encoding"), "no-such-codec", "unknown encoding 'no-such-codec' at $.article.encoding"),
    (("proposals",), {}, "at $.proposals: {} is not of type 'array'"),
    (("findings", 0, "start"), 9, "at $.findings[0]: start 9 and end 27 do not span its text"),
])
def test_a_report_with_wrong_types_is_one_line_for_review_and_apply(crlf_run, where, value, error):
    review.review_bulk(crlf_run, "all", False)
    report = json.loads((crlf_run / "report.json").read_text(encoding="utf-8"))
    node = report
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (crlf_run / "report.json").write_text(json.dumps(report), encoding="utf-8")
    before = (crlf_run.parent.parent / NAME).read_bytes()
    own = "encoding" in error or "span" in error          # checks beyond the schema
    for args in (["review", "out/000_test"], ["review", "out/000_test", "--accept", "all"],
                 ["apply", "out/000_test"]):
        result = CliRunner().invoke(cli, args, input="y\n")
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert result.output.strip().splitlines() == [f"Error: out/000_test/report.json: "
                                                      + ("" if own else "does not match schemas/report.json (")
                                                      + error + ("" if own else ")")
                                                      + "; run `rewriter run` again"]
    assert (crlf_run.parent.parent / NAME).read_bytes() == before


def test_an_unreadable_article_is_one_line_and_left_alone(crlf_run, tmp_path):
    review.review_bulk(crlf_run, "all", False)
    article = tmp_path / NAME
    before = article.read_bytes()
    article.chmod(0o200)                        # writable, not readable
    try:
        proc = run_unprivileged(tmp_path, "apply", "out/000_test")
    finally:
        article.chmod(0o644)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (f"Error: cannot read {NAME} (Permission denied); nothing was changed: "
                                   "make it readable, then apply again")
    assert article.read_bytes() == before


def test_an_article_in_a_read_only_folder_is_one_line_and_left_alone(crlf_run, tmp_path):
    review.review_bulk(crlf_run, "all", False)
    folder = tmp_path / "articles"
    before = (folder / "000_test.txt").read_bytes()
    folder.chmod(0o555)
    try:
        proc = run_unprivileged(tmp_path, "apply", "out/000_test")
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (f"Error: cannot write {NAME} (Permission denied); the article is untouched: "
                                   "it is replaced through a temporary file beside it, so make its folder "
                                   "writable, then apply again")
    assert (folder / "000_test.txt").read_bytes() == before and sorted(folder.iterdir()) == [folder / "000_test.txt"]
    assert "applied" not in json.loads((crlf_run / "decisions.json").read_text())


def test_terminal_escapes_in_a_replacement_reach_the_article_but_not_the_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = "46,7\x1b]0;pwned\x07\x1b[2J milliards\u202e"
    out_dir = make_run(tmp_path, SAMPLE.encode(), [change("12 milliards", replacement=evil)])
    review.review_bulk(out_dir, "all", False)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "[-12-]{+46,7\\x1b]0;pwned\\x07\\x1b[2J+} milliards{+\\u202e+}" in result.output
    assert evil.encode() in (tmp_path / NAME).read_bytes()     # bytes are the reviewer's call, not ours


@pytest.mark.parametrize("target", ["Makefile", ".github/workflows/ci.yml", "tools/deploy.sh"])
def test_a_crafted_report_cannot_make_apply_edit_a_file_that_is_no_article(tmp_path, monkeypatch, git_env, target):
    """Inside the repository, but a Makefile or a workflow: apply only ever writes articles."""
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    victim = repo / target
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(SAMPLE.encode())
    init_repo(repo)
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    for key in ("absolute_path", "path"):
        report["article"].pop(key, None)
    report["article"]["repo_path"] = target
    report["article"]["path"] = target
    (out_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    review.review_bulk(out_dir, "all", False)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["apply", "out/000_test"])
    assert result.exit_code == 1, result.output
    assert "never a Makefile, a workflow or code: refused" in result.output
    assert victim.read_bytes() == SAMPLE.encode()
