"""Broken tables rebuilt as Markdown: the cell-by-cell check, the model's rebuild of seed 002, the rule offline."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.corrections import offline_proposals
from rewriter.detect import detect
from rewriter.evidence import gather
from rewriter.settings import Settings
from rewriter.tablecheck import cell_problem, markdown_table, parse_markdown_table
from rewriter.verify import verify
from tests.conftest import ARTICLES
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

SEED = ARTICLES / "002_be863d2661fb0c2c.txt"
# Where the cells of seed 002's table end: what a model that reads French knows.
SEED_CELLS = [
    ["Critère", "Mistral AI", "OpenAI", "Meta AI (LLaMA)", "Google DeepMind"],
    ["Licences", "Open source", "Propriétaire", "Semi-open source", "Propriétaire"],
    ["Siège social", "France", "États-Unis", "États-Unis", "Royaume-Uni"],
    ["Accès aux modèles", "Gratuit", "Payant via API", "Publication limitée", "Réservé à Google"],
    ["Objectif principal", "IA libre et européenne", "IA commerciale", "Recherche et produit", "Recherche avancée"],
]


def seed_rebuild(cells):
    return lambda text: markdown_table(cells) if text.startswith("Critère Mistral AI") else None


def run_seed(tmp_path, cells):
    with FakeLLM(responder=EditorModel(tables=seed_rebuild(cells))) as fake:
        result = CliRunner().invoke(cli, ["run", str(SEED), "--out", str(tmp_path / "out")],
                                    env={"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"},
                                    catch_exceptions=False)
        sent = fake.chat_requests
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / SEED.stem
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    [table] = [f for f in report["findings"] if f["kind"] == "broken_table"]
    [proposal] = [p for p in report["proposals"] if p["finding_id"] == table["id"]]
    return out, table, proposal, sent


def test_seed_002_rebuilt_table_passes_the_cell_check(tmp_path):
    out, table, proposal, sent = run_seed(tmp_path, SEED_CELLS)
    assert table["id"] in sent[-1]["messages"][0]["content"]          # the table was asked about
    assert proposal["status"] == "reformat", proposal["status_reason"]
    assert "cell by cell" in proposal["status_reason"] and not proposal["sources"]
    rows, why = parse_markdown_table(proposal["replacement"])
    assert why is None and rows == SEED_CELLS
    rewritten = (out / SEED.name).read_text(encoding="utf-8")
    assert "| Accès aux modèles | Gratuit | Payant via API | Publication limitée | Réservé à Google |" in rewritten
    assert table["text"] not in rewritten
    assert "status: reformat" in (out / "review.md").read_text(encoding="utf-8")


def test_seed_002_table_with_one_altered_cell_is_refused(tmp_path):
    altered = [row[:] for row in SEED_CELLS]
    altered[3][1] = "Payant"                                          # "Gratuit" became "Payant"
    out, table, proposal, _ = run_seed(tmp_path, altered)
    assert proposal["status"] == "failed"
    assert "row 4: word 4 is 'Payant' in the table and 'Gratuit' in the original text" in proposal["status_reason"]
    assert table["text"] in (out / SEED.name).read_text(encoding="utf-8")    # nothing changed


def test_cell_check_names_added_dropped_and_merged():
    original = "A B C\n1 2 3"
    assert cell_problem(original, "| A | B | C |\n|---|---|---|\n| 1 | 2 | 3 |") is None
    assert cell_problem(original, "| A | B | C |\n|---|---|---|\n| 1 | 2 | 3 4 |") == "row 2: the table adds '4'"
    assert cell_problem(original, "| A | B | C |\n|---|---|---|\n| 1 | 2 | |") == "row 2: the table drops '3'"
    assert "rows" in cell_problem(original, "| A | B | C |\n|---|---|---|")
    assert "outside the table" in cell_problem(original, "Voici :\n| A | B | C |\n|---|---|---|\n| 1 | 2 | 3 |")
    assert "same number of cells" in cell_problem(original, "| A | B C |\n|---|---|\n| 1 | 2 | 3 |")


def test_offline_rebuilds_a_table_whose_columns_are_unambiguous(tmp_path):
    text = ("Intro paragraph of the article, in English, with several words here.\n\n"
            "Model  Maker  Licence\nMistral 7B\tMistral AI\tApache 2.0\nLlama 2  Meta  Llama licence\n\n"
            "More text follows here, a sentence of the article.\n")
    [finding] = [f for f in detect(text).findings if f.kind == "broken_table"]
    [proposal] = offline_proposals([finding])
    assert proposal.replacement == ("| Model | Maker | Licence |\n|---|---|---|\n| Mistral 7B | Mistral AI | Apache 2.0 |\n"
                                    "| Llama 2 | Meta | Llama licence |")
    [checked] = verify(text, {finding.id: finding}, [proposal], gather(text, [], sources_dir=None, fetch=False,
                                                                    settings=Settings(cache_dir=tmp_path), evidence_dir=None))
    assert checked.status == "reformat", checked.status_reason
    # single spaces: only language tells where a cell ends, so no rule rebuilds it
    seed = SEED.read_text(encoding="utf-8")
    [broken] = [f for f in detect(seed).findings if f.kind == "broken_table"]
    assert offline_proposals([broken])[0].action == "needs_human"
