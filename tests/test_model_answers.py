"""The answers real models give, replayed through `rewriter run` against the loopback fake.

Each test drives the whole pipeline (click's CliRunner) with the fake model answering the way a
model did when the pipeline lost or damaged a good answer, and looks at what was sent and written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.resources import schema_errors
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

SECRET = "sk-test-answers"
URL = "https://mistral.ai/news/mixtral-of-experts/"
QUOTE = "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token."


class Replay(EditorModel):
    """The editor model, with its corrections items passed through ``damage`` (item, finding) first,
    and its claims through ``claims_hook``: the sloppy answers to replay."""

    def __init__(self, damage=None, claims_hook=None, **kwargs):
        super().__init__(**kwargs)
        self.damage = damage
        self.claims_hook = claims_hook

    def claims_reply(self, prompt):
        reply = super().claims_reply(prompt)
        return self.claims_hook(reply, prompt) if self.claims_hook else reply

    def corrections_reply(self, prompt):
        reply = super().corrections_reply(prompt)
        if self.damage:
            findings = {json.loads(line)["id"]: json.loads(line) for line in
                        prompt.split("<<<FINDINGS (one JSON object per line)\n")[1].split("\nFINDINGS>>>")[0].splitlines()}
            reply["proposals"] = [self.damage(p, findings[p["finding_id"]]) for p in reply["proposals"]]
        return reply


def run(tmp_path: Path, article: str, responder=None, *extra: str, name: str = "article.txt"):
    path = tmp_path / name
    path.write_bytes(article.encode("utf-8"))
    out = tmp_path / "out"
    env = {"REWRITER_CACHE_DIR": str(tmp_path / "cache")}
    if responder is None:
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(out), "--offline", *extra],
                                    env=env, catch_exceptions=False)
        return result, None, out / path.stem
    with FakeLLM(api_key=SECRET, responder=responder) as fake:
        env.update({"MISTRAL_BASE_URL": fake.base_url, "MISTRAL_API_KEY": SECRET, "REWRITER_MODEL": "fake-model",
                    "REWRITER_RESEARCH": "none"})
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(out), *extra], env=env,
                                    catch_exceptions=False)
        return result, fake.chat_requests, out / path.stem


def report_of(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert schema_errors(report, "report") == []
    return report


def proposal_for(report: dict, text: str) -> dict:
    ids = {f["id"] for f in report["findings"] + report["claims"] if f["text"] == text}
    [found] = [p for p in report["proposals"] if p["finding_id"] in ids]
    return found


def prompt_of(body: dict) -> str:
    return body["messages"][0]["content"]


SENTENCE = ("Le 23 mars 2023, la start-up parisienne Mistral AI a dévoilé Mixtral 8x7B, un modèle de "
            "46,7 milliards de paramètres.")
DATED = f"Mixtral\n\n{SENTENCE} Il est open source.\n"


# (a) a whole sentence pasted over a date ----------------------------------------------------------

def test_a_whole_sentence_over_a_date_is_trimmed_to_the_span(tmp_path):
    whole = SENTENCE.replace("23 mars 2023", "11 décembre 2023")
    model = Replay(claims={"23 mars 2023": ("factual_error", whole, URL, QUOTE)})
    result, sent, folder = run(tmp_path, DATED, model)
    assert result.exit_code == 0, result.output
    p = proposal_for(report_of(folder), "23 mars 2023")
    assert p["replacement"] == "11 décembre 2023"
    assert "trimmed 'Le '" in p["status_reason"] and "repeated from the text after the span" in p["status_reason"]
    rewritten = (folder / "article.txt").read_text(encoding="utf-8")
    assert "Le 11 décembre 2023, la start-up parisienne Mistral AI a dévoilé Mixtral 8x7B, un modèle de 46,7" \
           " milliards de paramètres. Il est open source." in rewritten
    assert "Le Le" not in rewritten and rewritten.count("la start-up") == 1


def test_a_sentence_pasted_with_another_change_is_left_for_review_with_the_reason(tmp_path):
    whole = SENTENCE.replace("23 mars 2023", "11 décembre 2023").replace("46,7", "47")
    model = Replay(claims={"23 mars 2023": ("factual_error", whole, URL, QUOTE)})
    result, sent, folder = run(tmp_path, DATED, model)
    p = proposal_for(report_of(folder), "23 mars 2023")
    assert p["status"] == "needs_review"
    assert "repeats" in p["status_reason"] and "pasted over the span" in p["status_reason"]
    # the growth rule for a claim: over 3x its span and 60 characters
    assert "over 3x and 60 characters" in p["status_reason"]


# (b) and the Done-when: one invalid item among twenty -----------------------------------------------

CHROME = ["Partager sur Facebook", "Partager sur Twitter", "Partager sur LinkedIn", "Lire aussi : nos autres articles",
          "Abonnez-vous à notre newsletter", "Nombre de mots : 1200"]


def twenty_findings_article() -> str:
    lines = ["Mixtral et ses concurrents", ""]
    for i in range(19):
        lines.append(f"Le paragraphe {i} parle du modèle numéro {i} [DONNÉES NÉCESSAIRES].")
    lines += ["", "Partager sur Facebook", ""]
    return "\n".join(lines)


def test_one_invalid_item_among_twenty_keeps_the_nineteen_and_the_offline_deletion(tmp_path):
    article = twenty_findings_article()

    def damage(item, finding):
        if finding["kind"] == "boilerplate":     # an action the schema does not know: unusable each time
            return {**item, "action": "remove"}
        return item

    result, sent, folder = run(tmp_path, article, Replay(damage=damage))
    report = report_of(folder)
    assert len(report["findings"]) == 20
    chrome = next(f for f in report["findings"] if f["kind"] == "boilerplate")
    # the first corrections request with all twenty, the re-ask with only the bad one; given the same
    # answer again, the same re-ask is not sent a second time
    tasks = [b["response_format"]["json_schema"]["name"] for b in sent]
    assert tasks == ["claims", "corrections", "corrections"]
    first, *reasks = [b for b in sent if b["response_format"]["json_schema"]["name"] == "corrections"]
    assert prompt_of(first).count('{"id": ') == 20
    assert len(reasks) == 1
    for body in reasks:
        assert "proposals[0] at $.action" in body["messages"][2]["content"]    # numbered as re-sent
        listed = prompt_of(body).split("<<<FINDINGS")[1].split("FINDINGS>>>")[0]
        assert listed.count('{"id": ') == 1 and chrome["id"] in listed
        given = json.loads(body["messages"][1]["content"])["proposals"]
        assert [g["finding_id"] for g in given] == [chrome["id"]]
        assert "cannot be used (the others were kept)" in body["messages"][2]["content"]
        assert "remove" in body["messages"][2]["content"]
    by_finding = {p["finding_id"]: p for p in report["proposals"]}
    others = [by_finding[f["id"]] for f in report["findings"] if f["id"] != chrome["id"]]
    assert len(others) == 19 and {(p["action"], p["status"]) for p in others} == {("needs_human", "needs_human")}
    assert all(p["rationale"].startswith("À compléter par la rédaction") for p in others)   # the model's, kept
    fallback = by_finding[chrome["id"]]
    assert (fallback["action"], fallback["status"]) == ("delete", "cleanup")
    assert "no usable proposal" in fallback["error"]
    assert "Partager sur Facebook" not in (folder / "article.txt").read_text(encoding="utf-8")
    assert result.exit_code == 1 and "1 of 20 finding(s) got no usable proposal" in result.stderr


def test_an_item_fixed_by_the_re_ask_joins_the_kept_ones(tmp_path):
    article = twenty_findings_article()
    calls = {"n": 0}

    def damage(item, finding):
        if finding["kind"] == "boilerplate" and calls["n"] == 0:
            calls["n"] += 1
            return {**item, "finding_id": item["finding_id"], "sources": [{"quote": "x"}], "action": "delete"}
        return item

    result, sent, folder = run(tmp_path, article, Replay(damage=damage))
    assert result.exit_code == 0, result.output
    assert len(sent) == 3
    report = report_of(folder)
    assert {p["status"] for p in report["proposals"]} == {"needs_human", "cleanup"}
    assert all(p["error"] is None for p in report["proposals"])


# (c) sloppy values that are unambiguous ---------------------------------------------------------------

def test_a_string_confidence_a_stray_replacement_and_a_straight_apostrophe_are_no_reason_to_re_ask(tmp_path):
    article = "Le point\n\nSelon l’entreprise, Mixtral compte 12 milliards de paramètres.\n\nPartager sur Facebook\n"

    def claims_hook(reply, prompt):
        # the sentence number as a string ("2"), the quote with a straight apostrophe
        number = next(line for line in prompt.splitlines() if "l’entreprise" in line).split("]")[0].strip("[")
        reply["claims"].append({"sentence": number, "quote": "l'entreprise, Mixtral compte 12 milliards",
                                "category": "factual_error", "reason": "Le chiffre est faux.",
                                "settle_with": "La page du modèle.", "queries": [{"q": "Mixtral", "lang": "fr"}]})
        return reply

    def damage(item, finding):
        if finding["kind"] == "boilerplate":
            return {**item, "confidence": "0.9", "replacement": "Partager"}
        return {**item, "confidence": "0,4"}

    result, sent, folder = run(tmp_path, article, Replay(damage=damage, claims_hook=claims_hook))
    assert result.exit_code == 0, result.output
    assert len(sent) == 2                                           # no re-ask at all
    report = report_of(folder)
    [claim] = report["claims"]
    assert claim["text"] == "l’entreprise, Mixtral compte 12 milliards"   # the article's own apostrophe
    chrome = proposal_for(report, "Partager sur Facebook")
    assert (chrome["confidence"], chrome["replacement"], chrome["status"]) == (0.9, "", "cleanup")
    assert proposal_for(report, claim["text"])["confidence"] == 0.4


# (d) the sentence view ---------------------------------------------------------------------------------

def test_the_claims_prompt_keeps_brackets_markers_and_abbreviations_in_their_sentence(tmp_path):
    article = ("Les modèles\n\nLes grands modèles (GPT-4, Claude, etc.) [1]. M. Dupont dirige Mistral AI depuis "
               "2019, selon le Dr Martin. Aux É.-U. la loi change.\n")
    model = Replay(claims={"depuis 2019": ("factual_error", "depuis 2023", URL, QUOTE)})
    result, sent, folder = run(tmp_path, article, model)
    numbered = prompt_of(sent[0]).split("<<<ARTICLE\n")[1].split("\nARTICLE>>>")[0].splitlines()
    assert numbered == ["[1] Les modèles", "[2] Les grands modèles (GPT-4, Claude, etc.) [1].",
                        "[3] M. Dupont dirige Mistral AI depuis 2019, selon le Dr Martin.",
                        "[4] Aux É.-U. la loi change."]
    [claim] = report_of(folder)["claims"]
    assert claim["payload"]["sentence"] == 3


# (e) the byline date -------------------------------------------------------------------------------------

@pytest.mark.parametrize("eol", ["\n", "\r"])
def test_a_date_on_the_byline_is_the_articles_date(tmp_path, eol):
    article = eol.join(["Mixtral arrive", "Par Jeanne Martin, publié le 12 mars 2025", "", SENTENCE, ""])
    result, sent, folder = run(tmp_path, article, Replay())
    assert "The article states its own date: 12 mars 2025." in prompt_of(sent[0])
    assert report_of(folder)["article"]["date"] == "12 mars 2025"


# (f) lanes ---------------------------------------------------------------------------------------------------

def test_a_typo_fix_is_a_copyedit_and_chrome_a_cleanup_both_accepted_in_one_go(tmp_path):
    article = "Le point\n\nLa start-up Mistal AI a été fondée en 2023 à Paris.\n\nPartager sur Facebook\n"
    model = Replay(claims={"Mistal AI": ("typo", "Mistral AI", URL, QUOTE),
                           "en 2023": ("factual_error", "en 2022", URL, QUOTE)})
    result, sent, folder = run(tmp_path, article, model)
    report = report_of(folder)
    assert proposal_for(report, "Mistal AI")["status"] == "copyedit"
    assert "copyedit:" in proposal_for(report, "Mistal AI")["status_reason"]
    assert proposal_for(report, "Partager sur Facebook")["status"] == "cleanup"
    factual = proposal_for(report, "en 2023")          # a new date still needs a verified source
    assert factual["status"] == "needs_review"
    review = CliRunner().invoke(cli, ["review", str(folder), "--accept", "verified,copyedit,cleanup"],
                                catch_exceptions=False)
    assert review.exit_code == 0, review.output
    decisions = json.loads((folder / "decisions.json").read_text(encoding="utf-8"))["decisions"]
    assert set(decisions) == {proposal_for(report, "Mistal AI")["id"], proposal_for(report, "Partager sur Facebook")["id"]}
    bad = CliRunner().invoke(cli, ["review", str(folder), "--accept", "verified,typo"])
    assert bad.exit_code == 2 and "typo" in bad.output


# (g) data inside a chart placeholder ---------------------------------------------------------------------

def test_a_claim_may_target_the_data_inside_a_chart_placeholder(tmp_path):
    chart = "[CHART_BAR: Comparaison des modèles | Modèle : Paramètres | GPT-4 : 1.7T, Claude : 175B, Mixtral : 12B]"
    article = f"Les modèles\n\n{chart}\n\nLe texte suit ici.\n"
    model = Replay(claims={"Mixtral : 12B": ("factual_error", "Mixtral : 46.7B", URL, QUOTE)})
    result, sent, folder = run(tmp_path, article, model)
    report = report_of(folder)
    [claim] = report["claims"]
    assert claim["text"] == "Mixtral : 12B"
    placeholder = next(f for f in report["findings"] if f["subtype"] == "chart")
    assert placeholder["start"] < claim["start"] < claim["end"] < placeholder["end"]
    # the chart built for the placeholder carries the verified correction; the rest is the draft's
    rewritten = (folder / "article.txt").read_text(encoding="utf-8")
    assert "| Mixtral | 46,7 milliards |" in rewritten and "| Claude | 175 milliards |" in rewritten
    [built] = [p for p in report["proposals"] if p["finding_id"] == placeholder["id"]]
    assert built["status"] == "needs_review" and "Claude : 175B" in built["status_reason"]
    assert "Mixtral : 46.7B as corrected at ch-" in built["status_reason"]


# (h) word diffs on numbers ------------------------------------------------------------------------------------

def test_the_word_diff_shows_a_number_changed_whole(tmp_path):
    article = "Le point\n\nGPT-4 compterait 1,7 trillion de paramètres selon la rumeur.\n"
    model = Replay(claims={"1,7 trillion": ("factual_error", "1 700 milliards", URL, QUOTE)})
    result, sent, folder = run(tmp_path, article, model)
    review = (folder / "review.md").read_text(encoding="utf-8")
    assert "[-1,7 trillion-]{+1 700 milliards+}" in review
    assert "1[-," not in review


# (i) whole-line deletions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("final", ["\n", ""])
def test_whole_line_deletions_leave_no_blank_line_runs_and_keep_the_final_newline(tmp_path, final):
    article = ("Partager sur Facebook\n\nTitre\n\nLe texte de l’article est ici.\n\nPartager sur Twitter\n\n"
               "Abonnez-vous à notre newsletter\n\nLa suite du texte.\n\nNombre de mots : 500" + final)
    result, _, folder = run(tmp_path, article)
    assert result.exit_code == 0, result.output
    new = (folder / "article.txt").read_text(encoding="utf-8")
    assert new == "Titre\n\nLe texte de l’article est ici.\n\nLa suite du texte." + final
    diff = (folder / "changes.diff").read_text(encoding="utf-8")
    assert diff.startswith("diff --git")


# numbered lines, nothing said twice, linked corrections ------------------------------------------------------------

def test_the_corrections_prompt_numbers_lines_and_tells_identical_markers_apart(tmp_path):
    article = "Titre\n\nUn fait [1]. Un autre [1].\nEncore un [1].\n"
    model = Replay(claims={"Un autre": ("factual_error", "Un second", URL, QUOTE)})
    result, sent, folder = run(tmp_path, article, model)
    prompt = prompt_of(sent[1])
    body = prompt.split("<<<ARTICLE\n")[1].split("\nARTICLE>>>")[0]
    assert body.splitlines() == ["1| Titre", "2| ", "3| Un fait [1]. Un autre [1].", "4| Encore un [1]."]
    items = [json.loads(line) for line in prompt.split("<<<FINDINGS (one JSON object per line)\n")[1]
             .split("\nFINDINGS>>>")[0].splitlines()]
    markers = {(i["line"], i["column"]) for i in items if i["text"].strip() == "[1]"}
    assert len(markers) == 3
    [claim] = [i for i in items if i["kind"] == "claim"]
    assert "reason" not in claim["details"] and claim["note"] == "« Un autre » est douteux."


def test_the_same_wrong_figure_elsewhere_is_linked_to_the_verified_correction(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "mixtral.md").write_text("# Mixtral of experts\n\nMixtral compte 46,7 milliards de paramètres au total, "
                                        "dont 12,9 milliards actifs par token.\n", encoding="utf-8")
    article = ("Mixtral\n\nMixtral compte 12 milliards de paramètres.\n\nSelon Mistral AI, Mixtral et ses "
               "12 milliards de paramètres battent Llama.\n")
    model = Replay(claims={"12 milliards de paramètres": ("factual_error", "46,7 milliards de paramètres", URL,
                                                          "Mixtral compte 46,7 milliards de paramètres au total.")},
                   cite_snippets=True)
    result, sent, folder = run(tmp_path, article, model, "--sources", str(library))
    report = report_of(folder)
    proposals = sorted((p for p in report["proposals"]), key=lambda p: p["id"])
    claims = {c["id"]: c for c in report["claims"]}
    mine = [p for p in report["proposals"] if p["finding_id"] in claims]
    assert len(mine) == 2
    verified = [p for p in mine if p["status"] == "verified"]
    assert verified, [p["status_reason"] for p in mine]
    others = [p for p in mine if p["id"] != verified[0]["id"]]
    assert all(p["linked_to"] == verified[0]["id"] for p in others)
    assert all(f"corrected at {verified[0]['id']}" in p["status_reason"] for p in others)
    assert proposals


def test_one_claim_that_stays_wrong_loses_only_itself(tmp_path):
    article = "Le point\n\nMixtral compte 12 milliards de paramètres. Il est sorti en mars 2023.\n"

    def claims_hook(reply, prompt):
        reply["claims"].append({"sentence": 2, "quote": "sorti en avril 2023", "category": "factual_error",
                                "reason": "La date est fausse.", "settle_with": "La page du modèle.",
                                "queries": [{"q": "Mixtral sortie", "lang": "fr"}]})
        return reply

    model = Replay(claims={"12 milliards de paramètres": ("factual_error", "46,7 milliards de paramètres", URL,
                                                          QUOTE)}, claims_hook=claims_hook)
    result, sent, folder = run(tmp_path, article, model)
    tasks = [b["response_format"]["json_schema"]["name"] for b in sent]
    assert tasks == ["claims", "claims", "claims", "corrections"]
    assert "it occurs in" not in sent[1]["messages"][2]["content"]       # the quote is nowhere
    report = report_of(folder)
    assert [c["text"] for c in report["claims"]] == ["12 milliards de paramètres"]
    assert "kept the 1 claim(s)" in report["errors"][0]["message"] and result.exit_code == 1


def test_a_misplaced_quote_is_re_asked_with_the_sentence_that_holds_it(tmp_path):
    article = "Le point\n\nMixtral compte 12 milliards de paramètres. Il est sorti en 2023. Mixtral compte.\n"
    def claims_hook(reply, prompt):      # sentence 3 is "Il est sorti en 2023."
        reply["claims"] = [{"sentence": 3, "quote": "Mixtral compte", "category": "factual_error",
                            "reason": "x", "settle_with": "y", "queries": []}]
        return reply

    result, sent, folder = run(tmp_path, article, Replay(claims_hook=claims_hook))
    reask = sent[1]["messages"][2]["content"]
    assert "it occurs in sentences 2, 4: give one of those numbers" in reask
    assert report_of(folder)["claims"] == []      # wrong three times: dropped, the rest of the run goes on
