"""Research on the five seeds, end to end: the plan in the claims request, the fake Wikipedia serving
pages that state the correct facts, the fake editor citing the snippets it is offered.

This is the issue's bar: at least 90 % of the replacements for the seeds' dubious claims come out
verified, while fabricated quotes, snippet ids and URLs never do; two requests an article with
Wikipedia; a rerun makes no request and no search.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from tests.conftest import SEEDS
from tests.editor_model import FABRICATIONS, EditorModel
from tests.fake_llm import FakeLLM
from tests.fake_search import FakeWiki
from tests.research_corpus import SEED_CLAIMS, WIKI


@pytest.fixture
def wiki():
    with FakeWiki(pages=WIKI) as fake:
        yield fake


def run_seeds(fake, wiki, tmp_path, *extra):
    """``rewriter run`` on each seed; the reports, and the model requests this made."""
    out = tmp_path / "out"
    env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model",
           "REWRITER_RESEARCH": "wikipedia", "REWRITER_WIKIPEDIA_URL": wiki.url_template,
           "REWRITER_CONTACT": "desk@example.org"}
    before = len(fake.chat_requests)
    reports = {}
    for seed in SEEDS:
        result = CliRunner().invoke(cli, ["run", str(seed), "--out", str(out), *extra], env=env,
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        reports[seed.stem] = json.loads((out / seed.stem / "report.json").read_text(encoding="utf-8"))
    return reports, list(fake.chat_requests[before:])


def claim_proposals(reports):
    for report in reports.values():
        claims = {c["id"]: c for c in report["claims"]}
        yield from ((claims[p["finding_id"]], p, report) for p in report["proposals"] if p["finding_id"] in claims)


def test_research_makes_most_seed_corrections_verified(wiki, tmp_path):
    with FakeLLM(responder=EditorModel(researched=SEED_CLAIMS, plan_gaps=True)) as fake:
        reports, requests = run_seeds(fake, wiki, tmp_path)
        wiki_before = len(wiki.requests)
        again, requests_again = run_seeds(fake, wiki, tmp_path)

    # two model requests an article (claims with the plan, then corrections); the seeds without a
    # detector finding or a claim (004 has one claim) make two as well
    assert len(requests) == 2 * len(SEEDS)
    assert [r["response_format"]["json_schema"]["name"] for r in requests] == ["claims", "corrections"] * 5
    claimed = list(claim_proposals(reports))
    assert len(claimed) == 9                          # every seed claim, where the seeds make it (002 has none)
    replaced = [p for _, p, _ in claimed if p["action"] == "replace"]
    verified = [p for p in replaced if p["status"] == "verified"]
    assert len(verified) / len(claimed) >= 0.9, [
        (c["text"], p["status"], p["status_reason"]) for c, p, _ in claimed if p["status"] != "verified"]
    for proposal in verified:
        [source] = proposal["sources"]
        assert source["status"] == "verified" and source["evidence_id"]
        assert source["location"]["url"].startswith(wiki.base)           # read from the wiki, not made up
        # shown with what was read: the page's URL, title and date, whatever the model wrote beside the id
        assert source["url"] == source["location"]["url"] and source["title"] and source["date"] == "2024-11-02"
    review_md = (tmp_path / "out" / SEEDS[0].stem / "review.md").read_text(encoding="utf-8")
    assert f"- [verified] {wiki.base}/en/wiki/Mixtral — Mixtral (2024-11-02)" in review_md

    # every search went to the article's language wiki or English, with a contact in the User-Agent
    assert {r.headers["user-agent"] for r in wiki.requests} == {"rewriter/0.1.0 (desk@example.org)"}
    assert {lang for lang, _q, _limit in wiki.searches()} == {"fr", "en"}
    usage = [r["usage"] for r in reports.values()]
    per_article = [u.get("searches", 0) for u in usage]
    assert max(per_article) <= 40 and sum(per_article) > 0
    for report in reports.values():
        research = report["research"]
        assert research["providers"] == ["wikipedia"]
        for item in research["items"]:
            assert len(item["searched"]) <= 2                     # at most 2 searches per claim or gap
        read = [p for p in research["pages"] if p["status"] == "read"]
        assert all(len(p["sha256"]) == 64 and p["bytes"] > 0 for p in read)
    # what was read is saved beside the report, exactly as checked
    out = tmp_path / "out" / SEEDS[0].stem
    for doc in reports[SEEDS[0].stem]["evidence"]:
        if doc["kind"] == "search" and doc["read"]:
            assert (out / "evidence" / f"{doc['id']}.txt").read_text(encoding="utf-8")
    # the snippets offered for each claim are in the report
    item = next(i for i in reports[SEEDS[0].stem]["research"]["items"] if i["snippets"])
    assert all(sid.split("#")[0].startswith("E") for ids in item["snippets"].values() for sid in ids)

    # the rerun: no model request, no search, no page
    assert requests_again == [] and len(wiki.requests) == wiki_before
    assert all(r["usage"]["requests"] == 0 and r["usage"].get("searches", 0) == 0 for r in again.values())
    assert [p["status"] for _, p, _ in claim_proposals(again)] == [p["status"] for _, p, _ in claimed]


def test_fabricated_quotes_ids_and_urls_never_verify(wiki, tmp_path):
    with FakeLLM(responder=EditorModel(researched=SEED_CLAIMS, plan_gaps=True, fabricate=FABRICATIONS)) as fake:
        reports, _ = run_seeds(fake, wiki, tmp_path, "--fetch")
    claimed = list(claim_proposals(reports))
    assert len(claimed) == 9
    kinds = set()
    for _claim, proposal, _report in claimed:
        assert proposal["status"] != "verified", proposal
        [source] = proposal["sources"]
        assert source["status"] in ("not_found", "unreachable"), source
        kinds.add("id" if source["evidence_id"] == "E99#9" else "quote" if source["evidence_id"] else "url")
    assert kinds == set(FABRICATIONS)             # each kind of fabrication was tried


SEED = SEEDS[0]
PAGES = {"/mixtral": WIKI["en"]["Mixtral"], "/gpt-4": WIKI["en"]["GPT-4"]}


def one_run(fake_base, env, tmp_path, *extra):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(SEED), "--out", str(out), "--fetch-private", *extra],
                                env={"MISTRAL_BASE_URL": fake_base, "REWRITER_MODEL": "fake-model",
                                     "REWRITER_CONTACT": "desk@example.org", **env}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((out / SEED.stem / "report.json").read_text(encoding="utf-8"))


def test_mistral_web_search_is_one_more_request_and_its_text_is_never_evidence(tmp_path):
    from tests.fake_search import FABRICATED, FakeMistralConversations, FakeWeb
    with FakeWeb(pages=PAGES) as web, FakeLLM(api_key="sk-test", responder=EditorModel(
            researched=SEED_CLAIMS, plan_gaps=True)) as llm:
        refs = {q: [(web.base + "/mixtral", "Mixtral"), (web.base + "/gpt-4", "GPT-4")]
                for _, _, queries, _ in SEED_CLAIMS.values() for q, _ in queries}
        with FakeMistralConversations(references_for=lambda q: refs.get(q, refs["Mixtral parameters"]),
                                      api_key="sk-test", upstream=llm.base_url.removesuffix("/v1")) as mistral:
            report = one_run(mistral.base_url, {"REWRITER_RESEARCH": "mistral", "MISTRAL_API_KEY": "sk-test"},
                             tmp_path)
            conversations = mistral.bodies()
            again = one_run(mistral.base_url, {"REWRITER_RESEARCH": "mistral", "MISTRAL_API_KEY": "sk-test"},
                            tmp_path)
            assert len(mistral.bodies()) == 1 and len(llm.chat_requests) == 2      # the rerun sent nothing
    usage = report["usage"]
    assert [c["task"] for c in usage["calls"]] == ["claims", "research", "corrections"]
    assert usage["requests"] == 3 and again["usage"]["requests"] == 0
    assert usage["calls"][1]["connector_tokens"] > 0
    assert len(conversations) == 1 and conversations[0]["store"] is False
    assert conversations[0]["tools"] == [{"type": "web_search"}]
    assert {h.path for h in web.requests} == {"/mixtral", "/gpt-4"}                  # the tool read the pages
    assert all("authorization" not in {k.lower() for k in h.headers} for h in web.requests)
    documents = [d for d in report["evidence"] if d["kind"] == "search"]
    texts = [(tmp_path / "out" / SEED.stem / "evidence" / f"{d['id']}.txt").read_text(encoding="utf-8")
             for d in documents if d["read"]]
    assert texts and not any(FABRICATED[:40] in t for t in texts)
    verified = [p for p in report["proposals"] if p["status"] == "verified" and p["sources"]]
    assert verified and all(s["location"]["url"].startswith(web.base) for p in verified for s in p["sources"])


def test_searxng_is_two_requests_and_its_key_free(tmp_path):
    from tests.fake_search import FakeSearx, FakeWeb
    with FakeWeb(pages=PAGES) as web, FakeLLM(api_key="sk-test", responder=EditorModel(
            researched=SEED_CLAIMS, plan_gaps=True)) as llm, FakeSearx(results=lambda q, lang: [
                {"url": web.base + "/mixtral", "title": "Mixtral", "content": "Mixtral 8x7B …"}]) as searx:
        report = one_run(llm.base_url, {"REWRITER_RESEARCH": "searxng", "REWRITER_SEARX_URL": searx.base,
                                        "MISTRAL_API_KEY": "sk-test"}, tmp_path)
    assert report["usage"]["requests"] == 2 and len(llm.chat_requests) == 2
    assert searx.searches() and all(fmt == "json" for _q, fmt, _lang in searx.searches())
    assert all("sk-test" not in json.dumps(r.headers) for r in searx.requests + web.requests)
    assert 0 < report["usage"]["searches"] <= 40
    assert any(p["status"] == "verified" for p in report["proposals"])


def test_evidence_tokens_bounds_what_each_finding_is_offered(wiki, tmp_path):
    env = {"REWRITER_RESEARCH": "wikipedia", "REWRITER_WIKIPEDIA_URL": wiki.url_template}
    with FakeLLM(responder=EditorModel(researched=SEED_CLAIMS, plan_gaps=True)) as llm:
        wide = one_run(llm.base_url, env, tmp_path / "a")
        narrow = one_run(llm.base_url, env, tmp_path / "b", "--evidence-tokens", "50")

    def offered(report):
        return [ids for item in report["research"]["items"] for ids in item.get("snippets", {}).values()]
    assert max(map(len, offered(wide))) > 1
    assert offered(narrow) and all(len(ids) == 1 for ids in offered(narrow))   # the best one, whatever its size
