"""Real processes, really interrupted: SIGKILL during a pre-commit hook, SIGINT/SIGTERM during review."""

from __future__ import annotations

import json
import signal

import pytest
from click.testing import CliRunner

from rewriter import review
from rewriter.cli import cli
from rewriter.resources import validate

from .processes import Rewriter, wait_until
from .test_apply import NAME, accepted_bytes
from .test_emit import SAMPLE, git, git_env, init_repo, make_run  # noqa: F401
from .test_review import THREE


def test_kill_9_during_a_pre_commit_hook_is_finished_by_the_next_apply(tmp_path, git_env):
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    review.review_bulk(out_dir, "verified", False)
    expected = accepted_bytes(out_dir, repo / NAME)
    started = tmp_path / "hook-started"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    # Silent, like a hook whose output goes nowhere once apply is gone; slow, like a linter.
    hook.write_text(f"#!/bin/sh\ntouch '{started}'\nsleep 1\nexit 0\n")
    hook.chmod(0o755)

    apply_run = Rewriter(repo, "apply", "out/000_test", "--commit")
    wait_until(started.exists, what="the pre-commit hook to start")
    apply_run.proc.send_signal(signal.SIGKILL)
    assert apply_run.finish() == -signal.SIGKILL
    wait_until(lambda: git(repo, "rev-list", "--count", "HEAD").strip() == "2", what="git to make the commit")
    wait_until(lambda: not (repo / ".git" / "index.lock").exists(), what="git to finish")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert (repo / NAME).read_bytes() == expected
    assert "applied" not in json.loads((out_dir / "decisions.json").read_text()), "killed before bookkeeping"

    hook.write_text("#!/bin/sh\nexit 0\n")
    result = CliRunner().invoke(cli, ["apply", str(out_dir), "--commit"])
    assert result.exit_code == 0, result.output
    assert (f"{NAME} already held exactly the accepted changes (an earlier apply was interrupted); "
            f"committed in {head[:12]}") in result.output
    applied = json.loads((out_dir / "decisions.json").read_text())["applied"]
    assert applied["commits"] == [head] and applied["branch"] is None
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "2", "no second commit"
    assert (repo / NAME).read_bytes() == expected
    again = CliRunner().invoke(cli, ["apply", str(out_dir), "--commit"])
    assert again.exit_code == 1 and "already has these changes applied; nothing to do" in again.output


def test_an_article_with_other_edits_is_still_refused_after_an_interrupted_apply(tmp_path, monkeypatch, git_env):
    """Only the exact accepted bytes count as finished: one more edit and it is 'changed since the run'."""
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    review.review_bulk(out_dir, "verified", False)
    (repo / NAME).write_bytes(accepted_bytes(out_dir, repo / NAME) + b"\nAjout.")
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["apply", "out/000_test", "--commit"])
    assert result.exit_code == 1 and f"{NAME} changed since the run" in result.output
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_an_interrupted_apply_whose_commit_did_not_land_is_committed_now(tmp_path, monkeypatch, git_env):
    repo = tmp_path / "repo"
    out_dir = make_run(repo, SAMPLE.encode(), THREE)
    init_repo(repo)
    review.review_bulk(out_dir, "verified", False)
    (repo / NAME).write_bytes(accepted_bytes(out_dir, repo / NAME))    # what apply wrote before it died
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["apply", "out/000_test", "--commit"])
    assert result.exit_code == 0, result.output
    head = git(repo, "rev-parse", "HEAD").strip()
    assert f"(an earlier apply was interrupted); committed in {head[:12]}" in result.output
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [NAME]
    assert "Rewriter-Change: " in git(repo, "log", "-1", "--format=%B")
    assert json.loads((out_dir / "decisions.json").read_text())["applied"]["commits"] == [head]


@pytest.mark.parametrize("mid_edit", [False, True], ids=["at-a-question", "mid-edit"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_review_keeps_every_answer_given(tmp_path, signum, mid_edit):
    out_dir = make_run(tmp_path, SAMPLE.encode(), THREE)
    first, second, *_ = [p.id for p in review.read_run(out_dir).reviewable]
    session = Rewriter(tmp_path, "review", "out/000_test")
    session.wait_for("Accept this change")
    session.type("y\n")
    session.wait_for("Accept this change", 2)
    if mid_edit:
        session.type("e\n")
        session.wait_for("New replacement")
    session.proc.send_signal(signum)
    code = session.finish()
    data = json.loads((out_dir / "decisions.json").read_text(encoding="utf-8"))
    validate(data, "decisions")
    assert {k: v["decision"] for k, v in data["decisions"].items()} == {first: "accept"}
    assert code == 0, session.output
    assert "1 accepted, 0 rejected, 3 undecided; saved in out/000_test/decisions.json" in session.output
    assert "Traceback" not in session.output
    assert not list(out_dir.glob(".*.tmp"))
