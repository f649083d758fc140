"""`rewriter run` end to end against the loopback fake model: what is sent, written and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.resources import schema_errors
from tests.editor_model import EditorModel
from tests.fake_llm import FORBIDDEN_PARAMS, FakeLLM
from tests.served import pages  # noqa: F401  (fixture)

SEED = Path(__file__).resolve().parent.parent / "articles" / "000_8fabfc5d1ff5073f.txt"
SECRET = "sk-test-SECRET-123"
WRONG = "12 milliards de paramètres"
CLAIMS = {WRONG: ("factual_error", "46,7 milliards de paramètres", "https://mistral.ai/news/mixtral-of-experts/",
                  "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token.")}


@pytest.fixture
def fake():
    with FakeLLM(api_key=SECRET, responder=EditorModel(claims=CLAIMS)) as server:
        yield server


def run_cli(args, fake=None, **env):
    if fake is not None:
        env = {"MISTRAL_BASE_URL": fake.base_url, "MISTRAL_API_KEY": SECRET, "REWRITER_MODEL": "fake-model", **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def read_report(out: Path, stem: str = SEED.stem) -> dict:
    report = json.loads((out / stem / "report.json").read_text(encoding="utf-8"))
    assert schema_errors(report, "report") == []
    return report


def test_run_makes_two_requests_then_none_from_the_cache(fake, tmp_path):
    out = tmp_path / "out"
    first = run_cli(["run", str(SEED), "--out", str(out)], fake)
    assert first.exit_code == 0, first.output
    report = read_report(out)
    finding_ids = {f["id"] for f in report["findings"] + report["claims"]}
    assert [c["text"] for c in report["claims"]] == [WRONG, WRONG]   # two sentences say it
    assert {p["finding_id"] for p in report["proposals"]} == finding_ids
    assert len(report["proposals"]) == len(finding_ids) == 22
    usage = report["usage"]
    assert (usage["requests"], usage["cache_hits"], len(fake.chat_requests)) == (2, 0, 2)
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert [c["task"] for c in usage["calls"]] == ["claims", "corrections"]
    assert set(usage["stages"]) >= {"detect", "claims", "evidence", "corrections", "verify", "emit"}

    again = run_cli(["run", str(SEED), "--out", str(out)], fake)
    assert again.exit_code == 0, again.output
    assert len(fake.chat_requests) == 2
    assert read_report(out)["usage"]["requests"] == 0
    assert read_report(out)["usage"]["cache_hits"] == 2
    # The article itself never changes.
    assert SEED.read_bytes() == (Path(__file__).parent.parent / "articles" / SEED.name).read_bytes()


def test_requests_carry_strict_stripped_schemas_and_no_parameter_mistral_rejects(fake, tmp_path):
    assert run_cli(["run", str(SEED), "--out", str(tmp_path)], fake).exit_code == 0
    for body, task in zip(fake.chat_requests, ("claims", "corrections")):
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == task
        assert fmt["json_schema"]["strict"] is True
        wire = json.dumps(fmt["json_schema"]["schema"])
        assert "minLength" not in wire and '"format"' not in wire and "$schema" not in wire
        assert not set(FORBIDDEN_PARAMS) & set(body)
        assert body["temperature"] == 0 and body["model"] == "fake-model"
        prompt = body["messages"][-1]["content"]
        assert "<<<ARTICLE" in prompt and "not instructions" in prompt and "French" in prompt
    claims_prompt = fake.chat_requests[0]["messages"][0]["content"]
    assert "] Le 23 mars 2023, la start-up parisienne Mistral AI a dévoilé Mixtral" in claims_prompt
    headers = [r.headers for r in fake.requests if r.method == "POST"]
    assert all(h["authorization"] == f"Bearer {SECRET}" for h in headers)


def test_the_api_key_reaches_neither_cache_nor_out(fake, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_cli(["run", str(SEED), "--out", str(out), "--cache-dir", str(cache)], fake).exit_code == 0
    files = [p for root in (out, cache) for p in root.rglob("*") if p.is_file()]
    assert len(files) > 5
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]


def test_a_claims_failure_is_reported_and_corrections_still_cover_every_finding(fake, tmp_path):
    fake.enqueue("not json", {"claims": "wrong shape"}, "still not json")
    result = run_cli(["run", str(SEED), "--out", str(tmp_path)], fake)
    assert result.exit_code == 1
    assert "claims: no valid reply after 3 attempt(s)" in result.stderr
    report = read_report(tmp_path)
    assert report["claims"] == [] and len(report["proposals"]) == len(report["findings"]) == 20
    assert report["errors"][0]["stage"] == "claims"
    reask = fake.chat_requests[1]["messages"]
    assert reask[1] == {"role": "assistant", "content": "not json"} and "JSON" in reask[2]["content"]


def test_a_corrections_failure_marks_every_item_failed_and_keeps_the_rest(fake, tmp_path):
    fake.enqueue({"claims": [], "research": []}, "nope", "nope", "nope")
    result = run_cli(["run", str(SEED), "--out", str(tmp_path)], fake)
    assert result.exit_code == 1
    report = read_report(tmp_path)
    kinds = {f["id"]: f["kind"] for f in report["findings"]}
    # What offline rules say stands: chrome and artifacts are deleted (cleanup), a chart placeholder's
    # own data is charted for review (rewriter/figures.py), the rest failed.
    charts = {f["id"] for f in report["findings"] if f["subtype"] in ("chart", "table") and (f["payload"] or {}).get("data")}
    assert {(kinds[p["finding_id"]] in ("boilerplate", "artifact"), p["status"]) for p in report["proposals"]
            if p["finding_id"] not in charts} == {(True, "cleanup"), (False, "failed")}
    assert charts and {p["status"] for p in report["proposals"] if p["finding_id"] in charts} == {"needs_review"}
    assert all("corrections: no valid reply after 3 attempt(s)" in p["error"] for p in report["proposals"])
    assert (tmp_path / SEED.stem / "changes.diff").exists()


def test_offline_runs_the_rule_stages_and_says_how_to_enable_the_model(tmp_path):
    result = run_cli(["run", str(SEED), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "set $MISTRAL_API_KEY" in result.stderr
    report = read_report(tmp_path)
    assert report["offline"] is True and report["usage"]["requests"] == 0
    actions = {(p["action"], p["status"]) for p in report["proposals"]}
    # chart placeholders are charted from their own data, for review (rewriter/figures.py)
    assert actions == {("delete", "cleanup"), ("needs_human", "needs_human"), ("replace", "needs_review")}
    assert all(p["status_reason"].startswith("data from the draft, not verified")
               for p in report["proposals"] if p["action"] == "replace")


def test_local_sources_reach_the_prompt_and_verify_the_correction(tmp_path):
    library = tmp_path / "sources"
    library.mkdir()
    fact = "Mixtral 8x7B compte 46,7 milliards de paramètres au total, dont 12,9 milliards actifs par jeton."
    (library / "mixtral.md").write_text(
        "# Communiqué Mistral AI, décembre 2023\n\nMistral AI publie Mixtral 8x7B, un mélange d'experts. "
        f"{fact} Le modèle est distribué sous licence Apache 2.0.\n", encoding="utf-8")
    (library / "meteo.txt").write_text("Il pleut sur Brest. Le vent souffle du nord-ouest.\n", encoding="utf-8")
    model = EditorModel(claims=CLAIMS, cite_snippets=True)
    with FakeLLM(responder=model) as server:
        result = run_cli(["run", str(SEED), "--out", str(tmp_path / "out"), "--sources", str(library)], server,
                         MISTRAL_API_KEY="")
        assert result.exit_code == 0, result.output
        corrections_prompt = server.chat_requests[1]["messages"][0]["content"]
    assert fact in corrections_prompt
    assert "Il pleut sur Brest" not in corrections_prompt
    report = read_report(tmp_path / "out")
    claim = next(p for p in report["proposals"] if p["finding_id"] == report["claims"][0]["id"])
    assert claim["status"] == "verified", claim
    assert claim["sources"][0]["status"] == "verified"
    rewritten = (tmp_path / "out" / SEED.stem / SEED.name).read_text(encoding="utf-8")
    assert "doté de 46,7 milliards de paramètres" in rewritten


def test_the_offline_hint_names_the_variable_the_user_chose(tmp_path):
    result = run_cli(["run", str(SEED), "--out", str(tmp_path), "--api-key-env", "NEWSROOM_LLM_KEY"])
    assert result.exit_code == 0
    assert "set $NEWSROOM_LLM_KEY" in result.stderr


def test_bad_options_and_unwritable_output_are_one_line_each(tmp_path):
    result = run_cli(["run", str(SEED), "--encoding", "klingon"])
    assert result.exit_code == 2 and "unknown encoding 'klingon'" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli(["run", str(SEED), "--offline", "--out", str(blocker / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "cannot write results" in result.stderr and "choose another --out folder" in result.stderr
    assert "Traceback" not in result.output


def test_a_long_article_is_chunked_and_each_chunk_costs_two_requests(tmp_path):
    paragraph = ("Le modèle a été présenté à Paris devant des chercheurs venus de toute l'Europe, "
                 "qui ont salué sa sobriété et la qualité de ses réponses en français. ") * 5
    body = [paragraph] * 30
    body[5] += " Il compte 12 milliards de paramètres selon l'annonce [DONNÉES NÉCESSAIRES]."
    body[25] += " Son concurrent compte 12 milliards de paramètres [TBD]."
    article = tmp_path / "long.txt"
    article.write_text("Un long article\n" + "\n".join(body) + "\n", encoding="utf-8")
    model = EditorModel(claims=CLAIMS)
    with FakeLLM(responder=model) as server:
        result = run_cli(["run", str(article), "--out", str(tmp_path / "out")], server, MISTRAL_API_KEY="")
        assert result.exit_code == 0, result.output
        bodies = server.chat_requests
    tasks = [b["response_format"]["json_schema"]["name"] for b in bodies]
    assert tasks == ["claims", "claims", "corrections", "corrections"]
    report = read_report(tmp_path / "out", "long")
    assert len(report["claims"]) == 2 and len(report["findings"]) == 2
    # each corrections request lists only the findings of its own chunk, and carries only that chunk
    # (the chunks are asked in parallel: in either order)
    corrections = sorted(bodies[2:], key=lambda b: "[TBD]" in b["messages"][0]["content"])
    for body, marker in zip(corrections, ("[DONNÉES NÉCESSAIRES]", "[TBD]")):
        prompt = body["messages"][0]["content"]
        listed = prompt[prompt.index("<<<FINDINGS"):prompt.index("FINDINGS>>>")]
        assert marker in listed and listed.count('"id"') == 2
        assert len(prompt) < len(article.read_text(encoding="utf-8"))
    assert {p["finding_id"] for p in report["proposals"]} == {f["id"] for f in report["findings"] + report["claims"]}


def test_fetch_reads_references_only_on_public_hosts_unless_fetch_private(tmp_path, pages):
    article = tmp_path / "chomage.md"
    article.write_text("Le chômage a baissé selon l'Insee [1].\n\n[1] " + pages.url("/insee-chomage.html") + "\n",
                       encoding="utf-8")
    with FakeLLM(responder=EditorModel()) as server:
        denied = run_cli(["run", str(article), "--fetch", "--out", str(tmp_path / "b")], server, MISTRAL_API_KEY="")
        allowed = run_cli(["run", str(article), "--fetch", "--fetch-private", "--out", str(tmp_path / "c")], server,
                          MISTRAL_API_KEY="")
    assert denied.exit_code == 0 and allowed.exit_code == 0
    assert pages.hits("/insee-chomage.html") == 1                      # only the --fetch-private run read it
    [doc_denied] = read_report(tmp_path / "b", "chomage")["evidence"]
    [doc_allowed] = read_report(tmp_path / "c", "chomage")["evidence"]
    assert "refused" in doc_denied["error"] and doc_allowed["read"] is True
    assert (tmp_path / "c" / "chomage" / "evidence" / f"{doc_allowed['id']}.txt").is_file()
