"""review: decisions saved as they are made, interactively (git add -p style) or in bulk."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rewriter import review
from rewriter.cli import cli
from rewriter.errors import InputError
from rewriter.models import VERIFIED, Source
from rewriter.resources import validate

from .processes import run_unprivileged
from .test_emit import SAMPLE, SAMPLE_CHANGES, change, make_run

# SAMPLE_CHANGES in article order: 12 milliards (verified), [DONNÉES…] (needs_human),
# 23 mars 2023 (needs_review), the comments line (delete, verified).
THREE = SAMPLE_CHANGES + [change("Fin de", replacement="Fin du texte de", status=VERIFIED)]


@pytest.fixture
def out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_run(tmp_path, SAMPLE.encode(), THREE)


def decisions_of(out_dir) -> dict:
    data = json.loads((out_dir / "decisions.json").read_text(encoding="utf-8"))
    validate(data, "decisions")
    return data


def ids(out_dir) -> list[str]:
    return [p.id for p in review.read_run(out_dir).reviewable]


def test_cli_review_records_each_answer(out_dir):
    result = CliRunner().invoke(cli, ["review", "out/000_test"], input="y\nn\ne\nnotre texte\nq\n")
    assert result.exit_code == 0, result.output
    first, second, third, fourth = ids(out_dir)
    data = decisions_of(out_dir)
    assert data["article"]["sha256"] == review.read_run(out_dir).sha256
    assert {k: (v["decision"], v["replacement"]) for k, v in data["decisions"].items()} == {
        first: ("accept", None), second: ("reject", None), third: ("accept", "notre texte")}
    out = result.output
    assert "(1/4) " + first + " claim/test — verified" in out
    assert "line 1: Mixtral compte [-12-]{+46,7+} milliards de paramètres" in out
    assert "[verified] https://example.org/mistral-mixtral — Mixtral of experts" in out
    assert "« Mixtral has 46.7B total parameters. »" in out
    assert out.count("Accept this change [y,n,e,a,d,s,q,?]?") == 4
    assert "line 2: Annoncé le [-23 mars-]{+11 décembre+} 2023 à Paris." in out
    assert "accepted with your text (edited by the reviewer, not verified): line 3: [-Comments are coming soon!\nFin-]{+notre texteFin+} de" in out
    assert "left for a human (1):" in out and "[DONNÉES NÉCESSAIRES]" in out
    assert "2 accepted, 1 rejected, 1 undecided" in out
    assert fourth not in data["decisions"]


def test_second_review_asks_only_undecided_changes_unless_redo(out_dir):
    runner = CliRunner()
    runner.invoke(cli, ["review", "out/000_test"], input="y\ns\nn\nq\n")
    first, second, third, fourth = ids(out_dir)
    result = runner.invoke(cli, ["review", "out/000_test"], input="y\ny\n")
    assert "(1/4)" not in result.output and "(2/4) " + second in result.output
    assert "(4/4) " + fourth in result.output
    assert [v["decision"] for v in decisions_of(out_dir)["decisions"].values()] == ["accept", "reject"] + ["accept"] * 2
    result = runner.invoke(cli, ["review", "out/000_test", "--redo"], input="n\nq\n")
    assert "(1/4) " + first in result.output
    assert decisions_of(out_dir)["decisions"][first]["decision"] == "reject"


def test_help_and_bad_answers_ask_again(out_dir):
    result = CliRunner().invoke(cli, ["review", "out/000_test"], input="?\nmaybe\ne\n\ny\nq\n")
    assert "s - skip: leave it undecided for now" in result.output
    assert "kept the proposed replacement" in result.output
    assert result.output.count("(1/4)") == 1
    entry = decisions_of(out_dir)["decisions"][ids(out_dir)[0]]
    assert (entry["decision"], entry["replacement"], entry["proposed"]) == ("accept", None, "46,7 milliards")


def test_end_of_input_or_a_crash_keeps_what_was_decided(out_dir):
    result = CliRunner().invoke(cli, ["review", "out/000_test"], input="y\n")
    assert result.exit_code == 0
    assert list(decisions_of(out_dir)["decisions"]) == ids(out_dir)[:1]

    answers = iter(["n"])

    def ask(prompt, choices):
        try:
            return next(answers)
        except StopIteration:
            raise KeyboardInterrupt from None

    with pytest.raises(KeyboardInterrupt):
        review.review_interactive(out_dir, ask, lambda line: None)
    assert [v["decision"] for v in decisions_of(out_dir)["decisions"].values()] == ["accept", "reject"]


def test_bulk_decisions(out_dir):
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "out/000_test", "--accept", "verified"])
    assert result.exit_code == 0 and "3 accepted, 0 rejected, 1 undecided" in result.output
    first, second, third, fourth = ids(out_dir)
    assert set(decisions_of(out_dir)["decisions"]) == {first, third, fourth}
    runner.invoke(cli, ["review", "out/000_test", "--reject", "all"])
    assert decisions_of(out_dir)["decisions"][second]["decision"] == "reject"
    assert decisions_of(out_dir)["decisions"][first]["decision"] == "accept"
    runner.invoke(cli, ["review", "out/000_test", "--accept", "all", "--redo"])
    assert {v["decision"] for v in decisions_of(out_dir)["decisions"].values()} == {"accept"}


def test_a_changed_proposal_voids_its_decision(out_dir):
    review.review_bulk(out_dir, "all", False)
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    report["proposals"][0]["replacement"] = "47 milliards"
    (out_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    decisions = review.Decisions.load(out_dir)
    first = report["proposals"][0]["id"]
    assert decisions.state(first) is None and decisions.outdated() == [first]
    assert first not in decisions.accepted() and len(decisions.accepted()) == 3


def test_decisions_for_other_bytes_are_dropped_and_broken_files_named(out_dir):
    review.review_bulk(out_dir, "all", False)
    data = decisions_of(out_dir)
    data["article"]["sha256"] = "0" * 64
    (out_dir / "decisions.json").write_text(json.dumps(data), encoding="utf-8")
    decisions = review.Decisions.load(out_dir)
    assert decisions.stale_sha == "0" * 64 and not decisions.accepted()
    (out_dir / "decisions.json").write_text('{"version": 1}', encoding="utf-8")
    with pytest.raises(InputError, match=r"decisions.json: does not match schemas/decisions.json \(at \$: 'article' is a required property\)"):
        review.Decisions.load(out_dir)


def test_missing_report_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(cli, ["review", str(tmp_path)])
    assert result.exit_code == 2          # bad input: nothing was done
    assert "report.json: not found; pass the out/<stem> folder of a `rewriter run`" in result.output


# --- hardening -----------------------------------------------------------------------------------

RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\x08")


def test_terminal_escapes_from_the_model_and_its_sources_are_shown_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = [Source("https://example.org/\x1b[8m", title="Titre\x1b]0;pwned\x07", quote="cité\u202e esrever",
                      status="verified")]
    out_dir = make_run(tmp_path, SAMPLE.encode(), [
        change("12 milliards", replacement="46,7\x1b[2J milliards", kind="claim",
               rationale="Voir\x9b31m la source\u2066.", sources=sources),
        change("[DONNÉES NÉCESSAIRES]", "needs_human", status="needs_human", sources=[],
               rationale="à\x08 remplir\x1b[?1049h")])
    result = CliRunner().invoke(cli, ["review", "out/000_test"], input="e\n\x1b[1;1H\u202etexte\nq\n")
    assert result.exit_code == 0, result.output
    # CliRunner echoes what is typed after the prompt, as a terminal would: that is not ours to escape.
    out = result.output.replace("one): \x1b[1;1H\u202etexte\n", "one): (typed)\n")
    assert not [c for c in RAW_CONTROLS if c in out], out
    for shown in ("{+46,7\\x1b[2J+}", "rationale: Voir\\x9b31m la source\\u2066.", "https://example.org/\\x1b[8m",
                  "— Titre\\x1b]0;pwned\\x07", "« cité\\u202e esrever »", "à\\x08 remplir\\x1b[?1049h",
                  "proposed: '46,7\\x1b[2J milliards'", "[-12 milliards-]{+\\x1b[1;1H\\u202etexte+}"):
        assert shown in out
    # The decision keeps the reviewer's own text exactly: escaping is for the screen only.
    entry = decisions_of(out_dir)["decisions"][ids(out_dir)[0]]
    assert entry["replacement"] == "\x1b[1;1H\u202etexte"


def test_a_folder_where_decisions_cannot_be_saved_is_one_line(out_dir, tmp_path):
    out_dir.chmod(0o555)
    try:
        bulk = run_unprivileged(tmp_path, "review", "out/000_test", "--accept", "all")
        asked = run_unprivileged(tmp_path, "review", "out/000_test", input="y\n")
    finally:
        out_dir.chmod(0o755)
    line = ("Error: out/000_test/decisions.json: cannot save the decisions (Permission denied); "
            "make the folder writable, then review again")
    assert bulk.returncode == 1 and bulk.stderr.strip() == line, bulk.stderr
    assert asked.returncode == 1 and asked.stderr.strip().splitlines()[-1] == line, asked.stderr
    assert "Traceback" not in asked.stderr + asked.stdout
    assert not (out_dir / "decisions.json").exists()


def test_review_does_not_read_an_article_outside_the_repository(out_dir, tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_bytes(SAMPLE.encode())
    (tmp_path / "articles" / "000_test.txt").unlink()
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    report["article"]["absolute_path"] = str(secret)
    (out_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    result = CliRunner().invoke(cli, ["review", "out/000_test"], input="q\n")
    assert result.exit_code == 0, result.output
    assert f"note: out/000_test/report.json names {secret} as the article, outside {tmp_path}" in result.output
    assert "Mixtral compte [-12-]" not in result.output      # no context read from the other file
