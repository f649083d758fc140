"""`rewriter check` through click's runner; the JSON is validated against schemas/check.json."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from rewriter.check import check_article, check_paths
from rewriter.cli import cli

from .conftest import ARTICLES, REPO, SEEDS

SCHEMA = json.loads((REPO / "schemas" / "check.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)


def json_report(result) -> dict:
    report = json.loads(result.stdout)
    VALIDATOR.validate(report)
    return report


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_text_output_lists_findings_like_a_linter_then_counts():
    result = invoke(str(ARTICLES))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    first = next(line for line in lines if line.startswith(str(ARTICLES / SEEDS[0].name)))
    assert first == f"{ARTICLES / SEEDS[0].name}:2:364: error dangling_citation/numeric no reference entry for [1]"
    assert "placeholder/data_needed missing data to supply: “[DONNÉES NÉCESSAIRES]”" in result.stdout
    counts = dict(line.split() for line in lines if line.split()[:1] and line.split()[0] in (
        "placeholder", "dangling_citation", "artifact", "boilerplate", "broken_table"))
    assert counts == {"placeholder": "20", "dangling_citation": "15", "artifact": "2",
                      "boilerplate": "30", "broken_table": "1"}
    assert lines[-1] == "68 findings (37 blocking) in 5 articles"
    assert result.stderr == ""


def test_default_path_is_articles(tmp_path, monkeypatch):
    shutil.copytree(ARTICLES, tmp_path / "articles")
    monkeypatch.chdir(tmp_path)
    result = invoke()
    assert result.exit_code == 1
    assert result.stdout.startswith("articles/000_")


def test_json_output_matches_schema_and_the_files():
    result = invoke("--format", "json", str(ARTICLES))
    assert result.exit_code == 1
    report = json_report(result)
    assert [a["path"] for a in report["articles"]] == [str(p) for p in SEEDS]
    for article, path in zip(report["articles"], SEEDS):
        assert article["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert article["error"] is None
        text = path.read_text(encoding="utf-8")
        for f in article["findings"]:
            assert text[f["start"]:f["end"]] == f["text"]
    seed_003 = report["articles"][3]
    assert [r["url"][:30] for r in seed_003["references"]] == [
        "https://www.observatoiredeleur", "https://www.forbes.fr/business", "https://www.lesechos.fr/start-",
        "https://www.lemondeinformatiqu"]


def test_clean_article_exits_0():
    result = invoke(str(SEEDS[4]))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 findings (0 blocking) in 1 article"


def test_boilerplate_alone_does_not_block(tmp_path):
    (tmp_path / "a.md").write_text("Un article.\n\nPublicité\n", encoding="utf-8")
    result = invoke("--format", "json", str(tmp_path))
    assert result.exit_code == 0
    assert [f["kind"] for f in json_report(result)["articles"][0]["findings"]] == ["boilerplate"]


def test_bad_files_get_one_line_each_and_good_files_are_still_reported(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SEEDS[0], folder / "good.txt")
    shutil.copy(SEEDS[4], folder / "sub" / "clean.markdown")
    (folder / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (folder / "windows.md").write_bytes("Un café [TBD] à Zürich.\r\n".encode("cp1252"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "notes.docx").write_bytes(b"ignored: not an article suffix")

    result = invoke("--format", "json", str(folder))
    assert result.exit_code == 2
    report = json_report(result)
    by_name = {Path(a["path"]).name: a for a in report["articles"]}
    assert sorted(by_name) == ["binary.txt", "clean.markdown", "empty.txt", "good.txt", "windows.md"]
    assert len(by_name["good.txt"]["findings"]) == len(check_article(SEEDS[0])["findings"]) == 20
    assert by_name["clean.markdown"]["error"] is None
    for name in ("binary.txt", "windows.md", "empty.txt"):
        assert by_name[name]["findings"] == [] and by_name[name]["error"].startswith(str(folder / name))
        assert by_name[name]["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    errors = result.stderr.splitlines()
    assert errors == [
        f"{folder / 'binary.txt'}: binary data (NUL byte at offset 4); not a text article",
        f"{folder / 'empty.txt'}: file is empty; nothing to check",
        f"{folder / 'windows.md'}: cannot decode as utf-8 at byte offset 6 (byte 0xe9); try --encoding cp1252",
    ]

    text = invoke(str(folder))
    assert text.exit_code == 2
    assert f"{folder / 'good.txt'}:63:1: error artifact/word_count" in text.stdout
    assert text.stdout.splitlines()[-1] == "20 findings (17 blocking) in 2 articles; 3 unreadable"


def test_encoding_option_decodes_cp1252(tmp_path):
    path = tmp_path / "windows.md"
    path.write_bytes("Un café [TBD] à Zürich.\r\n".encode("cp1252"))
    result = invoke("--encoding", "cp1252", "--format", "json", str(path))
    assert result.exit_code == 1
    [f] = json_report(result)["articles"][0]["findings"]
    assert (f["text"], f["column"]) == ("[TBD]", 9)


def test_missing_file_is_an_input_error(tmp_path):
    result = invoke("--format", "json", str(tmp_path / "nope.txt"), str(SEEDS[4]))
    assert result.exit_code == 2
    report = json_report(result)
    assert report["articles"][0]["sha256"] is None
    assert "cannot read" in report["articles"][0]["error"]
    assert report["articles"][1]["error"] is None


@pytest.mark.parametrize("args, message", [
    (["--encoding", "klingon"], "unknown encoding 'klingon'"),
    (["--format", "xml"], "Invalid value for '--format'"),
])
def test_usage_errors_exit_2(args, message):
    result = invoke(*args, str(SEEDS[4]))
    assert result.exit_code == 2
    assert message in result.stderr


def test_folder_without_articles_is_a_usage_error(tmp_path):
    result = invoke(str(tmp_path))
    assert result.exit_code == 2
    assert "no .txt, .md or .markdown file" in result.stderr


def test_check_paths_library_call_matches_cli():
    report = check_paths([ARTICLES])
    VALIDATOR.validate(report)
    assert sum(len(a["findings"]) for a in report["articles"]) == 68


def test_help_documents_exit_statuses():
    result = CliRunner().invoke(cli, ["check", "--help"])
    assert result.exit_code == 0
    assert "Exit status" in result.stdout and "--encoding" in result.stdout


def test_pre_commit_hook_runs_check_on_article_files():
    hooks = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "id: rewriter-check" in hooks and "entry: rewriter check" in hooks
    assert "files: \\.(txt|md|markdown)$" in hooks
