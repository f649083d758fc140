"""rewriter.search: the providers against loopback fakes of their documented APIs, and the Searcher."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rewriter import __version__, search
from rewriter.errors import ConfigError, SearchError
from rewriter.fetch import FetchError
from rewriter.search import (
    Hit,
    MistralWebSearch,
    Searcher,
    SearxNG,
    Wikipedia,
    build_providers,
)
from rewriter.settings import Settings, parse_research
from tests.fake_search import (
    FABRICATED,
    FakeMistralConversations,
    FakeSearx,
    FakeWiki,
    Fault,
)

KEY = "sk-test-SECRET-42"
CONTACT = "desk@example.org"
UA = f"rewriter/{__version__} ({CONTACT})"

CORPUS = {
    "fr": {
        "Mistral AI": """<table class="infobox"><tr><th>Création</th><td>avril 2023</td></tr>
<tr><th>Siège</th><td>Paris</td></tr></table>
<p>Mistral AI est une entreprise française d'intelligence artificielle fondée en avril 2023 à Paris.</p>
<table class="wikitable"><tr><th>Modèle</th><th>Paramètres</th></tr>
<tr><td>Mixtral 8x7B</td><td>46,7 milliards</td></tr></table>""",
        "Paris": "Paris est la capitale de la France. Sa population est de 2 102 650 habitants en 2023.",
    },
    "en": {
        "Mistral AI": "Mistral AI is a French artificial intelligence company founded in April 2023.",
        "Microsoft": "Microsoft is an American company headquartered in Redmond, Washington.",
    },
}


@pytest.fixture
def wiki():
    with FakeWiki(CORPUS) as fake:
        yield fake


def make_settings(tmp_path, **values) -> Settings:
    base = Settings(cache_dir=tmp_path / "cache", contact=CONTACT, max_retry_wait=0.05, max_retries=2)
    return dataclasses.replace(base, **values)


# ---------------------------------------------------------------- wikipedia

def test_wikipedia_searches_the_articles_language_and_english(wiki, tmp_path):
    settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template, api_key=KEY)
    searcher = Searcher(build_providers(settings), settings, max_hits_per_query=3)
    hits = searcher.run([("Mistral AI fondée", "fr")])

    assert wiki.searches() == [("fr", "Mistral AI fondée", "3"), ("en", "Mistral AI fondée", "3")]
    assert [(h.url, h.title) for h in hits][:2] == [(f"{wiki.base}/fr/wiki/Mistral_AI", "Mistral AI"),
                                                    (f"{wiki.base}/en/wiki/Mistral_AI", "Mistral AI")]
    first = hits[0]
    assert first.provider == "wikipedia" and first.query == "Mistral AI fondée"
    assert "<span" not in first.snippet and "fondée en avril 2023" in first.snippet
    assert first.license == f"CC BY-SA 4.0 — Wikipedia contributors, “Mistral AI”, {first.url}"
    for request in wiki.requests:
        assert request.headers["user-agent"] == UA          # a descriptive User-Agent with the contact
        assert "authorization" not in request.headers       # the API key never goes to a search provider
        assert KEY not in str(request.headers)
    [record] = searcher.records
    assert (record.provider, record.query, record.lang, record.status, record.hits) == (
        "wikipedia", "Mistral AI fondée", "fr", "ok", len(hits))


def test_an_english_article_searches_english_only_and_an_odd_language_falls_back_to_english(wiki, tmp_path):
    provider = Wikipedia(make_settings(tmp_path, wikipedia_url=wiki.url_template))
    provider.search([("Microsoft Redmond", "en"), ("Microsoft", "../../etc")])
    assert [lang for lang, _, _ in wiki.searches()] == ["en", "en"]


def test_wikipedia_pages_are_read_as_html_with_tables_and_infobox_and_cached(wiki, tmp_path):
    settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template)
    [provider] = build_providers(settings)
    hit = provider.search([("Mistral AI", "fr")])[0][0]
    page = provider.read(hit)
    assert page.url == hit.url and page.final_url == f"{wiki.base}/fr/w/rest.php/v1/page/Mistral_AI/html"
    assert (page.status, page.content_type, page.date, page.cached) == (200, "text/html", "2024-11-02", False)
    lines = page.text.splitlines()
    assert "Création | avril 2023" in lines and "Mixtral 8x7B | 46,7 milliards" in lines
    before = len(wiki.requests)
    again = provider.read(hit)
    assert again.cached and again.text == page.text and len(wiki.requests) == before
    assert provider.read(Hit("https://example.org/a", "A", "", "searxng", "q")) is None


def test_a_missing_or_hanging_wikipedia_page_is_a_fetch_error(wiki, tmp_path, monkeypatch):
    provider = Wikipedia(make_settings(tmp_path, wikipedia_url=wiki.url_template, max_retries=0))
    gone = Hit(f"{wiki.base}/fr/wiki/Nulle_part", "Nulle part", "", "wikipedia", "q")
    with pytest.raises(FetchError, match="^HTTP 404$"):
        provider.read(gone)
    monkeypatch.setattr(search, "SEARCH_SECONDS", 0.3)
    slow = Wikipedia(make_settings(tmp_path, wikipedia_url=wiki.url_template, max_retries=0))
    wiki.fail("page", Fault.hang(3))
    with pytest.raises(FetchError, match="timed out after 0.3 s"):
        slow.read(Hit(f"{wiki.base}/fr/wiki/Paris", "Paris", "", "wikipedia", "q"))


def test_a_rerun_is_served_from_the_cache_with_no_request(wiki, tmp_path):
    settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template)
    first = Searcher(build_providers(settings), settings).run([("Paris capitale", "fr")])
    sent = len(wiki.requests)
    rerun = Searcher(build_providers(settings), settings)
    assert rerun.run([("Paris capitale", "fr")]) == first
    assert len(wiki.requests) == sent
    assert [r.status for r in rerun.records] == ["cached"]
    fresh = dataclasses.replace(settings, use_cache=False)
    Searcher(build_providers(fresh), fresh).run([("Paris capitale", "fr")])
    assert len(wiki.requests) == sent + 2


def test_retry_after_is_honoured(wiki, tmp_path):
    settings = make_settings(tmp_path, wikipedia_url=wiki.url_template, max_retry_wait=5)
    wiki.fail("search", Fault.rate_limited(0.4))
    [hits] = Wikipedia(settings).search([("Microsoft", "en")])
    first, second = wiki.routed("search")
    assert second.at - first.at >= 0.4          # no request went out during the pause the server asked for
    assert hits and hits[0].title == "Microsoft"


def test_server_errors_end_as_one_line_and_the_other_queries_go_on(wiki, tmp_path):
    settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template, max_retries=1)
    wiki.fail("search", Fault.http(503), Fault.http(503))
    searcher = Searcher(build_providers(settings), settings, concurrency=1)
    hits = searcher.run([("Microsoft", "en"), ("Paris", "en")])
    failed, ok = searcher.records
    assert failed.status == "error" and failed.hits == 0
    assert failed.error == (f"wikipedia: {wiki.base}/en/w/rest.php/v1/search/page failed: HTTP 503 "
                            "(gave up after 2 requests)")
    assert ok.status == "ok" and [h.query for h in hits] == ["Paris"] * len(hits)


@pytest.mark.parametrize("fault, message", [
    (Fault.raw('{"results": []}'), "answered without a 'pages' list (not MediaWiki's REST search shape)"),
    (Fault.raw("<html>captive portal</html>", "text/html"), "with a body that is not JSON"),
    (Fault.hang(3), "timed out after 0.3 s"),
    (Fault.drop(), "failed"),
])
def test_faults_end_as_search_errors(wiki, tmp_path, monkeypatch, fault, message):
    monkeypatch.setattr(search, "SEARCH_SECONDS", 0.3)
    provider = Wikipedia(make_settings(tmp_path, wikipedia_url=wiki.url_template, max_retries=0))
    wiki.fail("search", fault)
    with pytest.raises(SearchError) as caught:
        provider.search([("Paris", "en")])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_empty_results_are_no_hits(wiki, tmp_path):
    wiki.fail("search", Fault.empty(), Fault.empty())
    assert Wikipedia(make_settings(tmp_path, wikipedia_url=wiki.url_template)).search([("Paris", "fr")]) == [[]]


# ---------------------------------------------------------------- mistral web_search

REFS = {
    "Mistral AI date de création": [("https://www.example.org/mistral-fondation", "Mistral AI fondée en 2023"),
                                    ("https://news.example.com/mistral", "Mistral AI", "A French start-up")],
    "Microsoft headquarters": [("https://www.example.org/microsoft", "Microsoft – Redmond")],
}


def test_mistral_asks_once_for_all_queries_and_keeps_only_references(tmp_path):
    with FakeMistralConversations(REFS, api_key=KEY) as fake:
        settings = make_settings(tmp_path, research=("mistral",), base_url=fake.base_url, base_url_configured=True,
                                 model="fake-model", api_key=KEY)
        searcher = Searcher(build_providers(settings), settings)
        hits = searcher.run([("Mistral AI date de création", "fr"), ("Microsoft headquarters", "en")])
        [request] = fake.routed("conversations")

    body = request.body
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body["store"] is False and body["tools"] == [{"type": "web_search"}] and body["model"] == "fake-model"
    content = body["inputs"][0]["content"]
    assert "Q1 [fr]: Mistral AI date de création" in content and "Q2 [en]: Microsoft headquarters" in content
    assert [(h.url, h.query) for h in hits] == [
        ("https://www.example.org/mistral-fondation", "Mistral AI date de création"),
        ("https://news.example.com/mistral", "Mistral AI date de création"),
        ("https://www.example.org/microsoft", "Microsoft headquarters")]
    assert hits[1].snippet == "A French start-up"               # the reference's own description
    assert not any(FABRICATED[:30] in h.snippet or FABRICATED[:30] in h.title for h in hits)
    [call] = searcher.calls
    assert (call.task, call.cached, call.error, call.connector_tokens) == ("research", False, None, 900)
    assert call.prompt_tokens > 0 and call.completion_tokens == 40
    assert [(r.provider, r.status, r.hits) for r in searcher.records] == [("mistral", "ok", 2), ("mistral", "ok", 1)]


def test_mistral_rerun_makes_no_request(tmp_path):
    with FakeMistralConversations(REFS) as fake:
        settings = make_settings(tmp_path, research=("mistral",), base_url=fake.base_url, base_url_configured=True,
                                 model="fake-model")
        first = Searcher(build_providers(settings), settings).run([("Microsoft headquarters", "en")])
        rerun = Searcher(build_providers(settings), settings)
        assert rerun.run([("Microsoft headquarters", "en")]) == first
        assert len(fake.requests) == 1
    assert [c.cached for c in rerun.calls] == [True] and rerun.records[0].status == "cached"


@pytest.mark.parametrize("fault, message", [
    (Fault.http(401, {"message": "Unauthorized"}), "mistral: API key rejected by"),
    (Fault.http(404, {"detail": "Not Found"}), "no /conversations endpoint on"),
    (Fault.http(422, {"detail": [{"loc": ["body", "tools", 0], "msg": "Input tag 'web_search' is not allowed"}]}),
     "refused the web_search request (HTTP 422): Input tag 'web_search' is not allowed"),
    (Fault.raw('{"choices": [{"message": {"content": "hi"}}]}'), "answered without an 'outputs' list"),
])
def test_mistral_faults_end_as_one_line_and_are_recorded(tmp_path, fault, message):
    with FakeMistralConversations(REFS) as fake:
        settings = make_settings(tmp_path, base_url=fake.base_url, base_url_configured=True, model="fake-model",
                                 api_key=KEY, max_retries=0)
        provider = MistralWebSearch(settings)
        fake.fail("conversations", fault)
        with pytest.raises(SearchError) as caught:
            provider.search([("Microsoft headquarters", "en")])
    assert message in str(caught.value) and "\n" not in str(caught.value) and KEY not in str(caught.value)
    assert provider.calls[-1].error


def test_mistral_waits_out_a_rate_limit(tmp_path):
    with FakeMistralConversations(REFS) as fake:
        settings = make_settings(tmp_path, base_url=fake.base_url, base_url_configured=True, model="fake-model",
                                 max_retry_wait=5)
        fake.fail("conversations", Fault.rate_limited(0.3))
        [hits] = MistralWebSearch(settings).search([("Microsoft headquarters", "en")])
        first, second = fake.routed("conversations")
    assert second.at - first.at >= 0.3 and [h.url for h in hits] == ["https://www.example.org/microsoft"]


def test_mistral_needs_a_key_or_a_configured_server(tmp_path):
    with pytest.raises(ConfigError, match=r"--research mistral needs a Mistral API key: set \$MISTRAL_API_KEY"):
        build_providers(make_settings(tmp_path, research=("mistral",)))


# ---------------------------------------------------------------- searxng

def test_searxng_sends_query_format_and_language_and_keeps_date(tmp_path):
    results = {"chômage Insee 2024": [{"url": "https://www.insee.fr/x", "title": "Chômage", "content": "7,5 %",
                                       "publishedDate": "2024-05-17T00:00:00"},
                                      ("https://example.org/y", "Y", "autre"), ("not a url", "Z", "")]}
    with FakeSearx(results) as fake:
        settings = make_settings(tmp_path, research=("searxng",), searx_url=fake.base, api_key=KEY)
        searcher = Searcher(build_providers(settings), settings)
        hits = searcher.run([("chômage Insee 2024", "fr")])
        [request] = fake.requests
    assert fake.searches() == [("chômage Insee 2024", "json", "fr")]
    assert request.headers["user-agent"] == UA and "authorization" not in request.headers
    assert [(h.url, h.title, h.snippet, h.date, h.provider) for h in hits] == [
        ("https://www.insee.fr/x", "Chômage", "7,5 %", "2024-05-17", "searxng"),
        ("https://example.org/y", "Y", "autre", "", "searxng")]


def test_searxng_without_json_says_how_to_enable_it(tmp_path):
    with FakeSearx({}, json_enabled=False) as fake:
        provider = SearxNG(make_settings(tmp_path, searx_url=fake.base))
        with pytest.raises(SearchError, match=r"refused format=json \(HTTP 403\); enable json under search.formats"):
            provider.search([("x", "en")])


def test_searxng_needs_its_url(tmp_path):
    with pytest.raises(ConfigError, match="--research searxng needs --searx-url URL"):
        build_providers(make_settings(tmp_path, research=("searxng",)))


# ---------------------------------------------------------------- the searcher's bounds, and settings

def test_searches_are_bounded_per_article_deduplicated_and_capped_in_hits(wiki, tmp_path):
    settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template, max_searches=2)
    searcher = Searcher(build_providers(settings), settings, max_hits_per_query=1)
    hits = searcher.run([("Mistral AI", "en"), ("Mistral  AI ", "en"), ("Microsoft", "en"), ("Paris", "en")])
    assert sorted(q for _, q, _ in wiki.searches()) == ["Microsoft", "Mistral AI"]     # searched in parallel
    assert [h.title for h in hits] == ["Mistral AI", "Microsoft"]
    assert [(r.query, r.status) for r in searcher.records] == [("Paris", "skipped"), ("Mistral AI", "ok"),
                                                               ("Microsoft", "ok")]
    assert "--max-searches" in searcher.records[0].error


def test_several_providers_answer_each_query_and_each_url_comes_once(wiki, tmp_path):
    same = f"{wiki.base}/en/wiki/Microsoft"
    with FakeSearx([(same, "Microsoft (searx)", "dup"), ("https://example.org/ms", "MS", "other")]) as searx:
        settings = make_settings(tmp_path, research=("wikipedia", "searxng"), wikipedia_url=wiki.url_template,
                                 searx_url=searx.base)
        searcher = Searcher(build_providers(settings), settings)
        hits = searcher.run([("Microsoft Redmond", "en")])
    assert [(h.provider, h.url) for h in hits] == [("wikipedia", same), ("searxng", "https://example.org/ms")]
    assert [r.provider for r in searcher.records] == ["wikipedia", "searxng"]


@pytest.mark.parametrize("value, model, expected", [
    ("", True, ("wikipedia",)), ("", False, ()), ("none", True, ()), ("wikipedia, searxng", False,
                                                                      ("wikipedia", "searxng")),
    ("MISTRAL,mistral", True, ("mistral",))])
def test_research_setting(value, model, expected):
    assert parse_research(value, default=model) == expected


def test_research_defaults_to_wikipedia_only_with_a_model():
    assert Settings.from_env(env={}).research == ()
    assert Settings.from_env(env={"MISTRAL_API_KEY": "k"}).research == ("wikipedia",)
    assert Settings.from_env(env={"MISTRAL_API_KEY": "k", "REWRITER_RESEARCH": "none"}).research == ()
    assert Settings.from_env(env={"REWRITER_RESEARCH": "searxng", "REWRITER_SEARX_URL": "http://s/"}).searx_url == "http://s"
    with pytest.raises(ConfigError, match="unknown provider bing; choose from wikipedia, mistral, searxng"):
        Settings.from_env(env={}, research="wikipedia,bing")
    with pytest.raises(ConfigError, match="must hold {lang}"):
        Settings.from_env(env={}, wikipedia_url="https://fr.wikipedia.org")


# ---------------------------------------------------------------- answers of any shape

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
                     | st.sampled_from(["https://example.org/a", "tool_reference", "message.output", "tool.execution",
                                        "text", "Q1", "web_search"]),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["pages", "key", "title", "excerpt", "results", "url", "content", "outputs",
                                          "type", "content", "usage", "prompt_tokens", "connector_tokens", "text",
                                          "arguments", "info", "description", "publishedDate"]), inner, max_size=5),
                     max_leaves=20)


@pytest.fixture
def services():
    with FakeWiki({"fr": {}, "en": {}}) as wiki, FakeSearx() as searx, FakeMistralConversations() as mistral:
        yield wiki, searx, mistral


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_JSON, which=st.sampled_from(["wikipedia", "searxng", "mistral"]),
       status=st.sampled_from([200, 200, 200, 400, 401, 403, 404, 422]))
@example(answer={"pages": [{"key": "Paris", "title": ["x"], "excerpt": 5}, {"key": 3}, "x"]}, which="wikipedia", status=200)
@example(answer={"results": [{"url": "https://e.org/", "title": {"a": 1}, "content": 2, "publishedDate": 7}]},
         which="searxng", status=200)
@example(answer={"outputs": [{"type": "message.output", "content": [{"type": "text", "text": 5},
                                                                     {"type": "tool_reference", "url": 1},
                                                                     {"type": "tool_reference", "url": "https://e.org/",
                                                                      "title": None, "description": ["d"]}]},
                             {"type": "tool.execution", "arguments": {"query": 5}, "info": {"x": [
                                 {"type": "tool_reference", "url": "https://f.org/"}]}}],
                 "usage": {"prompt_tokens": "many", "connector_tokens": [1]}}, which="mistral", status=200)
@example(answer={"detail": [{"msg": "line one\nline two"}, 3]}, which="mistral", status=422)
def test_an_answer_of_any_shape_is_hits_or_one_search_error(services, tmp_path, answer, which, status):
    wiki, searx, mistral = services
    settings = make_settings(tmp_path, wikipedia_url=wiki.url_template, searx_url=searx.base,
                             base_url=mistral.base_url, base_url_configured=True, model="fake-model", max_retries=0)
    provider, fake, route = {"wikipedia": (Wikipedia, wiki, "search"), "searxng": (SearxNG, searx, "search"),
                             "mistral": (MistralWebSearch, mistral, "conversations")}[which]
    fake.fail(route, Fault.raw(json.dumps(answer), status=status))
    try:
        [hits] = provider(settings).search([("Paris", "en")])
    except SearchError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert all(isinstance(h, Hit) and h.url.startswith(("http://", "https://")) for h in hits)


def test_mistral_references_without_labels_go_to_the_query_they_match(tmp_path):
    # No "Q<n>" label in the text: the search the tool ran (tool.execution arguments) and the title decide.
    answer = {"conversation_id": "c", "object": "conversation.response", "usage": {"prompt_tokens": 5},
              "outputs": [
                  {"type": "tool.execution", "name": "web_search", "arguments": '{"query": "Microsoft headquarters"}',
                   "info": {"results": [{"type": "tool_reference", "tool": "web_search", "title": "Redmond campus",
                                         "url": "https://example.org/redmond"}]}},
                  {"type": "message.output", "role": "assistant", "content": [
                      {"type": "text", "text": f"{FABRICATED} "},
                      {"type": "tool_reference", "tool": "web_search", "title": "Mistral AI : date de création",
                       "url": "https://example.org/creation"},
                      {"type": "tool_reference", "tool": "web_search", "title": "not a page", "url": "javascript:x"}]}]}
    with FakeMistralConversations() as fake:
        settings = make_settings(tmp_path, base_url=fake.base_url, base_url_configured=True, model="fake-model")
        fake.fail("conversations", Fault.raw(json.dumps(answer)))
        first, second = MistralWebSearch(settings).search([("Mistral AI date de création", "fr"),
                                                           ("Microsoft headquarters", "en")])
    assert [h.url for h in first] == ["https://example.org/creation"]
    assert [h.url for h in second] == ["https://example.org/redmond"]
    assert all(h.snippet == "" for h in first + second)


def test_the_searcher_reads_each_hit_through_its_provider_or_under_the_address_policy(wiki, tmp_path):
    from tests.fake_search import FakeWeb

    with FakeWeb({"/ms.html": "<html><body><p>Microsoft is based in Redmond, Washington, since 1986.</p></body></html>"}
                 ) as web, FakeSearx([(web.url("/ms.html"), "Microsoft", "Redmond"),
                                      (web.url("/gone.html"), "Gone", "")]) as searx:
        settings = make_settings(tmp_path, research=("wikipedia", "searxng"), wikipedia_url=wiki.url_template,
                                 searx_url=searx.base)
        searcher = Searcher(build_providers(settings), settings)
        hits = searcher.run([("Microsoft Redmond", "en")])
        refused = searcher.read(hits)                         # 127.0.0.1 is private: refused without the flag
        allowed = Searcher(build_providers(settings), dataclasses.replace(settings, fetch_private=True)).read(hits)
        web_hits = len(web.requests)
    assert [h.provider for h in hits] == ["wikipedia", "searxng", "searxng"]
    wiki_page, *others = refused
    assert wiki_page.final_url.endswith("/en/w/rest.php/v1/page/Microsoft/html")   # a configured endpoint: read
    assert [str(e) for e in others] == ["refused: 127.0.0.1 resolves to a private, loopback or link-local address"] * 2
    page, gone = allowed[1:]
    assert "Redmond, Washington, since 1986" in page.text and str(gone) == "HTTP 404"
    assert web_hits == 2


def test_a_retry_after_seen_by_one_worker_holds_back_the_others(tmp_path):
    with FakeWiki(CORPUS, latency=0.1) as wiki:     # each answer takes 0.1 s: the workers overlap
        settings = make_settings(tmp_path, research=("wikipedia",), wikipedia_url=wiki.url_template, max_retry_wait=5)
        wiki.fail("search", Fault.rate_limited(0.5))
        searcher = Searcher(build_providers(settings), settings, concurrency=2)
        searcher.run([(f"Paris {n}", "en") for n in range(6)])
        requests = wiki.routed("search")
    told = requests[0].at + 0.1                    # when the 429 went back to the first worker
    during = [round(r.at - told, 2) for r in requests[1:] if told + 0.15 < r.at < told + 0.5]
    assert during == []                            # no worker sent anything while the server asked to wait
    assert len(requests) == 7 and all(r.status == "ok" for r in searcher.records)
