"""Output folders stay inside --out whatever the article is called (issue 9, item 1)."""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rewriter.cli import cli
from rewriter.outdirs import RESERVED, output_name, output_names

OWN_FILES = ("review.md", "report.json", "changes.diff")
NASTY = ["..", ".", "...", "summary.json", "SUMMARY.JSON", "README.md", "-x", "--out", "CON", "nul.txt",
         "a\nb", "a\rb", "\x1b[2J", "\u202eevil", "tab\there", "back\\slash", "x.", "x ", " ", "~",
         "caf\u00e9", "cafe\u0301", "Brief", "brief", "evidence", "review.md", "a~2", "\udcff", "é" * 200]
NAME = st.one_of(st.sampled_from(NASTY),
                 st.text(st.characters(exclude_characters="/\x00"), min_size=1, max_size=30))
SUFFIX = st.sampled_from([".txt", ".md", ".markdown", ".TXT"])
RELATIVE = st.lists(st.tuples(st.lists(NAME, max_size=2), NAME, SUFFIX), min_size=1, max_size=8)


def key(part: str) -> str:
    return unicodedata.normalize("NFC", part).casefold()


def assert_safe(names: dict[Path, str]) -> None:
    """Inside --out, legal everywhere, distinct and never one inside another, even without case."""
    keys = []
    for name in names.values():
        parts = name.split("/")
        assert not os.path.isabs(name) and all(parts)
        for part in parts:
            assert part not in (".", "..") and part.strip(" .") and not part.endswith((" ", "."))
            assert not any(unicodedata.category(c)[0] == "C" or c == "\\" for c in part), repr(part)
            assert len(part.encode("utf-8")) <= 255
        assert key(parts[0]) not in RESERVED
        root = os.path.join("out", "")
        assert os.path.normpath(os.path.join("out", name)).startswith(root)
        keys.append(tuple(map(key, parts)))
    assert len(set(keys)) == len(keys)
    for a in keys:
        assert not any(b[:len(a)] == a for b in keys if b != a), f"{a} holds another article's folder"


@settings(max_examples=300, deadline=None)
@given(RELATIVE)
def test_output_folders_stay_inside_out_and_never_meet_property(articles):
    folder = Path("articles")
    paths = list(dict.fromkeys(folder.joinpath(*dirs, stem + suffix) for dirs, stem, suffix in articles))
    names = output_names(paths, folder)
    assert set(names) == set(paths)
    assert_safe(names)
    for path in paths:                       # `run` on one article: the same rules
        assert_safe({path: output_name(path)})


@settings(max_examples=50, deadline=None)
@given(RELATIVE)
def test_output_folders_made_on_disk_resolve_inside_out_property(articles):
    folder = Path("articles")
    paths = list(dict.fromkeys(folder.joinpath(*dirs, stem + suffix) for dirs, stem, suffix in articles))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "out")
        made = set()
        for name in output_names(paths, folder).values():
            target = out / name
            target.mkdir(parents=True)               # fails if two articles were given one folder
            assert target.resolve().is_relative_to(out.resolve())
            (target / "report.json").write_text("{}")
            made.add(target.resolve())
        assert len(made) == len(paths)


def test_run_on_an_article_named_dot_dot_writes_nothing_outside_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("articles").mkdir()
    Path("articles/...txt").write_text("Le chiffre est [TBD].\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "articles/...txt", "--offline", "--out", "out"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles", "out"]
    assert not any((tmp_path / name).exists() for name in OWN_FILES)
    report = json.loads(Path("out/_/report.json").read_text(encoding="utf-8"))
    assert report["article"]["file"] == "...txt"
    assert Path("out/_/changes.diff").exists() and Path("out/_/...txt").read_text() == "Le chiffre est [TBD].\n"


def test_batch_of_hostile_names_keeps_every_output_inside_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = Path("articles")
    names = ["...txt", "..txt", "summary.json.txt", "README.md.md", "-x.txt", "a\nb.txt", "\x1b]0;pwn\x07.txt",
             "back\\slash.txt", "\u202etxt.exe.txt", "Brief.txt", "brief.md", "sub/..md", "sub/summary.json.txt",
             "x.txt", "x/brief.txt"]
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"{name!r} : le chiffre est [TBD].\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", "articles", "--offline", "--out", "out"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles", "out"]
    summary = json.loads(Path("out/summary.json").read_text(encoding="utf-8"))
    assert Path("out/summary.json").is_file() and len(summary["articles"]) == len(names)
    out_dirs = {}
    for article in summary["articles"]:
        out_dir = Path(article["out_dir"])
        assert out_dir.resolve().is_relative_to((tmp_path / "out").resolve())
        report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        assert report["article"]["path"] == article["path"]      # each folder holds its own article
        out_dirs[Path(article["path"])] = out_dir.relative_to("out").as_posix()
    assert_safe(out_dirs)
    # "..", "." and "summary.json" become "_" and "_summary.json"; the two "_" share a name, so both
    # take their path below the folder, as articles sharing a stem do.
    assert out_dirs[folder / "...txt"] == "...txt" and out_dirs[folder / "sub/..md"] == "sub/..md"
    assert out_dirs[folder / "summary.json.txt"] == "summary.json.txt"
    assert out_dirs[folder / "sub/summary.json.txt"] == "sub/summary.json.txt"
    assert out_dirs[folder / "-x.txt"] == "-x" and out_dirs[folder / "a\nb.txt"] == "a_b"
    assert out_dirs[folder / "x.txt"] == "x~2"      # out/x/ holds x/brief.txt's folder


def test_single_names_that_would_leave_out_or_take_its_own_files():
    assert output_name(Path("articles/...txt")) == "_"
    assert output_name(Path("articles/..txt")) == "_"
    assert output_name(Path("articles/summary.json.txt")) == "_summary.json"
    assert output_name(Path("Summary.JSON.md")) == "_Summary.JSON"
    assert output_name(Path("a\x1b[2J\u202eb.txt")) == "a_[2J_b"
    assert output_name(Path("con.txt")) == "_con"
    assert output_name(Path("brief.txt")) == "brief"          # ordinary names are left as they are
    assert output_name(Path("Pourquoi ? l'été.txt")) == "Pourquoi ? l'été"
