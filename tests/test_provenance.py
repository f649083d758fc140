"""Provenance: the reviewer's own text is labelled so in decisions and commit; trailers are whole;
apply --dry-run writes nothing; apply --commit after a plain apply commits what it wrote."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from rewriter import review
from rewriter.cli import cli
from tests.conftest import ARTICLES, SEEDS
from tests.test_emit import git, git_env, init_repo  # noqa: F401

SEED = SEEDS[0]
FIGURE = "7,3 % selon l'Insee, enquête emploi du quatrième trimestre 2023, données corrigées"


def reviewed(tmp_path, monkeypatch):
    root = tmp_path / "newsroom"
    shutil.copytree(ARTICLES, root / "articles")
    init_repo(root)
    monkeypatch.chdir(root)
    assert CliRunner().invoke(cli, ["run", f"articles/{SEED.name}", "--offline"]).exit_code == 0
    out_dir = root / "out" / SEED.stem
    run = review.read_run(out_dir)
    decisions = review.Decisions.load(out_dir, run)
    gap = next(p for p in run.proposals if review.fillable(p))
    decisions.record(gap.id, review.ACCEPT, FIGURE, source="https://www.insee.fr/fr/statistiques/1")
    decisions.record(run.reviewable[0].id, review.ACCEPT)
    return root, out_dir, gap


def test_dry_run_writes_nothing_and_shows_the_diff(tmp_path, monkeypatch, git_env):
    root, out_dir, gap = reviewed(tmp_path, monkeypatch)
    before = (root / "articles" / SEED.name).read_bytes()
    result = CliRunner().invoke(cli, ["apply", str(out_dir), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert (root / "articles" / SEED.name).read_bytes() == before
    assert f"+" in result.stdout and FIGURE in result.stdout and f"--- a/articles/{SEED.name}" in result.stdout
    assert "dry run: would write" in result.stderr
    assert "applied" not in json.loads((out_dir / "decisions.json").read_text(encoding="utf-8"))


def test_commit_after_a_plain_apply_commits_with_provenance_and_whole_trailers(tmp_path, monkeypatch, git_env):
    root, out_dir, gap = reviewed(tmp_path, monkeypatch)
    assert CliRunner().invoke(cli, ["apply", str(out_dir)]).exit_code == 0
    written = (root / "articles" / SEED.name).read_bytes()
    result = CliRunner().invoke(cli, ["apply", str(out_dir), "--commit"])
    assert result.exit_code == 0, result.output
    head = git(root, "rev-parse", "HEAD").strip()
    assert f"committed what an earlier apply wrote to articles/{SEED.name}: {head[:12]}" in result.stderr
    assert git(root, "status", "--porcelain", "--", "articles") == ""
    assert git(root, "cat-file", "blob", f"HEAD:articles/{SEED.name}").encode() == written
    message = git(root, "log", "-1", "--format=%B")
    assert f"{gap.id} (" in message and "edited by the reviewer, not verified" in message
    assert f"Rewriter-Text: {FIGURE}" in message          # the whole value, not cut short
    assert "Source: https://www.insee.fr/fr/statistiques/1" in message
    assert "Rewriter-Provenance: edited by the reviewer, not verified" in message
    assert "Text typed by the reviewer to fill the gap." in " ".join(message.split())
    name, email = git(root, "config", "user.name").strip(), git(root, "config", "user.email").strip()
    assert f"Reviewed-by: {name} <{email}>" in message
    model = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))["usage"]["model"]
    assert f"Rewriter-Model: {model}" in message
    again = CliRunner().invoke(cli, ["apply", str(out_dir), "--commit"])
    assert again.exit_code != 0 and "already has these changes applied" in again.output
