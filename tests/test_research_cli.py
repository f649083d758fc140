"""The research and fetch options through the CLI: one clear line for bad settings or bad URLs, never a traceback."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from rewriter.cli import cli
from tests.conftest import REPO
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM


def test_run_fetch_turns_an_octal_ip_reference_into_a_reason(tmp_path):
    # Issue 9, item 16: http://0177.0.0.1/ gave an httpx.InvalidURL traceback from `run --fetch`.
    article = tmp_path / "octal.md"
    article.write_text("Le chômage a baissé selon l'Insee [1].\n\n[1] http://0177.0.0.1/\n", encoding="utf-8")
    with FakeLLM(responder=EditorModel()) as server:
        for extra in ([], ["--fetch-private"]):
            out = tmp_path / ("private" if extra else "default")
            result = CliRunner().invoke(cli, ["run", str(article), "--fetch", *extra, "--out", str(out),
                                              "--base-url", server.base_url, "--model", "fake-model"],
                                        catch_exceptions=False)
            assert result.exit_code == 0, result.output
            [doc] = json.loads((out / "octal" / "report.json").read_text(encoding="utf-8"))["evidence"]
            assert doc["read"] is False and doc["url"] == "http://0177.0.0.1/"
            assert doc["error"].startswith(("not a well-formed http(s) URL", "refused: 0177.0.0.1")), doc["error"]


def test_an_unknown_research_provider_is_one_line(tmp_path):
    article = tmp_path / "a.md"
    article.write_text("Texte.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(article), "--research", "wikipedia,bing", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: --research wikipedia,bing: unknown provider bing; choose from wikipedia, mistral, searxng, "
        "comma-separated, or none")


def test_the_search_fakes_run_standalone_without_pytest(tmp_path):
    import subprocess

    code = ("import sys, tests.fake_search as f; assert 'pytest' not in sys.modules, 'pytest imported';"
            "w = f.FakeWiki({'en': {'Paris': 'Paris is the capital of France.'}}).start();"
            "import urllib.request as u;"
            "r = u.Request(w.base + '/en/w/rest.php/v1/search/page?q=Paris&limit=1', headers={'User-Agent': 'x (me)'});"
            "print(u.urlopen(r).read().decode()); w.close()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pages"][0]["key"] == "Paris"
    usage = subprocess.run([sys.executable, "-m", "tests.fake_search"], capture_output=True, text=True, cwd=REPO,
                           timeout=60)
    assert usage.returncode == 2 and "give at least one of --wiki, --searx, --mistral, --web" in usage.stderr
