"""`rewriter eval` on the five seeds against the fake model: two models compared, table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.evaluate import load_gold
from rewriter.resources import schema_errors
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold"
URL = "https://mistral.ai/news/mixtral-of-experts/"
QUOTE = "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token."


class TwoModels:
    """"large" flags two dubious claims and one true claim; "small" flags nothing."""

    def __init__(self):
        self.large = EditorModel(claims={
            "12 milliards de paramètres": ("factual_error", "46,7 milliards de paramètres", URL, QUOTE),
            "Richmond": ("misattribution", "Redmond", URL, QUOTE),
            "fondée en 2023": ("factual_error", "fondée en 2022", URL, QUOTE)})
        self.small = EditorModel()

    def __call__(self, body):
        return (self.large if body["model"] == "large" else self.small)(body)


def test_eval_compares_two_models_on_the_seeds(tmp_path):
    assert len(load_gold(GOLD)) == 5
    with FakeLLM(responder=TwoModels(), models=("small", "large")) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "MISTRAL_API_KEY": "k", "REWRITER_RESEARCH": "none",
               "REWRITER_CACHE_DIR": str(tmp_path / "cache")}
        args = ["eval", str(GOLD), *(str(ROOT / "articles" / p) for p in sorted(
            json.loads(g.read_text(encoding="utf-8"))["article"] for g in GOLD.glob("*.json"))),
                "--model", "small", "--model", "large", "--out", str(tmp_path / "out"),
                "--price-in", "2", "--price-out", "6"]
        as_json = CliRunner().invoke(cli, [*args, "--format", "json"], env=env, catch_exceptions=False)
        assert as_json.exit_code == 0, as_json.output
        sent = len(fake.chat_requests)
        shown = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert len(fake.chat_requests) == sent                  # the second time, all from the cache
    # claims and corrections for 5 articles and 2 models, but 004 has no finding: with "small"
    # flagging no claim, it needs no corrections request
    assert sent == 2 * 5 * 2 - 1
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "det.", "recall"]
    assert [line.split()[0] for line in lines[2:]] == ["small", "large"]
    result = json.loads(as_json.stdout)
    assert schema_errors(result, "eval") == []
    small, large = result["models"]
    assert small["detection"]["recall"] == large["detection"]["recall"] == 1.0
    assert (small["dubious"]["found"], large["dubious"]["found"]) == (0, 3)   # 12 milliards in 000 and 001, Richmond
    assert large["dubious"]["total"] == 8 and large["dubious"]["corrected"] == 3
    assert (small["true_claims"]["wrongly_flagged"], large["true_claims"]["wrongly_flagged"]) == (0, 1)
    assert large["proposals"]["cleanup"] > 0 and sum(large["proposals"].values()) > 0
    assert large["requests"] == 10 and large["prompt_tokens"] > 0
    cost = (large["prompt_tokens"] * 2 + large["completion_tokens"] * 6) / 1e6
    assert abs(large["cost"] - cost) < 1e-6
    assert (tmp_path / "out" / "large" / "000_8fabfc5d1ff5073f" / "report.json").exists()


def test_eval_refuses_an_article_without_gold_before_any_request(tmp_path):
    article = tmp_path / "autre.txt"
    article.write_text("Un texte.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(GOLD), str(article), "--out", str(tmp_path / "out")],
                                env={"MISTRAL_API_KEY": "", "MISTRAL_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.exit_code == 1 and "no gold file" in result.output and "autre.txt" in result.output
