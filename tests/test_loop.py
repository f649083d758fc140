"""The whole loop on every seed, with the real pipeline and the fake model:
run → git apply --check → review on stdin → apply --commit → exactly the accepted changes."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from tests.conftest import ARTICLES, SEEDS
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM
from tests.test_apply import accepted_bytes
from tests.test_emit import git, git_env, init_repo  # noqa: F401

# Claims the scripted model recognises where a seed makes them, with the fix it proposes.
CLAIMS = {
    "12 milliards de paramètres": ("factual_error", "46,7 milliards de paramètres",
                                   "https://mistral.ai/news/mixtral-of-experts/",
                                   "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token."),
    "gagnéune": ("typo", "gagné une", "https://fr.wiktionary.org/wiki/gagner", "gagner : verbe transitif."),
    "Miscrosoft": ("typo", "Microsoft", "https://news.microsoft.com/", "Microsoft Corporation, Redmond."),
}


def staged_diff(root) -> bytes:
    return subprocess.run(["git", "diff", "HEAD~1", "HEAD"], cwd=root, capture_output=True, check=True).stdout


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_run_review_apply_commit_on_each_seed(seed, tmp_path, monkeypatch, git_env):
    root = tmp_path / "newsroom"
    shutil.copytree(ARTICLES, root / "articles")
    init_repo(root)
    monkeypatch.chdir(root)
    path = f"articles/{seed.name}"
    stem = seed.stem

    with FakeLLM(responder=EditorModel(claims=CLAIMS)) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        run = CliRunner().invoke(cli, ["run", path], env=env, catch_exceptions=False)
        assert run.exit_code == 0, run.output
        assert len(fake.chat_requests) == 2
    assert (root / path).read_bytes() == seed.read_bytes()            # run never touches the article

    git(root, "apply", "--check", f"out/{stem}/changes.diff")        # the diff applies in a clean clone

    report = json.loads((root / "out" / stem / "report.json").read_text(encoding="utf-8"))
    changing = [p for p in report["proposals"] if p["action"] in ("replace", "delete")]
    assert changing, "every seed has something to change"
    answers = "".join("n\n" if i % 4 == 3 else "y\n" for i in range(len(changing)))
    review = CliRunner().invoke(cli, ["review", f"out/{stem}"], input=answers)
    assert review.exit_code == 0, review.output
    decisions = json.loads((root / "out" / stem / "decisions.json").read_text(encoding="utf-8"))["decisions"]
    assert len(decisions) == len(changing)
    accepted = [p for p in changing if decisions[p["id"]]["decision"] == "accept"]

    # An article edited after the run is refused, with a line saying what to do, and left as it is.
    original = (root / path).read_bytes()
    (root / path).write_bytes(original + b"\nUne ligne de plus.\n")
    refused = CliRunner().invoke(cli, ["apply", f"out/{stem}"])
    assert refused.exit_code == 1
    assert "changed since the run" in refused.output and f"rewriter run {path}" in refused.output
    assert (root / path).read_bytes() == original + b"\nUne ligne de plus.\n"
    (root / path).write_bytes(original)

    expected = accepted_bytes(root / "out" / stem, root / path)
    apply = CliRunner().invoke(cli, ["apply", f"out/{stem}", "--commit"])
    assert apply.exit_code == 0, apply.output
    # the article, and the figures of the accepted charts (tests/test_figure_assets.py)
    figures = sorted(f"articles/figures/{p['finding_id']}{ext}" for p in accepted
                     if f"](figures/{p['finding_id']}.svg)" in p["replacement"] for ext in (".png", ".svg", ".vl.json"))
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [path, *figures]
    assert subprocess.run(["git", "cat-file", "blob", f"HEAD:{path}"], cwd=root, capture_output=True,
                          check=True).stdout == expected

    # The commit's diff is exactly the accepted changes: every removed or added line comes from one.
    diff = staged_diff(root).decode("utf-8")
    removed = "".join(line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    added = "".join(line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    findings = {f["id"]: f for f in report["findings"] + report["claims"]}
    for proposal in accepted:
        assert findings[proposal["finding_id"]]["text"] in removed
        assert proposal["replacement"].replace("\n", "") in added

