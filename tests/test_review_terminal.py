"""The terminal review fills the gaps: gaps typed in $EDITOR, a/d for the rest of a kind, uppercase
answers, what is already decided, earlier decisions under --redo, colour that survives NO_COLOR."""

from __future__ import annotations

import json
import re
import shutil
import stat

import pytest
from click.testing import CliRunner

from rewriter import review
from rewriter.apply import apply
from rewriter.cli import cli
from rewriter.terminal import marked, text_editor
from tests.conftest import ARTICLES, SEEDS

SEED = SEEDS[0]


@pytest.fixture
def out_dir(tmp_path, monkeypatch):
    shutil.copytree(ARTICLES, tmp_path / "articles")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", f"articles/{SEED.name}", "--offline"])
    assert result.exit_code == 0, result.output
    return tmp_path / "out" / SEED.stem


def scripted(answers):
    answers, shown = list(answers), []

    def ask(prompt, choices):
        shown.append(prompt)
        return answers.pop(0) if answers else ("q" if choices else "")
    return ask, shown


def test_a_gap_is_filled_in_the_editor_recorded_as_the_reviewers_and_applied(out_dir):
    run = review.read_run(out_dir)
    changes = len(run.reviewable)
    gap = next(p for p in run.proposals if review.fillable(p)
               and run.findings[p.finding_id].text == "[DONNÉES NÉCESSAIRES]")
    gaps = [p for p in run.proposals if review.fillable(p)]
    skips = ["s"] * gaps.index(gap)
    ask, prompts = scripted(["n"] * changes + skips + ["e", "https://example.org/stats", "q"])
    lines = []
    review.review_interactive(out_dir, ask, lines.append, edit=lambda text: "7,3 %")
    entry = json.loads((out_dir / "decisions.json").read_text(encoding="utf-8"))["decisions"][gap.id]
    assert entry["replacement"] == "7,3 %" and entry["by"] == "reviewer"
    assert entry["source"] == "https://example.org/stats" and entry["action"] == "needs_human"
    assert any("filled with your text (edited by the reviewer, not verified)" in line for line in lines)
    assert prompts.count(review.FILL_PROMPT) == len(skips) + 2   # the skips, this gap, the next (q)
    result = apply(out_dir)
    f = run.findings[gap.finding_id]
    assert result.new_text == result.old_text[:f.start] + "7,3 %" + result.old_text[f.end:]


def test_a_accepts_the_rest_of_this_kind_and_leaves_other_kinds(out_dir):
    run = review.read_run(out_dir)
    kinds = [run.findings[p.finding_id].kind for p in run.reviewable]
    first_boiler = kinds.index("boilerplate")
    ask, _ = scripted(["s"] * first_boiler + ["A", "q"])
    review.review_interactive(out_dir, ask, lambda line: None)
    decisions = review.Decisions.load(out_dir)
    states = {p.id: decisions.state(p.id) for p in run.reviewable}
    for p, kind in zip(run.reviewable, kinds):
        assert states[p.id] == ("accept" if kind == "boilerplate" else None)


def test_uppercase_keys_count_and_already_decided_and_earlier_decision_under_redo(out_dir):
    result = CliRunner().invoke(cli, ["review", str(out_dir)], input="Y\nN\nq\n")
    assert result.exit_code == 0, result.output
    data = json.loads((out_dir / "decisions.json").read_text(encoding="utf-8"))["decisions"]
    assert [v["decision"] for v in data.values()] == ["accept", "reject"]
    again = CliRunner().invoke(cli, ["review", str(out_dir)], input="q\n")
    total = len(review.read_run(out_dir).reviewable) + sum(map(review.fillable, review.read_run(out_dir).proposals))
    assert f"2 of {total} already decided (`--redo` to go through them again)" in again.stdout
    redo = CliRunner().invoke(cli, ["review", str(out_dir), "--redo"], input="s\ns\nq\n")
    assert redo.stdout.index("earlier: accepted") < redo.stdout.index("earlier: rejected")


def test_failed_items_show_their_reason(out_dir):
    report_path = out_dir / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    p = next(p for p in report["proposals"] if p["action"] == "needs_human")
    p.update(status="failed", error="the model cited a page it never read")
    report_path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    lines = []
    review.review_interactive(out_dir, scripted(["q"])[0], lines.append)
    assert any(p["id"] in line and "(failed: the model cited a page it never read)" in line for line in lines)


def test_change_markers_are_coloured_and_kept():
    text = marked("line 1: a [-12-]{+46,7+} b")
    assert text.plain == "line 1: a [-12-]{+46,7+} b"
    styles = {text.plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert styles == {"[-12-]": "red strike", "{+46,7+}": "green bold"}


def test_no_color_and_pipes_get_plain_text(out_dir, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(cli, ["review", str(out_dir)], input="q\n")
    assert "\x1b[" not in result.stdout and "[-" in result.stdout


def test_editor_is_run_on_a_temporary_file(tmp_path, monkeypatch):
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\nprintf 'sept virgule trois\\n' > \"$1\"\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))
    edit = text_editor()
    assert edit("[DONNÉES NÉCESSAIRES]") == "sept virgule trois"
    monkeypatch.delenv("EDITOR")
    assert text_editor() is None   # then the review asks on one line (readline on a terminal)


def test_lines_wrap_at_words_and_never_split_a_change_marker():
    import io

    from rich.console import Console

    from rewriter.terminal import review_printer
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=40, color_system="standard", highlight=False)
    line = ("line 4: Le 23 mars 2023, la start-up parisienne Mistral AI a dévoilé Mixtral, un modèle doté "
            "de [-douze-]{+46,7+} milliards de paramètres, une étape importante pour l’IA européenne")
    review_printer(console)(line)
    raw = buffer.getvalue()
    assert "\x1b[" in raw                                  # coloured on a terminal
    plain = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    rows = plain.rstrip("\n").split("\n")
    assert len(rows) > 3 and all(len(row) <= 40 for row in rows)
    assert [w for row in rows for w in row.split()] == line.split()   # no word cut in two
    assert any("[-douze-]{+46,7+}" in row for row in rows)
