"""`check --format github|rdjson|sarif`, `--fail-on`, end line/column, and `run --format rdjson`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from rewriter.check import FORMATS
from rewriter.cli import cli
from rewriter.detect import detect
from rewriter.formats import escape_data, escape_property, github
from rewriter.models import BLOCKING_KINDS
from tests.conftest import SEEDS

SCHEMAS = Path(__file__).parent / "schemas"


def validator(path: Path) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(path.read_text(encoding="utf-8")))


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.stdout


# A placeholder after an emoji (2 UTF-16 code units, 4 UTF-8 bytes) and accented letters (2 bytes).
ARTICLE = "Été 😀 [TBD] fin.\nSuite TK ici.\n"


@pytest.fixture
def article(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


def test_findings_carry_end_line_and_exclusive_end_column():
    text = "ab\ncd [TBD] ef\n"
    f = next(f for f in detect(text).findings if f.text == "[TBD]")
    assert (f.line, f.column, f.end_line, f.end_column) == (2, 4, 2, 9)
    assert f.to_dict()["end_line"] == 2 and f.to_dict()["end_column"] == 9


def test_sarif_validates_and_counts_columns_in_utf16(article):
    code, stdout = check(str(article), "--format", "sarif")
    assert code == 1
    log = json.loads(stdout)
    errors = list(validator(SCHEMAS / "sarif" / "sarif-schema-2.1.0.json").iter_errors(log))
    assert not errors, errors[0].message
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "rewriter"
    assert run["columnKind"] == "utf16CodeUnits"
    region = next(r for r in run["results"] if r["ruleId"] == "placeholder/data_needed")
    region = region["locations"][0]["physicalLocation"]["region"]
    # "Été 😀 " is 6 characters but 7 UTF-16 code units: [TBD] starts at code unit 8.
    assert (region["startLine"], region["startColumn"], region["endLine"], region["endColumn"]) == (1, 8, 1, 13)
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(r["ruleId"] == ids[r["ruleIndex"]] for r in run["results"])


def test_sarif_of_every_seed_validates():
    code, stdout = check(*map(str, SEEDS), "--format", "sarif")
    log = json.loads(stdout)
    assert not list(validator(SCHEMAS / "sarif" / "sarif-schema-2.1.0.json").iter_errors(log))
    assert len(log["runs"][0]["results"]) > 10


def test_rdjson_validates_and_counts_columns_in_utf8_bytes(article):
    code, stdout = check(str(article), "--format", "rdjson")
    result = json.loads(stdout)
    assert not list(validator(SCHEMAS / "rdjson" / "DiagnosticResult.json").iter_errors(result))
    d = next(d for d in result["diagnostics"] if d["code"]["value"] == "placeholder/data_needed")
    # "Été 😀 " is 2+1+2+1+4+1 = 11 bytes: [TBD] starts at byte column 12.
    assert d["location"]["range"] == {"start": {"line": 1, "column": 12}, "end": {"line": 1, "column": 17}}
    assert d["severity"] == "ERROR" and d["location"]["path"] == str(article)


def test_github_annotations_escape_data_and_properties():
    assert escape_data("50% : a, b\r\nc") == "50%25 : a, b%0D%0Ac"
    assert escape_property("50% : a, b\r\nc") == "50%25 %3A a%2C b%0D%0Ac"
    report = {"articles": [{"path": "dir,x/a:b.txt", "error": None, "findings": [{
        "kind": "placeholder", "subtype": "tk", "line": 2, "column": 3, "end_line": 2, "end_column": 5,
        "message": "100% sure: a, b\nand more"}, {
        "kind": "boilerplate", "subtype": "cookie", "line": 4, "column": 1, "end_line": 5, "end_column": 1,
        "message": "cookie banner"}]}]}
    lines = github(report, BLOCKING_KINDS, lambda path: "").splitlines()
    assert lines == [
        "::error file=dir%2Cx/a%3Ab.txt,line=2,col=3,endLine=2,endColumn=5,title=placeholder/tk::"
        "100%25 sure: a, b%0Aand more",
        "::warning file=dir%2Cx/a%3Ab.txt,line=4,col=1,endLine=5,endColumn=1,title=boilerplate/cookie::"
        "cookie banner"]


def test_github_format_on_a_file(article):
    code, stdout = check(str(article), "--format", "github")
    assert code == 1
    assert any(line.startswith("::error file=") and ",title=placeholder/data_needed::" in line
               for line in stdout.splitlines())


def test_fail_on_sets_what_blocks_and_each_line_says_so(article):
    code, stdout = check(str(article))
    assert code == 1 and f"{article}:1:7: error placeholder/data_needed" in stdout
    code, stdout = check(str(article), "--fail-on", "boilerplate")
    assert code == 0 and f"{article}:1:7: warning placeholder/data_needed" in stdout
    assert "(0 blocking)" in stdout
    code, stdout = check(str(article), "--fail-on", "none", "--format", "json")
    assert code == 0 and not any(f["blocking"] for f in json.loads(stdout)["articles"][0]["findings"])
    result = CliRunner().invoke(cli, ["check", str(article), "--fail-on", "placeholder,nonsense"])
    assert result.exit_code == 2 and "unknown kind nonsense" in result.output


def test_formats_come_from_one_registry():
    command = cli.commands["check"]
    option = next(p for p in command.params if p.name == "fmt")
    assert list(option.type.choices) == list(FORMATS) == ["text", "json", "github", "rdjson", "sarif"]


def test_run_rdjson_gives_proposals_as_suggestions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(SEEDS[0]), "--offline", "--format", "rdjson"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not list(validator(SCHEMAS / "rdjson" / "DiagnosticResult.json").iter_errors(data))
    report = json.loads((tmp_path / "out" / SEEDS[0].stem / "report.json").read_text(encoding="utf-8"))
    changing = [p for p in report["proposals"] if p["action"] in ("replace", "delete") and p["status"] != "failed"]
    assert changing and len(data["diagnostics"]) == len(changing)
    text = SEEDS[0].read_text(encoding="utf-8")
    lines = text.encode("utf-8").split(b"\n")
    for d in data["diagnostics"]:
        (start, end), suggestion = d["location"]["range"].values(), d["suggestions"][0]
        assert suggestion["range"] == d["location"]["range"]
        if start["line"] == end["line"]:   # the bytes at the range are the finding's text
            span = lines[start["line"] - 1][start["column"] - 1:end["column"] - 1].decode("utf-8")
            assert any(f["text"] == span for f in report["findings"])
    assert f"next: rewriter review out/{SEEDS[0].stem}" in result.stderr


def test_sarif_uris_are_relative_to_where_check_runs(article, monkeypatch):
    monkeypatch.chdir(article.parent)
    for given in (str(article), article.name):
        log = json.loads(check(given, "--format", "sarif")[1])
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
        assert uris == {"a.txt"}
