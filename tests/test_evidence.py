"""Evidence: references fetched from 127.0.0.1, the local library, snippets and the fetch cache."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewriter import evidence as ev
from rewriter import fetch
from rewriter.errors import ConfigError
from rewriter.evidence import Evidence, gather, passages, tokens
from rewriter.models import CLAIM, PLACEHOLDER, Finding, Reference, Source
from rewriter.settings import Settings
from tests.served import PAGES, pages  # noqa: F401  (fixture)

LIBRARY = PAGES / "sources"


@pytest.fixture
def settings(tmp_path):
    # The test server listens on 127.0.0.1, which the default settings refuse to fetch.
    return Settings(cache_dir=tmp_path / "cache", fetch_private=True)


def ref(url: str, label: str = "1", text: str | None = None) -> Reference:
    return Reference(label=label, text=text if text is not None else f"[{label}] {url}", url=url,
                     start=0, end=0, line=1)


def finding_for(text: str, needle: str, kind: str = CLAIM) -> Finding:
    start = text.index(needle)
    return Finding.at(text, start, start + len(needle), kind, "test", "test finding")


# ---------------------------------------------------------------- tokens and passages

def test_tokens_fold_accents_case_stopwords_and_plurals():
    assert tokens("Les chiffres du Chômage, selon l'Insee") == ["chiffre", "chomage", "insee"]
    assert tokens("The wind farms of the Atlantic coast") == ["wind", "farm", "atlantic", "coast"]
    assert tokens("cœur 2024") == ["coeur", "2024"]


def test_passages_are_whole_sentences_two_at_a_time_within_a_paragraph():
    text = "Un. Deux. Trois. Quatre.\nCinq.\n\nSix."
    assert passages(text) == ["Un. Deux.", "Trois. Quatre.", "Cinq.", "Six."]


# ---------------------------------------------------------------- fetching

def test_gather_fetches_references_and_keeps_each_extract(pages, settings, tmp_path):
    out = tmp_path / "out" / "article" / "evidence"
    url = pages.url("/insee-chomage.html")
    found = gather("Article.", [ref(url, text=f"[1] Insee, premier trimestre, {url}")],
                   sources_dir=None, fetch=True, settings=settings, evidence_dir=out)
    [doc] = found.documents
    assert (doc.id, doc.kind, doc.url, doc.error) == ("E1", "reference", url, None)
    assert "pour s’établir à 7,5 % de la population active" in doc.text
    assert "Mentions légales" not in doc.text          # trafilatura kept the article, not the chrome
    assert doc.title == "Chômage : le taux recule au premier trimestre 2024"
    assert Path(doc.path) == out / "E1.txt"
    assert (out / "E1.txt").read_text(encoding="utf-8") == doc.text
    [(path, headers)] = pages.requests
    assert headers["User-Agent"] == fetch.USER_AGENT
    assert fetch.USER_AGENT.startswith("rewriter/") and "fact-checking" in fetch.USER_AGENT
    assert found.to_dict() == [{"id": "E1", "kind": "reference", "url": url, "path": str(out / "E1.txt"),
                                "title": doc.title, "read": True, "chars": len(doc.text), "error": None,
                                "date": "", "provider": "", "license": ""}]


def test_a_rerun_reads_the_cache_not_the_network(pages, settings, tmp_path):
    url = pages.url("/insee-chomage.html")
    first = gather("A.", [ref(url)], sources_dir=None, fetch=True, settings=settings, evidence_dir=None)
    second = gather("A.", [ref(url)], sources_dir=None, fetch=True, settings=settings, evidence_dir=tmp_path / "e")
    assert pages.hits("/insee-chomage.html") == 1
    assert second.documents[0].text == first.documents[0].text
    assert (tmp_path / "e" / "E1.txt").exists()        # still written for the reviewer
    fresh = dataclasses.replace(settings, use_cache=False)
    gather("A.", [ref(url)], sources_dir=None, fetch=True, settings=fresh, evidence_dir=None)
    assert pages.hits("/insee-chomage.html") == 2


@pytest.mark.parametrize("path, reason", [
    ("/missing.html", "HTTP 404"),
    ("/report.pdf", "unsupported content type application/pdf; only HTML and plain text are read"),
    ("/big", "page too large (2,100,007 bytes; the limit is 2,000,000)"),
    ("/loop", "more than 5 redirects"),
    ("/empty.html", "no readable text in the page"),
])
def test_unreadable_pages_say_why(pages, settings, path, reason):
    found = gather("A.", [ref(pages.url(path))], sources_dir=None, fetch=True, settings=settings, evidence_dir=None)
    [doc] = found.documents
    assert doc.text is None
    assert doc.error == reason


def test_timeouts_are_reported(pages, settings):
    quick = dataclasses.replace(settings, page_seconds=0.2)
    [doc] = gather("A.", [ref(pages.url("/slow"))], sources_dir=None, fetch=True, settings=quick,
                   evidence_dir=None).documents
    assert doc.error == "timed out after 0.2 s"


def test_redirects_are_followed_and_plain_text_is_read(pages, settings):
    found = gather("A.", [ref(pages.url("/moved")), ref(pages.url("/note.txt"), "2")], sources_dir=None,
                   fetch=True, settings=settings, evidence_dir=None)
    moved, note = found.documents
    assert "7,5 %" in moved.text
    assert note.text.startswith("Communiqué du ministère du Travail, 15 mai 2024.")


def test_unreachable_host_is_an_error_not_a_crash(settings):
    [doc] = gather("A.", [ref("http://127.0.0.1:9/nothing")], sources_dir=None, fetch=True,
                   settings=settings, evidence_dir=None).documents
    assert doc.text is None and doc.error.startswith("ConnectError")


# ---------------------------------------------------------------- private addresses

REFUSED = "refused: {} resolves to a private, loopback or link-local address"


@pytest.mark.parametrize("addresses", [
    ["127.0.0.1"], ["::1"], ["10.1.2.3"], ["172.16.0.1"], ["192.168.1.10"], ["169.254.169.254"],
    ["fe80::1%eth0"], ["fd00::1"], ["0.0.0.0"], ["::"], ["224.0.0.251"], ["ff02::1"], ["240.0.0.1"],
    ["100.64.0.1"], ["::ffff:10.0.0.1"], ["2002:a00:1::1"],
    ["93.184.216.34", "10.0.0.1"],               # every address counts, not only the first
])
def test_refusal_of_private_loopback_link_local_and_reserved_addresses(addresses):
    asked = []

    def resolve(host):
        asked.append(host)
        return addresses

    assert fetch.refusal("https://intranet.example/page", resolve) == REFUSED.format("intranet.example")
    assert asked == ["intranet.example"]


@pytest.mark.parametrize("addresses", [["93.184.216.34"], ["2606:2800:220:1:248:1893:25c8:1946"],
                                       ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]])
def test_public_addresses_are_allowed(addresses):
    assert fetch.refusal("https://www.insee.fr/fr/statistiques", lambda host: addresses) is None


def test_a_host_that_does_not_resolve_is_refused_too():
    def resolve(host):
        raise OSError(-2, "Name or service not known")

    reason = fetch.refusal("https://nowhere.invalid/", resolve)
    assert reason == "cannot resolve nowhere.invalid (Name or service not known)"


def test_by_default_a_loopback_url_is_refused_before_any_request(pages, tmp_path):
    default = Settings(cache_dir=tmp_path / "cache")
    assert default.fetch_private is False
    found = gather("A.", [ref(pages.url("/insee-chomage.html"))], sources_dir=None, fetch=True,
                   settings=default, evidence_dir=tmp_path / "e")
    port = pages.base.rsplit(":", 1)[1]
    named = found.document_for_source(Source(url=f"http://localhost:{port}/note.txt"))
    metadata = found.document_for_source(Source(url="http://169.254.169.254/latest/meta-data/"))
    assert [(d.text, d.error) for d in found.documents] == [
        (None, REFUSED.format("127.0.0.1")), (None, REFUSED.format("localhost")),
        (None, REFUSED.format("169.254.169.254"))]
    assert named.error and metadata.error
    assert pages.requests == []
    assert not (tmp_path / "e").exists()


def test_a_redirect_to_a_private_host_is_refused(pages, tmp_path, monkeypatch):
    # Pretend the test server's 127.0.0.1 is a public address, and "localhost" a private one.
    monkeypatch.setattr(fetch, "host_addresses", lambda host: ["::1"] if host == "localhost" else [host])
    monkeypatch.setattr(fetch, "is_public_address", lambda address: address == "127.0.0.1")
    default = Settings(cache_dir=tmp_path / "cache")
    found = gather("A.", [ref(pages.url("/to-localhost")), ref(pages.url("/moved"), "2")], sources_dir=None,
                   fetch=True, settings=default, evidence_dir=None)
    private, public = found.documents
    assert (private.text, private.error) == (None, REFUSED.format("localhost"))
    assert "7,5 %" in public.text                     # a redirect within an allowed host is followed
    assert [path for path, _ in pages.requests] == ["/to-localhost", "/moved", "/insee-chomage.html"]


def test_without_fetch_nothing_is_downloaded(pages, settings):
    url = pages.url("/insee-chomage.html")
    found = gather("A.", [ref(url), ref(url, "2"), ref("mailto:x@example.org", "3")], sources_dir=None,
                   fetch=False, settings=settings, evidence_dir=None)
    [doc] = found.documents                             # one document per URL; mailto is not a page
    assert (doc.text, doc.error) == (None, None)
    doc2 = found.document_for_source(Source(url=pages.url("/note.txt")))
    assert (doc2.id, doc2.kind, doc2.text) == ("E2", "fetched", None)
    assert pages.requests == []


def test_offline_reads_nothing_not_even_the_library(pages, tmp_path):
    offline = Settings(cache_dir=tmp_path / "cache", offline=True)
    found = gather("A.", [ref(pages.url("/insee-chomage.html"))], sources_dir=LIBRARY, fetch=True,
                   settings=offline, evidence_dir=tmp_path / "e")
    assert found.documents == []
    doc = found.document_for_source(Source(url=pages.url("/note.txt")))
    assert doc.text is None
    assert pages.requests == []


def test_proposed_urls_are_fetched_once_on_demand(pages, settings):
    found = gather("A.", [], sources_dir=None, fetch=True, settings=settings, evidence_dir=None)
    url = pages.url("/note.txt")
    doc = found.document_for_source(Source(url=url + "#top"))
    assert (doc.id, doc.kind) == ("E1", "fetched") and "1,2 %" in doc.text
    assert found.document_for_source(Source(url=url)) is doc
    assert found.document_for_source(Source(url="", evidence_id="E1#3")) is doc
    assert found.document_for_source(Source(url="", evidence_id="E1")) is doc     # a bare document id
    assert found.document_for_source(Source(url="", evidence_id=" E1 ")) is doc
    assert found.document_for_source(Source(url="", evidence_id="E9")) is None
    assert found.document_for_source(Source(url="javascript:alert(1)")) is None
    assert pages.hits("/note.txt") == 1


# ---------------------------------------------------------------- the library

def test_library_documents_are_read_locally(settings):
    found = gather("A.", [], sources_dir=LIBRARY, fetch=False, settings=settings, evidence_dir=None)
    assert [(d.id, Path(d.path).name, d.kind, d.url) for d in found.documents] == [
        ("E1", "archives-tramway.html", "library", None),
        ("E2", "budget-2024.md", "library", None),
        ("E3", "wind-farm.txt", "library", None),
    ]
    tram, budget, wind = found.documents
    assert tram.title == "Archives : la ligne T1 du tramway"
    assert "mise en service le 2 janvier 2001" in tram.text and "<p>" not in tram.text
    assert budget.title == "Budget de la Ville de Lyon pour 2024"
    assert wind.title == "Offshore wind farm off Saint-Nazaire reaches full capacity"


def test_snippets_for_french_and_english_findings(settings):
    found = gather("A.", [], sources_dir=LIBRARY, fetch=False, settings=settings, evidence_dir=None)
    article = ("La ville de Lyon a voté son budget. Le budget de fonctionnement atteint [MONTANT] selon la mairie. "
               "Ailleurs, the offshore wind farm near Saint-Nazaire has 60 turbines, officials said.")
    budget = found.snippets_for(finding_for(article, "[MONTANT]", PLACEHOLDER), article, k=2)
    assert budget[0].id == "E2#1" and budget[0].document_id == "E2"
    assert "Le budget de fonctionnement s'élève à 812 millions d'euros." in budget[0].text
    wind = found.snippets_for(finding_for(article, "the offshore wind farm near Saint-Nazaire has 60 turbines"),
                              article, k=3)
    assert wind[0].id == "E3#1"
    assert "80 turbines with a combined capacity of 480 megawatts" in wind[0].text
    assert len(wind) <= 3 and len({s.id for s in wind}) == len(wind)
    # Stable: the same question gets the same snippets.
    assert found.snippets_for(finding_for(article, "[MONTANT]", PLACEHOLDER), article, k=2) == budget


def test_snippets_include_fetched_references(pages, settings):
    article = "Le taux de chômage est tombé à [CHIFFRE] au premier trimestre 2024 [1]."
    found = gather(article, [ref(pages.url("/insee-chomage.html"))], sources_dir=LIBRARY, fetch=True,
                   settings=settings, evidence_dir=None)
    [best, *_] = found.snippets_for(finding_for(article, "[CHIFFRE]", PLACEHOLDER), article)
    assert best.document_id == "E1" and "7,5 %" in best.text


def test_no_snippets_without_readable_evidence(settings):
    article = "Le budget atteint [MONTANT]."
    found = gather(article, [ref("https://example.org/a")], sources_dir=None, fetch=False, settings=settings,
                   evidence_dir=None)
    assert found.snippets_for(finding_for(article, "[MONTANT]", PLACEHOLDER), article) == []


def test_default_library_is_sources_in_the_working_directory(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gather("A.", [], sources_dir=None, fetch=False, settings=settings, evidence_dir=None).documents == []
    shutil.copytree(LIBRARY, tmp_path / "sources")
    assert len(gather("A.", [], sources_dir=None, fetch=False, settings=settings, evidence_dir=None).documents) == 3


def test_missing_sources_folder_is_a_config_error(settings, tmp_path):
    with pytest.raises(ConfigError, match="--sources .*nope: no such folder"):
        gather("A.", [], sources_dir=tmp_path / "nope", fetch=False, settings=settings, evidence_dir=None)


def test_the_article_itself_is_not_its_own_evidence(settings, tmp_path):
    (tmp_path / "lib").mkdir()
    article = "Le maire affirme que la dette a baissé de 40 %.\n"
    (tmp_path / "lib" / "copy.txt").write_text(article.replace(" ", "  "), encoding="utf-8")
    (tmp_path / "lib" / "other.md").write_text("La dette a augmenté de 3 %.", encoding="utf-8")
    found = gather(article, [], sources_dir=tmp_path / "lib", fetch=False, settings=settings, evidence_dir=None)
    assert [Path(d.path).name for d in found.documents] == ["other.md"]


def test_bm25s_is_imported_only_when_there_is_evidence_to_search(tmp_path):
    code = ("import sys; from pathlib import Path; from rewriter.evidence import gather;"
            "from rewriter.models import Finding; from rewriter.settings import Settings;"
            f"s = Settings(cache_dir=Path({str(tmp_path)!r}));"
            "e = gather('Le budget [X].', [], sources_dir=None, fetch=False, settings=s, evidence_dir=None);"
            "e.snippets_for(Finding.at('Le budget [X].', 10, 13, 'placeholder', 't', 'm'), 'Le budget [X].');"
            "print('bm25s' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(Path(ev.__file__).parent.parent), "PATH": ""})
    assert result.stdout.strip() == "False", result.stderr


def test_evidence_ids_are_given_in_order_of_gathering(pages, settings):
    found = gather("A.", [ref(pages.url("/note.txt"))], sources_dir=LIBRARY, fetch=True, settings=settings,
                   evidence_dir=None)
    later = found.document_for_source(Source(url=pages.url("/insee-chomage.html")))
    assert [d.id for d in found.documents] == ["E1", "E2", "E3", "E4", "E5"]
    assert [d.kind for d in found.documents] == ["reference", "library", "library", "library", "fetched"]
    assert later.id == "E5"
    assert isinstance(found, Evidence)
