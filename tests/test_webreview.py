"""The review page without a browser: its token, its escaping, its rules, review.html, Ctrl-C.

The whole review in headless Chromium is in test_webreview_browser.py."""

from __future__ import annotations

import shutil

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from rewriter import review
from rewriter.models import VERIFIED
from rewriter.resources import validate
from rewriter.webreview import ReviewServer

from .test_emit import SAMPLE, make_run
from .test_review import THREE
from .webreview_runs import ATTR, HOSTILE, PAYLOAD, SCRIPT, SEED, make_runs, serving


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def post(url: str, body, ctype: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}") if exc.headers.get_content_type() == "application/json" else {}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_runs(tmp_path, hostile=True)


def no_markup_from(page: str) -> None:
    """Nothing of the payload is markup: every <, > and quote of it came out as an entity."""
    assert SCRIPT not in page and "<img" not in page and 'onerror="' not in page
    assert "javascript:" not in page.replace("javascript:window.__xss = 3</span>", "")   # shown, never linked
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=&quot;window.__xss = 2&quot;&gt;" in page


def test_every_request_without_the_token_is_refused_and_writes_nothing(runs):
    seed = runs[0]
    change = next(p.id for p in review.read_run(seed).reviewable)
    with serving(runs) as server:
        root = server.url.rsplit("/", 2)[0]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[\w-]{32}/", server.url)
        other = "y" if server.token[0] == "x" else "x"      # one character off, never the token itself
        for url in (root + "/", root + "/" + other + server.token[1:] + "/", root + "/" + server.token[:-1] + "/",
                    root + "/a/0/evidence/x.txt"):
            status, text = get(url)
            assert status == 403 and "token" in text and SEED not in text
        status, _ = post(root + "/wrong/a/0/decide", {"do": "accept", "change": change})
        assert status == 403
        status, page = get(server.url)
        assert status == 200 and SEED in page
        assert ReviewServer(runs).token != server.token    # a new one each time
    assert not (seed / "decisions.json").exists()
    assert server.server_address[0] == "127.0.0.1"


def test_the_page_escapes_what_the_article_the_model_and_the_sources_say(runs):
    with serving(runs) as server:
        status, page = get(server.url)
        assert status == 200
        no_markup_from(page)
        assert "&lt;b&gt;gras&lt;/b&gt;" in page                      # the article's own text too
        change = review.read_run(runs[1]).proposals[0].id
        status, data = post(server.url + "a/1/decide", {"do": "edit", "change": change, "text": ATTR + " é"})
        assert status == 200
        no_markup_from(data["html"])
    entry = json.loads((runs[1] / "decisions.json").read_text(encoding="utf-8"))["decisions"][change]
    assert entry["replacement"] == ATTR + " é" and entry["by"] == "reviewer"


def test_decisions_follow_the_terminal_rules(runs):
    seed = runs[0]
    run = review.read_run(seed)
    replace = next(p for p in run.reviewable if p.action == "replace")
    gap = next(p for p in run.proposals if review.fillable(p))
    keep_out = next(p for p in run.proposals if not p.changes_text and not review.fillable(p)) \
        if any(not p.changes_text and not review.fillable(p) for p in run.proposals) else None
    with serving([seed]) as server:
        url = server.url + "a/0/decide"
        assert post(url, {"do": "accept", "change": gap.id})[0] == 400            # a gap takes typed text only
        assert post(url, {"do": "edit", "change": gap.id, "text": "  "})[0] == 400
        assert post(url, {"do": "edit", "change": gap.id, "text": "x", "url": "javascript:1"})[0] == 400
        assert post(url, {"do": "accept", "change": "ch-nothing"})[0] == 400
        if keep_out:
            assert post(url, {"do": "accept", "change": keep_out.id})[0] == 400
        assert post(url, b"{", "application/json")[0] == 400
        assert post(url, {"do": "accept", "change": replace.id}, "text/plain")[0] == 415
        assert post(server.url + "a/7/decide", {"do": "accept", "change": replace.id})[0] == 404
        assert not (seed / "decisions.json").exists()
        assert post(url, {"do": "reject", "change": replace.id})[0] == 200
        assert post(url, {"do": "edit", "change": gap.id, "text": "1,8 billion", "url": "https://ex.org/a"})[0] == 200
        data = json.loads((seed / "decisions.json").read_text(encoding="utf-8"))
        validate(data, "decisions")
        assert data["decisions"][replace.id]["decision"] == "reject"
        assert data["decisions"][gap.id] == dict(data["decisions"][gap.id], decision="accept", replacement="1,8 billion",
                                                 action="needs_human", by="reviewer", source="https://ex.org/a")

        # The article changed since the run: the page says so and takes no decision.
        article = seed.parent.parent / "articles" / f"{SEED}.txt"
        article.write_bytes(article.read_bytes() + b"\nUne ligne de plus.\n")
        status, page = get(server.url)
        assert "changed since the run" in page and f"rewriter run articles/{SEED}.txt" in page
        assert 'data-do="accept"' not in page.split('id="a-0"')[1]
        status, data = post(url, {"do": "accept", "change": replace.id})
        assert status == 409 and "changed since the run" in data["error"]
    assert json.loads((seed / "decisions.json").read_text(encoding="utf-8"))["decisions"][replace.id]["decision"] == "reject"


def test_accept_all_verified_takes_only_the_undecided_verified_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out_dir = make_run(tmp_path, SAMPLE.encode(), THREE)
    run = review.read_run(out_dir)
    verified = [p.id for p in run.reviewable if p.status == VERIFIED]
    others = [p.id for p in run.reviewable if p.status != VERIFIED]
    assert len(verified) >= 2 and others
    review.Decisions.load(out_dir).record(verified[0], "reject")
    with serving([out_dir]) as server:
        assert "Accept all verified" in get(server.url)[1]
        status, data = post(server.url + "a/0/decide", {"do": "accept-verified"})
        assert status == 200 and "Accept all verified" in data["html"]
    decisions = review.Decisions.load(out_dir)
    assert decisions.state(verified[0]) == "reject"                 # a decision taken stays
    assert all(decisions.state(cid) == "accept" for cid in verified[1:])
    assert all(decisions.state(cid) is None for cid in others)


def test_evidence_is_served_from_the_run_folder_only(runs):
    seed = runs[0]
    (seed / "evidence").mkdir()
    (seed / "evidence" / "E1.txt").write_text("Mixtral a 46,7 milliards de paramètres.", encoding="utf-8")
    (seed / "secret.txt").write_text("not evidence", encoding="utf-8")
    with serving(runs) as server:
        assert get(server.url + "a/0/evidence/E1.txt") == (200, "Mixtral a 46,7 milliards de paramètres.")
        for name in ("..%2Fsecret.txt", "..%2F..%2Farticles%2F" + SEED + ".txt", ".hidden", "E2.txt"):
            assert get(server.url + "a/0/evidence/" + name)[0] == 404
        assert get(server.url + "a/9/evidence/E1.txt")[0] == 404
        (seed / "evidence" / "E3.txt").symlink_to(seed / "secret.txt")     # a link in the folder
        assert get(server.url + "a/0/evidence/E3.txt")[0] == 404
    shutil.rmtree(seed / "evidence")
    (seed / "evidence").symlink_to(seed.parent)                            # the folder itself a link
    (seed.parent / "E1.txt").write_text("outside the run", encoding="utf-8")
    with serving(runs) as server:
        assert get(server.url + "a/0/evidence/E1.txt")[0] == 404


def test_run_writes_a_read_only_review_html_beside_review_md(runs):
    seed, hostile = runs
    page = (seed / "review.html").read_text(encoding="utf-8")
    run = review.read_run(seed)
    assert "<button" not in page and "<textarea" not in page
    assert 'data-do=' not in page and "/a/0/" not in page
    assert page.count('class="card') == len(run.proposals)
    assert "Le modèle large de Mistral" in page and "[DONNÉES NÉCESSAIRES]" in page
    assert "<del>12 milliards de paramètres</del><ins>46,7 milliards de paramètres</ins>" in page
    # Paragraphs are kept: one block per line of the article.
    text = (seed.parent.parent / "articles" / f"{SEED}.txt").read_text(encoding="utf-8")
    assert page.count('<div class="para">') == text.count("\n") + 1
    assert "Content-Security-Policy" in page
    # The hostile article's run, redrawn from the poisoned report by the server, is escaped; so is
    # its own text in the review.html that run wrote.
    html = (hostile / "review.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "<img" not in html and "&lt;b&gt;gras&lt;/b&gt;" in html
    assert PAYLOAD not in html


def test_review_web_prints_the_url_and_stops_cleanly_on_ctrl_c(runs, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rewriter.cli", "review", *map(str, runs), "--web", "--no-open"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        url = line.split()[-1]
        assert line.startswith("review page: http://127.0.0.1:") and url.endswith("/")
        assert get(url)[0] == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"next: rewriter apply {runs[0]}" in out and f"next: rewriter apply {runs[1]}" in out


def test_several_folders_need_web(runs):
    from click.testing import CliRunner

    from rewriter.cli import cli
    result = CliRunner().invoke(cli, ["review", str(runs[0]), str(runs[1])])
    assert result.exit_code == 2 and "--web" in result.output
    result = CliRunner().invoke(cli, ["review", str(runs[0]), "--web", "--accept", "all"])
    assert result.exit_code == 2 and "decide on the page" in result.output
    assert HOSTILE in str(runs[1])
