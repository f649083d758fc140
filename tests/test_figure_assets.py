"""Charts as assets: apply copies the accepted figures beside the article and commits them with it,
changes.diff carries them (binary for PNG) so `git apply` reproduces them, a rejected chart leaves nothing."""

from __future__ import annotations

import json
import shutil
import subprocess

from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.figures import new_file_patch
from tests.conftest import ARTICLES
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM
from tests.test_emit import git, git_env, init_repo  # noqa: F401

SEED = ARTICLES / "001_1fd71789d594d0fc.txt"
PATH = f"articles/{SEED.name}"


def run_in_repo(tmp_path, monkeypatch):
    root = tmp_path / "newsroom"
    (root / "articles").mkdir(parents=True)
    shutil.copy(SEED, root / PATH)
    init_repo(root)
    monkeypatch.chdir(root)
    with FakeLLM(responder=EditorModel()) as fake:
        run = CliRunner().invoke(cli, ["run", PATH], env={"MISTRAL_BASE_URL": fake.base_url,
                                                          "REWRITER_MODEL": "fake-model"}, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    out = root / "out" / SEED.stem
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    charts = [p for p in report["proposals"] if "](figures/" in p["replacement"]]
    assert len(charts) == 4 and all(p["status"] == "needs_review" for p in charts)   # the draft's data
    return root, out, charts


def figure_names(charts):
    return sorted(f"{p['finding_id']}{ext}" for p in charts for ext in (".png", ".svg", ".vl.json"))


def test_accepted_charts_land_with_the_article_in_one_commit(tmp_path, monkeypatch, git_env):
    root, out, charts = run_in_repo(tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["review", f"out/{SEED.stem}", "--accept", "all"]).exit_code == 0
    applied = CliRunner().invoke(cli, ["apply", f"out/{SEED.stem}", "--commit"])
    assert applied.exit_code == 0, applied.output
    assert "copied 12 figure file(s)" in applied.output
    listed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert listed == [PATH, *(f"articles/figures/{n}" for n in figure_names(charts))]
    assert git(root, "rev-list", "--count", "HEAD") == "2\n"                           # one commit on top
    for name in figure_names(charts):
        committed = subprocess.run(["git", "cat-file", "blob", f"HEAD:articles/figures/{name}"], cwd=root,
                                   capture_output=True, check=True).stdout
        assert committed == (out / "figures" / name).read_bytes()
    article = (root / PATH).read_text(encoding="utf-8")
    assert all(f"](figures/{p['finding_id']}.svg)" in article for p in charts)
    assert git(root, "status", "--porcelain", "--", "articles") == ""


def test_rejected_charts_leave_no_file_behind(tmp_path, monkeypatch, git_env):
    root, _out, charts = run_in_repo(tmp_path, monkeypatch)
    decided = CliRunner().invoke(cli, ["review", f"out/{SEED.stem}", "--accept", "cleanup", "--reject", "all"])
    assert decided.exit_code == 0, decided.output
    applied = CliRunner().invoke(cli, ["apply", f"out/{SEED.stem}", "--commit"])
    assert applied.exit_code == 0, applied.output
    assert not (root / "articles" / "figures").exists()
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [PATH]
    assert "](figures/" not in (root / PATH).read_text(encoding="utf-8")


def test_assets_folder_is_configurable(tmp_path, monkeypatch, git_env):
    root, _out, charts = run_in_repo(tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["review", f"out/{SEED.stem}", "--accept", "all"]).exit_code == 0
    applied = CliRunner().invoke(cli, ["apply", f"out/{SEED.stem}", "--assets", "img/charts"])
    assert applied.exit_code == 0, applied.output
    assert sorted(p.name for p in (root / "articles" / "img" / "charts").iterdir()) == figure_names(charts)
    article = (root / PATH).read_text(encoding="utf-8")
    assert all(f"](img/charts/{p['finding_id']}.svg)" in article for p in charts) and "](figures/" not in article


def test_changes_diff_carries_the_figures_and_git_apply_reproduces_them(tmp_path, monkeypatch, git_env):
    root, out, charts = run_in_repo(tmp_path, monkeypatch)
    diff = (out / "changes.diff").read_bytes()
    assert b"GIT binary patch" in diff and b"+++ b/articles/figures/" in diff
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    git(clone, "apply", str(out / "changes.diff"))
    assert (clone / PATH).read_bytes() == (out / SEED.name).read_bytes()
    for name in figure_names(charts):
        assert (clone / "articles" / "figures" / name).read_bytes() == (out / "figures" / name).read_bytes()


def test_new_file_patch_round_trips_text_and_binary(tmp_path, git_env):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    files = {"a/b.svg": b"<svg>\n<text>45 %</text></svg>", "a/c.png": bytes(range(256)) * 40, "a/d.json": b"{}\n"}
    patch = "".join(new_file_patch(path, data) for path, data in files.items())
    git(root, "apply", "-", data=patch.encode("utf-8"))
    for path, data in files.items():
        assert (root / path).read_bytes() == data


def test_terminal_review_shows_the_chart_files_and_table(tmp_path, monkeypatch, git_env):
    root, out, charts = run_in_repo(tmp_path, monkeypatch)
    answers = "".join("s\n" for _ in range(40))
    shown = CliRunner().invoke(cli, ["review", f"out/{SEED.stem}"], input=answers)
    assert shown.exit_code == 0, shown.output
    for p in charts:
        assert f"Figure: `{(out / 'figures' / p['finding_id']).relative_to(root).as_posix()}.svg`" in shown.output
    assert "| GPT-4 | 1,7 billion |" in shown.output


def test_commit_after_a_plain_apply_commits_the_figures_too(tmp_path, monkeypatch, git_env):
    root, _out, charts = run_in_repo(tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["review", f"out/{SEED.stem}", "--accept", "all"]).exit_code == 0
    assert CliRunner().invoke(cli, ["apply", f"out/{SEED.stem}"]).exit_code == 0
    committed = CliRunner().invoke(cli, ["apply", f"out/{SEED.stem}", "--commit"])
    assert committed.exit_code == 0, committed.output
    listed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert listed == [PATH, *(f"articles/figures/{n}" for n in figure_names(charts))]
    assert git(root, "status", "--porcelain", "--", "articles") == ""
