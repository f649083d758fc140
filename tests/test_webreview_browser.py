"""A whole review of seed 000 on the review page, in headless Chromium driven by Selenium:
accept, reject, edit with accents, fill a placeholder, reload, then apply, byte for byte.

It uses Debian's chromium and chromium-driver (`.ci/run` installs them) and downloads nothing:
without them it is skipped, saying what to install."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter import emit, review
from rewriter.cli import cli
from rewriter.loader import load

from .webreview_runs import SEED, make_runs, serving

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver") or "/usr/bin/chromedriver"
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
    MISSING = "" if CHROMIUM and Path(CHROMEDRIVER).is_file() else \
        "no chromium/chromedriver: apt-get install -y chromium chromium-driver"
except ImportError:
    MISSING = "no selenium: pip install -e '.[test]'"

pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)

EDITED = "46,7 milliards de paramètres — « vérifié » à Zürich, déjà noté"
FILLED = "1,76 billion (estimation d’après « SemiAnalysis », été 2023)"
SOURCE = "https://www.semianalysis.com/p/gpt-4-architecture"


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def card(driver, n: int, change: str):
    return driver.find_element(By.ID, f"c-{n}-{change}")


def decided(driver, change: str, decision: str, n: int = 0) -> None:
    WebDriverWait(driver, 5, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: card(d, n, change).get_attribute("data-decision") == decision)


def press(driver, keys: str) -> None:
    for key in keys:
        driver.switch_to.active_element.send_keys(key)


def test_a_whole_review_of_seed_000_in_chromium(browser, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seed, hostile = make_runs(tmp_path, hostile=True)
    run = review.read_run(seed)
    replaces = [p.id for p in run.reviewable if p.action == "replace"]
    deletes = [p.id for p in run.reviewable if p.action == "delete"]
    gaps = [p.id for p in run.proposals if review.fillable(p)
            and run.findings[p.finding_id].text == "[DONNÉES NÉCESSAIRES]"]
    assert len(replaces) >= 2 and len(deletes) >= 2 and gaps
    article = tmp_path / "articles" / f"{SEED}.txt"
    original = article.read_bytes()
    driver = browser

    with serving([seed, hostile]) as server:
        driver.get(server.url)
        assert driver.title == "Review: 2 articles"
        # The hostile run is drawn as text: no script ran, no image came from it.
        assert driver.execute_script("return window.__xss") is None
        assert driver.find_elements(By.TAG_NAME, "img") == []
        assert "<script>window.__xss = 1</script>" in driver.find_element(By.ID, "a-1").text

        # j/k move through the cards in article order; y accepts the selected one.
        order = [c.get_attribute("data-change") for c in driver.find_elements(By.CSS_SELECTOR, "#a-0 .card")]
        first = order.index(replaces[0])
        press(driver, "j" * (first + 2) + "k")
        assert card(driver, 0, replaces[0]).get_attribute("class").endswith("selected")
        press(driver, "y")
        decided(driver, replaces[0], "accept")

        # e edits the replacement: accents and quotes typed in the box, Ctrl+Enter saves.
        card(driver, 0, replaces[1]).click()
        press(driver, "e")
        box = card(driver, 0, replaces[1]).find_element(By.TAG_NAME, "textarea")
        assert driver.switch_to.active_element == box
        box.clear()
        box.send_keys(EDITED)
        box.send_keys(Keys.CONTROL, Keys.ENTER)
        decided(driver, replaces[1], "accept")
        assert EDITED in driver.find_element(By.ID, f"m-0-{replaces[1]}").text
        assert "typed by the reviewer, not verified" in card(driver, 0, replaces[1]).text

        # The buttons: reject one deletion, accept another.
        card(driver, 0, deletes[0]).find_element(By.CSS_SELECTOR, "button.reject").click()
        decided(driver, deletes[0], "reject")
        card(driver, 0, deletes[1]).find_element(By.CSS_SELECTOR, "button.accept").click()
        decided(driver, deletes[1], "accept")

        # Filter on needs_human: only gaps are left; y on one says to fill it, e fills it.
        Select(driver.find_element(By.ID, "f-status")).select_by_value("needs_human")
        shown = [c for c in driver.find_elements(By.CSS_SELECTOR, ".card") if c.is_displayed()]
        assert shown and all(c.get_attribute("data-status") == "needs_human" for c in shown)
        assert not card(driver, 0, replaces[0]).is_displayed()
        card(driver, 0, gaps[0]).click()
        press(driver, "y")
        WebDriverWait(driver, 5).until(lambda d: "press e to fill it" in d.find_element(By.ID, "toast").text)
        assert card(driver, 0, gaps[0]).get_attribute("data-decision") == "undecided"
        press(driver, "e")
        form = card(driver, 0, gaps[0]).find_element(By.CSS_SELECTOR, "form.editor")
        form.find_element(By.TAG_NAME, "textarea").send_keys(FILLED)
        form.find_element(By.NAME, "url").send_keys(SOURCE)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        decided(driver, gaps[0], "accept")
        assert FILLED in driver.find_element(By.ID, f"m-0-{gaps[0]}").text

        # Reloaded, the page shows every decision kept.
        driver.refresh()
        states = {c.get_attribute("data-change"): c.get_attribute("data-decision")
                  for c in driver.find_elements(By.CSS_SELECTOR, "#a-0 .card")}
        assert {cid: states[cid] for cid in (replaces[0], replaces[1], deletes[0], deletes[1], gaps[0])} == {
            replaces[0]: "accept", replaces[1]: "accept", deletes[0]: "reject", deletes[1]: "accept",
            gaps[0]: "accept"}
        assert sum(s != "undecided" for s in states.values()) == 5
        gap_card = card(driver, 0, gaps[0]).text
        assert FILLED in gap_card and SOURCE in gap_card and "typed by the reviewer, not verified" in gap_card
        assert driver.execute_script("return window.__xss") is None

    saved = json.loads((seed / "decisions.json").read_text(encoding="utf-8"))["decisions"]
    assert saved[replaces[1]]["replacement"] == EDITED and saved[replaces[1]]["by"] == "reviewer"
    assert saved[gaps[0]] == dict(saved[gaps[0]], decision="accept", replacement=FILLED, action="needs_human",
                                  by="reviewer", source=SOURCE)
    assert saved[replaces[0]]["replacement"] is None and "by" not in saved[replaces[0]]

    before = load(article)
    assert before.raw == original
    applied = CliRunner().invoke(cli, ["apply", str(seed)])
    assert applied.exit_code == 0, applied.output
    # What apply wrote is the accepted changes, each with the text the reviewer chose, nothing else.
    own = review.Decisions.load(seed).accepted()
    chosen = [dataclasses.replace(p, action="replace", replacement=own[p.id]) if own[p.id] is not None else p
              for p in run.proposals if p.id in own]
    plan = emit.plan_edits(run.findings, chosen, text=before.text)
    assert sorted(e.change_id for e in plan.edits) == sorted([replaces[0], replaces[1], deletes[1], gaps[0]])
    expected = before.encode(emit.splice(before.text, [(e.start, e.end, e.new) for e in plan.edits]))
    assert article.read_bytes() == expected
    text = article.read_bytes().decode("utf-8")
    gap = run.findings[run.proposal(gaps[0]).finding_id]
    assert before.text[gap.start - 30:gap.start] + FILLED + before.text[gap.end:gap.end + 30] in text
    assert text.count(EDITED) == 1 and text.count(FILLED) == 1
    kept = run.findings[run.proposal(deletes[0]).finding_id].text
    gone = run.findings[run.proposal(deletes[1]).finding_id].text
    assert kept in text and gone not in text
    assert len(text) == len(original.decode("utf-8")) + sum(len(e.new) - (e.end - e.start) for e in plan.edits)
