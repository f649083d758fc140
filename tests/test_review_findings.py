"""What an adversarial review of the research code found, each as a test that reproduces it."""

from __future__ import annotations

import time

from rewriter.evidence import Evidence, library_files
from rewriter.fetch import MAX_TITLE_CHARS, html_title
from rewriter.models import CLAIM, Finding
from rewriter.settings import Settings
from tests.served import pages  # noqa: F401  (fixture)


def test_a_page_title_is_bounded_and_indexed_once_whatever_its_size(tmp_path):
    huge = "mot " * 400_000
    assert len(html_title(f"<html><head><title>{huge}</title></head></html>")) <= MAX_TITLE_CHARS
    evidence = Evidence(Settings(cache_dir=tmp_path, use_cache=False), fetch=False, evidence_dir=None)
    paragraphs = "\n\n".join(f"Paragraphe {i} sur Mixtral et ses paramètres." for i in range(2000))
    doc = evidence._add("search", url="https://example.org/a", path=None, title=" ".join(f"t{i}" for i in range(20000)),
                        text=paragraphs)
    assert len(doc.title) <= MAX_TITLE_CHARS
    article = "Mixtral compte 12 milliards de paramètres.\n"
    finding = Finding.at(article, 15, 26, CLAIM, "factual_error", "r")
    start = time.perf_counter()
    snippets = evidence.snippets_for(finding, article)
    assert snippets and time.perf_counter() - start < 10
    assert all(len(evidence.origin(s.document_id)) < MAX_TITLE_CHARS + 100 for s in snippets)


def test_a_library_link_out_of_the_library_is_never_read(tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("secret-passwd-line\n")
    library = tmp_path / "sources"
    library.mkdir()
    (library / "notes.txt").symlink_to(secret)
    (library / "real.txt").write_text("Mixtral compte 46,7 milliards de paramètres.\n")
    (library / "alias.txt").symlink_to(library / "real.txt")
    (library / "loop.txt").symlink_to(library / "loop.txt")
    assert [p.name for p in library_files(library)] == ["alias.txt", "real.txt"]


def test_an_article_named_review_html_is_not_overwritten_by_the_review_page(tmp_path):
    from click.testing import CliRunner

    from rewriter.cli import cli
    article = tmp_path / "review.html"
    article.write_text("Un texte.\nPartager sur Facebook\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(article), "--offline", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "review"
    assert (folder / "rewritten-review.html").read_text(encoding="utf-8").startswith("Un texte.")
    assert (folder / "review.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_a_reply_nested_past_pythons_limit_is_re_asked_not_a_traceback(tmp_path):
    from rewriter.asker import Task, build_asker
    from rewriter.resources import load_schema
    from tests.fake_llm import FakeLLM
    good = {"claims": [], "research": []}
    with FakeLLM() as fake:
        fake.enqueue("[" * 5000 + "]" * 5000, good)
        with build_asker(fake.settings(cache_dir=tmp_path)) as asker:
            reply = asker.run(Task("claims", [{"role": "user", "content": "x"}], load_schema("claims")))
        assert reply.data == good
        assert "nested or sized past what can be read" in fake.chat_requests[1]["messages"][-1]["content"]


def test_a_mistral_label_of_five_thousand_digits_is_no_crash(tmp_path):
    from rewriter.search import _references
    huge = {"type": "message.output", "content": [{"type": "text", "text": "Q" + "1" * 5000},
                                                   {"type": "tool_reference", "url": "https://example.org/a",
                                                    "title": "A"}]}
    found = list(_references([huge], ["Mixtral parameters"]))      # raised ValueError (int of 5,000 digits)
    assert [(index, chunk["url"]) for index, chunk in found] == [(0, "https://example.org/a")]


def test_a_linked_output_folder_is_refused_before_anything_is_written(tmp_path):
    from click.testing import CliRunner

    from rewriter.cli import cli
    article = tmp_path / "a.txt"
    article.write_text("Un texte.\nPartager sur Facebook\n", encoding="utf-8")
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").symlink_to(victim)
    result = CliRunner().invoke(cli, ["run", str(article), "--offline", "--out", str(out)])
    assert result.exit_code == 1 and "is a link" in result.output
    assert list(victim.iterdir()) == []
    (out / "a").unlink()
    (out / "a").mkdir()
    (out / "a" / "evidence").symlink_to(victim)
    result = CliRunner().invoke(cli, ["run", str(article), "--offline", "--out", str(out)])
    assert result.exit_code == 1 and "evidence: is a link" in result.output
    assert list(victim.iterdir()) == []


def _cite(tmp_path, article, span, replacement, quote, kind=CLAIM):
    """Verify one proposal whose quote really is in an offered library passage."""
    from rewriter.evidence import gather
    from rewriter.models import REPLACE, Proposal, Source
    from rewriter.verify import verify
    library = tmp_path / "lib"
    library.mkdir(exist_ok=True)
    (library / "acme.txt").write_text(f"Acme\n\n{quote}\n", encoding="utf-8")
    start = article.index(span)
    finding = Finding.at(article, start, start + len(span), kind, "factual_error", "r")
    evidence = gather(article, [], sources_dir=library, fetch=False,
                      settings=Settings(cache_dir=tmp_path, use_cache=False), evidence_dir=None)
    offered = evidence.snippets_for(finding, article)
    assert offered
    proposal = Proposal(id="ch-x", finding_id=finding.id, action=REPLACE, replacement=replacement,
                        sources=[Source(url="", evidence_id=offered[0].id, quote=quote)])
    [checked] = verify(article, {finding.id: finding}, [proposal], evidence)
    assert checked.sources[0].status == "verified"
    return checked


def test_a_scale_letter_or_a_date_s_year_never_supports_another_figure(tmp_path):
    article = "Acme a levé 40 millions d'euros et emploie 700 personnes depuis sa création.\n"
    five = _cite(tmp_path, article, "40 millions", "5m", "Acme was founded 5 years ago in Lyon by two engineers.")
    assert five.status == "needs_review" and "5000000" in five.status_reason
    grown = _cite(tmp_path, article, "700 personnes", "700k personnes",
                  "Acme is a company based in Lyon that builds machines for the food industry.")
    assert grown.status == "needs_review" and "700000" in grown.status_reason
    year = _cite(tmp_path, article, "emploie 700", "emploie 2001",
                 "Acme was founded in Lyon on 2 January 2001 by two engineers.")
    assert year.status == "needs_review" and "2001" in year.status_reason


def test_a_verified_claim_correction_adds_no_paragraph_and_no_name_its_quote_lacks(tmp_path):
    article = "Acme emploie 700 personnes à Lyon.\n"
    quote = "Acme employs 650 people at its Lyon plant, the company said."
    headline = _cite(tmp_path, article, "700", "650 personnes.\n\n# Breaking: CEO resigns\n\n", quote)
    assert headline.status == "needs_review" and "adds 4 line breaks to a claim" in headline.status_reason
    named = _cite(tmp_path, article, "700", "650, selon Bernard Arnault,", quote)
    assert named.status == "needs_review" and "introduces Bernard, Arnault, named in no verified quote" in \
        named.status_reason
    fine = _cite(tmp_path, article, "700", "650", quote)
    assert fine.status == "verified", fine.status_reason


def test_a_reply_citing_a_thousand_urls_reads_a_bounded_number(tmp_path):
    from rewriter.evidence import MAX_MODEL_URLS, gather
    from rewriter.models import KEEP, Proposal, Source
    from rewriter.verify import MAX_SOURCES, verify
    article = "Acme emploie 700 personnes.\n"
    finding = Finding.at(article, 13, 16, CLAIM, "factual_error", "r")
    settings = Settings(cache_dir=tmp_path, use_cache=False)
    evidence = gather(article, [], sources_dir=None, fetch=True, settings=settings, evidence_dir=None)
    reads = []
    evidence._read = lambda doc: reads.append(doc.url)          # count the fetches, read nothing
    sources = [Source(url=f"https://example.org/{n}", quote="x" * 30) for n in range(1000)]
    many = [Proposal(id=f"ch-{n}", finding_id=finding.id, action=KEEP, replacement="", sources=sources[n::50])
            for n in range(50)]
    checked = verify(article, {finding.id: finding}, many, evidence)
    assert len(reads) == MAX_MODEL_URLS
    assert all(s.status == "unchecked" for p in checked for s in p.sources[MAX_SOURCES:])


def test_a_page_that_cannot_be_read_is_not_asked_for_again_on_a_rerun(pages, tmp_path):
    from rewriter.cache import JsonStore
    from rewriter.fetch import FetchError, fetch_page
    store = JsonStore(tmp_path / "fetch", "page")
    url = pages.url("/no-such-page.html")
    for _ in range(3):
        try:
            fetch_page(url, allow_private=True, store=store)
        except FetchError as exc:
            reason = str(exc)
    assert pages.hits("/no-such-page.html") == 1 and reason.startswith("HTTP 404")
    try:                                  # the policy is part of the key: a refusal is not a 404
        fetch_page(url, allow_private=False, store=store)
    except FetchError as exc:
        assert "refused" in str(exc)


def test_site_local_and_ietf_assigned_addresses_are_not_public():
    from rewriter.fetch import is_public_address
    assert not any(is_public_address(a) for a in ("fec0::1", "192.0.0.8", "192.0.0.170", "::ffff:192.0.0.8"))
    assert all(is_public_address(a) for a in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"))
