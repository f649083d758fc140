"""Hostile and awkward inputs for `check` and `batch`: links out of the folder, link loops, files
that cannot be read, UTF-16 and UTF-32, file names holding line breaks.

Each test runs the attack as described in the hardening issue and looks at what was read, sent,
printed and written.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.loader import decode, discover, load

from .conftest import SEEDS
from .editor_model import EditorModel
from .test_emit import git_apply
from .fake_llm import FakeLLM

SECRET = "SECRET-7f3a: the contents of a file outside the articles folder"
CLEAN = SEEDS[4]          # no finding


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside the articles folder, named like an article and full of findings."""
    outside = tmp_path / "private"
    outside.mkdir()
    target = outside / "notes.txt"
    target.write_text(f"{SECRET} [DONNÉES NÉCESSAIRES] TK\n", encoding="utf-8")
    return target


@pytest.fixture
def folder(tmp_path, victim) -> Path:
    """articles/ with one real article, a link to a file outside, a link to a folder outside,
    a link to an article inside, a broken link and a link loop."""
    articles = tmp_path / "articles"
    (articles / "sub").mkdir(parents=True)
    shutil.copy(SEEDS[0], articles / "real.txt")
    os.symlink(victim, articles / "evil.txt")
    os.symlink(victim.parent, articles / "sub" / "elsewhere")
    os.symlink("../real.txt", articles / "sub" / "alias.md")
    os.symlink("missing.txt", articles / "dangling.txt")
    os.symlink("loopB.txt", articles / "loopA.txt")
    os.symlink("loopA.txt", articles / "loopB.txt")
    return articles


# --- 5. links out of the folder, broken links and loops in it ------------------------------------

def test_check_on_a_folder_never_reads_a_file_a_link_leads_out_to(folder, victim):
    result = invoke("check", "--format", "json", str(folder))
    assert SECRET not in result.stdout and SECRET not in result.stderr
    report = json.loads(result.stdout)
    by_name = {Path(a["path"]).name: a for a in report["articles"]}
    # The real article once (its alias inside the folder is the same file), the broken link and the
    # loop with one error each; the link out and the folder link out are not listed at all.
    assert sorted(by_name) == ["dangling.txt", "loopA.txt", "loopB.txt", "real.txt"]
    assert len(by_name["real.txt"]["findings"]) == 20
    assert by_name["dangling.txt"]["error"] == (f"{folder / 'dangling.txt'}: broken symbolic link "
                                                "(to missing.txt, which does not exist)")
    assert by_name["loopA.txt"]["error"] == (f"{folder / 'loopA.txt'}: symbolic link loop (the link leads "
                                             "back to itself); fix or remove the link")
    errors = result.stderr.splitlines()
    assert errors[:2] == [
        f"{folder / 'evil.txt'}: link to a file outside {folder} ({victim}); not read",
        f"{folder / 'sub' / 'elsewhere'}: link to a folder outside {folder} ({victim.parent}); not followed",
    ]
    assert len(errors) == 5           # the two links out, then the three errors, one line each
    assert result.exit_code == 2      # the broken link and the loop are input errors


def test_a_link_out_alone_is_said_and_checking_goes_on(tmp_path, victim):
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(CLEAN, articles / "clean.txt")
    os.symlink(victim, articles / "evil.md")
    result = invoke("check", str(articles))
    assert result.exit_code == 0
    assert result.stderr == f"{articles / 'evil.md'}: link to a file outside {articles} ({victim}); not read\n"
    assert result.stdout.splitlines()[-1] == "0 findings (0 blocking) in 1 article"


def test_a_link_inside_the_folder_is_followed(tmp_path):
    articles = tmp_path / "articles"
    (articles / "drafts").mkdir(parents=True)
    shutil.copy(SEEDS[0], articles / "drafts" / "real.txt")
    os.symlink("drafts/real.txt", articles / "a_link.txt")
    assert discover([articles]) == [articles / "a_link.txt"]        # once: the same file


def test_batch_sends_nothing_a_link_leads_out_to(folder, victim, tmp_path):
    # The attack: a link in the articles folder to a private file made batch send it to the model.
    out = tmp_path / "out"
    with FakeLLM(responder=EditorModel()) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        result = invoke("batch", str(folder), "--out", str(out), "-j", "2", env=env)
        bodies = json.dumps(fake.chat_requests, ensure_ascii=False)
    assert fake.chat_requests and SECRET not in bodies
    assert "Mistral" in bodies                                      # the real article was sent
    assert f"{folder / 'evil.txt'}: link to a file outside {folder} ({victim}); not read" in result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    outcomes = {Path(a["path"]).name: a for a in summary["articles"]}
    assert sorted(outcomes) == ["dangling.txt", "loopA.txt", "loopB.txt", "real.txt"]
    assert outcomes["real.txt"]["ok"] is True
    assert "symbolic link loop" in outcomes["loopA.txt"]["error"]
    assert "broken symbolic link" in outcomes["dangling.txt"]["error"]
    assert result.exit_code == 1
    assert not (out / "evil").exists()
    assert not any(SECRET in p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file())


# --- 11. a link loop named on the command line ------------------------------------------------------

def test_check_on_a_link_loop_says_so_in_one_line_and_checks_the_others(tmp_path):
    os.symlink("loopB.txt", tmp_path / "loopA.txt")
    os.symlink("loopA.txt", tmp_path / "loopB.txt")
    result = invoke("check", str(tmp_path / "loopA.txt"), str(SEEDS[0]))
    assert result.exit_code == 2
    assert result.stderr == (f"{tmp_path / 'loopA.txt'}: symbolic link loop (the link leads back to itself); "
                             "fix or remove the link\n")
    assert result.stdout.splitlines()[-1] == "20 findings (17 blocking) in 1 article; 1 unreadable"


# --- 21. a file that cannot be read among others -------------------------------------------------

def unreadable(tmp_path: Path, how: str) -> Path:
    if how == "permission":
        if os.geteuid() == 0:
            pytest.skip("root reads any file whatever its mode")
        path = tmp_path / "unreadable.txt"
        path.write_text("[TBD]\n", encoding="utf-8")
        path.chmod(0)
        return path
    if how == "fifo":                     # opening a named pipe for reading used to wait forever
        path = tmp_path / "unreadable.txt"
        os.mkfifo(path)
        return path
    if how == "name too long":
        return tmp_path / ("x" * 300 + ".txt")
    if how == "not a folder":             # a file where a folder is expected
        (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
        return tmp_path / "plain.txt" / "unreadable.txt"
    raise AssertionError(how)


@pytest.mark.parametrize("how, why", [("permission", "cannot read (Permission denied)"),
                                      ("fifo", "not a regular file (a pipe, socket or device); not a text article"),
                                      ("name too long", "cannot read (File name too long)"),
                                      ("not a folder", "cannot read (Not a directory)")])
def test_every_readable_file_is_reported_and_the_bad_one_gets_its_line(tmp_path, how, why):
    good = tmp_path / "good.txt"
    shutil.copy(SEEDS[0], good)
    bad = unreadable(tmp_path, how)
    result = invoke("check", str(good), str(bad))
    assert result.exit_code == 2
    assert result.stderr == f"{bad}: {why}\n"
    assert f"{good}:63:1: error artifact/word_count" in result.stdout
    assert result.stdout.splitlines()[-1] == "20 findings (17 blocking) in 1 article; 1 unreadable"
    report = json.loads(invoke("check", "--format", "json", str(bad), str(good)).stdout)
    assert [a["error"] for a in report["articles"]] == [f"{bad}: {why}", None]
    assert report["articles"][0]["sha256"] is None


# --- 18. UTF-16 and UTF-32 ----------------------------------------------------------------------

ARTICLE = "Titre\r\nLe modèle compte [DONNÉES NÉCESSAIRES] paramètres.\r\nNombre de mots : 5000\r\nFin.\r\n"


@pytest.mark.parametrize("encoding, bom, option", [
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-8"),      # the BOM is enough, no option needed
    ("utf-32-le", codecs.BOM_UTF32_LE, "utf-32"),
    ("utf-16-le", b"", "utf-16"),                    # no BOM: the byte order is read from the text
    ("utf-16-be", b"", "utf-16"),
])
def test_utf16_and_utf32_are_decoded_not_refused_as_binary(tmp_path, encoding, bom, option):
    path = tmp_path / "wide.txt"
    raw = bom + ARTICLE.encode(encoding)
    path.write_bytes(raw)
    result = invoke("check", "--encoding", option, "--format", "json", str(path))
    assert result.exit_code == 1, result.output
    [article] = json.loads(result.stdout)["articles"]
    assert article["error"] is None
    assert [(f["text"], f["line"], f["column"]) for f in article["findings"]] == [
        ("[DONNÉES NÉCESSAIRES]", 2, 18), ("Nombre de mots : 5000", 3, 1)]
    loaded = load(path, option)
    assert (loaded.encoding, loaded.bom, loaded.text) == (encoding, bool(bom), ARTICLE)
    assert loaded.encode(loaded.text) == raw


def test_a_utf16_article_keeps_its_encoding_and_bom_through_run_review_and_apply(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "articles").mkdir()
    path = tmp_path / "articles" / "wide.txt"
    raw = codecs.BOM_UTF16_LE + ARTICLE.encode("utf-16-le")
    path.write_bytes(raw)
    assert invoke("run", "articles/wide.txt", "--offline", "--encoding", "utf-16").exit_code == 0
    expected = codecs.BOM_UTF16_LE + ARTICLE.replace("Nombre de mots : 5000\r\n", "").encode("utf-16-le")
    assert (tmp_path / "out" / "wide" / "wide.txt").read_bytes() == expected
    diff = (tmp_path / "out" / "wide" / "changes.diff").read_bytes().decode("utf-8", "surrogateescape")
    assert git_apply(tmp_path, raw, diff, "articles/wide.txt") == expected
    report = json.loads((tmp_path / "out" / "wide" / "report.json").read_text(encoding="utf-8"))
    assert (report["article"]["encoding"], report["article"]["bom"]) == ("utf-16-le", True)
    assert invoke("review", "out/wide", "--accept", "all").exit_code == 0
    result = invoke("apply", "out/wide")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == expected


def test_nul_characters_in_utf16_text_are_still_binary(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "abc\x00def".encode("utf-16-le"))
    result = invoke("check", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"{path}: binary data (NUL character at character 3); not a text article\n"


def test_a_utf8_bom_asked_as_cp1252_stays_as_it_was_and_wins_over_utf16():
    raw = codecs.BOM_UTF8 + "Café".encode("utf-8")
    article = decode(raw, Path("a.txt"), "cp1252")
    assert (article.encoding, article.bom, article.encode(article.text)) == ("cp1252", False, raw)
    article = decode(raw, Path("a.txt"), "utf-16")
    assert (article.encoding, article.bom, article.text, article.encode(article.text)) == ("utf-8", True, "Café", raw)


# --- 20. a line break in a file name --------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [("two\nlines.txt", '"two\\nlines.txt"'),
                                         ("tab\there.txt", '"tab\\there.txt"'),
                                         ("bidi\u202etxt.md", '"bidi\\u202etxt.md"'),
                                         ('quote".txt', '"quote\\".txt"')])
def test_a_control_character_in_a_file_name_never_splits_a_record(tmp_path, name, shown):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / name).write_text("Un [TBD] ici.\nEt TK là.\n", encoding="utf-8")
    result = invoke("check", str(folder))
    assert result.exit_code == 1
    records = [line for line in result.stdout.splitlines() if "placeholder/" in line]
    quoted = f'"{folder}/{shown[1:-1]}"'
    assert records == [f"{quoted}:1:4: error placeholder/data_needed missing data to supply: “[TBD]”",
                       f"{quoted}:2:4: error placeholder/tk TK marker: text to come: “TK”"]
    report = json.loads(invoke("check", "--format", "json", str(folder)).stdout)
    assert report["articles"][0]["path"] == str(folder / name)      # JSON keeps the name as it is


def test_an_unreadable_file_with_a_line_break_in_its_name_gets_one_error_line(tmp_path):
    bad = tmp_path / "bad\nname.txt"
    bad.write_bytes(b"\x00binary")
    result = invoke("check", str(bad), str(CLEAN))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f'"{tmp_path}/bad\\nname.txt": binary data (NUL byte at offset 0); '
                                          "not a text article"]
