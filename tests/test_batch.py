"""`rewriter batch`: the whole folder, past bad articles and 429 bursts, resumable after an interrupt."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter.batch import run_batch
from rewriter.cli import cli
from rewriter.resources import schema_errors
from tests.conftest import SEEDS
from tests.editor_model import EditorModel
from tests.fake_llm import Fault, FakeLLM

# Seed 004 has no detector finding; its one typo gives it a claim, so every seed costs two requests.
TYPO = {"gagnéune": ("typo", "gagné une", "https://fr.wiktionary.org/wiki/gagner",
                     "gagner : verbe du premier groupe.")}


def editor():
    return EditorModel(claims=TYPO)


@pytest.fixture
def folder(tmp_path):
    articles = tmp_path / "articles"
    articles.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, articles / seed.name)
    return articles


def batch_cli(fake, folder, out, *args):
    env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
    return CliRunner().invoke(cli, ["batch", str(folder), "--out", str(out), *args], env=env,
                              catch_exceptions=False)


def read_summary(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert schema_errors(summary, "summary") == []
    return summary


def test_every_seed_goes_through_in_two_requests_each(folder, tmp_path):
    with FakeLLM(responder=editor()) as fake:
        result = batch_cli(fake, folder, tmp_path / "out", "-j", "3")
        assert result.exit_code == 0, result.output
        assert len(fake.chat_requests) == 2 * len(SEEDS)
    summary = read_summary(tmp_path / "out")
    assert [a["ok"] for a in summary["articles"]] == [True] * len(SEEDS)
    assert summary["totals"]["requests"] == 2 * len(SEEDS)
    for seed in SEEDS:
        assert (tmp_path / "out" / seed.stem / "changes.diff").exists()
    assert "5 articles" in result.stderr


def test_a_bad_article_is_named_and_the_others_complete(folder, tmp_path):
    (folder / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / "legacy.txt").write_bytes("Caf\xe9 cr\xe8me [TBD]\n".encode("latin-1"))
    with FakeLLM(responder=editor()) as fake:
        result = batch_cli(fake, folder, tmp_path / "out")
        assert len(fake.chat_requests) == 2 * len(SEEDS)
    assert result.exit_code == 1
    summary = read_summary(tmp_path / "out")
    failed = {Path(p).name for p in summary["failed"]}
    assert failed == {"broken.txt", "legacy.txt"}
    assert "NUL byte at offset" in result.stderr and "try --encoding cp1252" in result.stderr
    ok = [a for a in summary["articles"] if a["ok"]]
    assert len(ok) == len(SEEDS) and all(a["requests"] == 2 for a in ok)


def test_a_failing_call_fails_its_article_only(folder, tmp_path):
    # The first request of the run (the longest article's claims) is refused for good (HTTP 400).
    with FakeLLM(responder=editor()) as fake:
        fake.enqueue(Fault.http(400, {"message": "bad request"}))
        result = batch_cli(fake, folder, tmp_path / "out", "-j", "1")
    assert result.exit_code == 1
    summary = read_summary(tmp_path / "out")
    longest = max(SEEDS, key=lambda p: p.stat().st_size)
    failed = [a for a in summary["articles"] if not a["ok"]]
    assert len(summary["failed"]) == 1 and "HTTP 400" in failed[0]["error"]
    assert Path(failed[0]["path"]).name == longest.name
    assert (tmp_path / "out" / longest.stem / "report.json").exists()   # the failed one still has its report


def test_a_burst_of_429s_pauses_everyone_and_every_article_completes(folder, tmp_path):
    burst, pause = 6, 0.3
    with FakeLLM(responder=editor()) as fake:
        fake.enqueue(*[Fault.rate_limited(retry_after=pause) for _ in range(burst)])
        settings = fake.settings(cache_dir=tmp_path / "cache", max_retry_wait=1.0)
        from rewriter.pipeline import RunOptions
        result = run_batch(folder, settings, RunOptions(out_root=tmp_path / "out"), concurrency=4)
        records = fake.chat_records
    assert [o.ok for o in result.outcomes] == [True] * len(SEEDS)
    assert len(records) == 2 * len(SEEDS) + burst      # bounded: each 429 costs exactly one retry
    limited = [r.replied for r in records if r.status == 429]
    assert len(limited) == burst
    # From the server's clock: after each 429, no worker sends anything until Retry-After has
    # passed. GRACE allows for a request already on its way when the 429 went out.
    GRACE = 0.1
    for answered in limited:
        during = [r.received - answered for r in records if answered + GRACE < r.received < answered + pause]
        assert during == [], f"requests sent {during} s into a {pause} s pause"
    assert max(r.received for r in records) - min(limited) >= pause


def test_an_interrupted_batch_resumes_without_repeating_finished_requests(folder, tmp_path):
    from rewriter.errors import Interrupted
    from rewriter.pipeline import RunOptions

    done = []

    def interrupt_after_first(outcome):
        done.append(outcome)
        raise KeyboardInterrupt

    with FakeLLM(responder=editor()) as fake:
        settings = fake.settings(cache_dir=tmp_path / "cache")
        options = RunOptions(out_root=tmp_path / "out")
        with pytest.raises(Interrupted, match="batch interrupted by SIGINT: .* not run"):
            run_batch(folder, settings, options, concurrency=2, on_done=interrupt_after_first)
        first = len(fake.chat_requests)
        interrupted = read_summary(tmp_path / "out")
        assert interrupted["interrupted"] is True
        assert len(interrupted["articles"]) == len(SEEDS)       # what was done, and what was not run
        not_run = [a for a in interrupted["articles"] if "not run; the batch was interrupted" in (a["error"] or "")]
        assert 1 <= len(not_run) < len(SEEDS) and set(interrupted["failed"]) == {a["path"] for a in not_run}

        result = run_batch(folder, settings, options, concurrency=2)
        bodies = [json.dumps(b["messages"], sort_keys=True) for b in fake.chat_requests]
    assert [o.ok for o in result.outcomes] == [True] * len(SEEDS)
    assert first < len(bodies) == 2 * len(SEEDS)           # every request made exactly once overall
    assert max(Counter(bodies).values()) == 1
    assert sum(o.cache_hits for o in result.outcomes) == first


def test_articles_sharing_a_stem_get_their_own_output_folders(tmp_path):
    folder = tmp_path / "articles"
    for rel in ("a/brief.txt", "b/brief.txt", "brief.md", "solo.txt"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"{rel} : le chiffre est [TBD].\n", encoding="utf-8")
    with FakeLLM(responder=editor()) as fake:
        result = batch_cli(fake, folder, tmp_path / "out")
    assert result.exit_code == 0, result.output
    out_dirs = sorted(a["out_dir"] for a in read_summary(tmp_path / "out")["articles"])
    assert [Path(d).relative_to(tmp_path / "out").as_posix() for d in out_dirs] == \
        ["a/brief.txt", "b/brief.txt", "brief.md", "solo"]
    for rel in ("a/brief.txt", "b/brief.txt", "brief.md"):
        report = json.loads((tmp_path / "out" / rel / "report.json").read_text(encoding="utf-8"))
        assert report["article"]["path"].endswith(rel)


def test_a_rejected_key_stops_the_batch_instead_of_failing_every_article(folder, tmp_path):
    with FakeLLM(api_key="sk-right", responder=editor()) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model", "MISTRAL_API_KEY": "sk-wrong"}
        result = CliRunner().invoke(cli, ["batch", str(folder), "--out", str(tmp_path / "out"), "-j", "1"],
                                    env=env, catch_exceptions=False)
        requests = len(fake.chat_requests)
    assert result.exit_code == 1
    assert requests == 1                                   # one 401, then nothing more is sent
    summary = read_summary(tmp_path / "out")
    assert len(summary["failed"]) == len(SEEDS)
    # The first article to start is the longest one.
    longest = max(SEEDS, key=lambda p: p.stat().st_size).name
    [first] = [a for a in summary["articles"] if Path(a["path"]).name == longest]
    rest = [a for a in summary["articles"] if a is not first]
    assert first["fatal"] and "API key rejected" in first["error"]
    assert all("not run; the batch stopped after" in a["error"] for a in rest)
    assert "sk-wrong" not in result.output


def test_an_empty_folder_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "empty"), "--offline", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no .txt, .md or .markdown article" in result.output


def test_file_names_are_shown_as_they_are_not_as_markup(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "[bold]brief.txt").write_text("Texte [TBD].\n", encoding="utf-8")
    (folder / "[red]cassé.txt").write_bytes(b"\x00binary")
    result = CliRunner().invoke(cli, ["batch", str(folder), "--offline", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "[bold]brief.txt" in result.stderr and "[red]cassé.txt" in result.stderr


def test_an_out_folder_that_cannot_be_written_is_one_line_before_any_request(folder, tmp_path):
    blocker = tmp_path / "file"           # a path through a regular file: even root cannot write there
    blocker.write_text("not a folder")
    with FakeLLM(responder=editor()) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        for command in (["batch", str(folder)], ["run", str(folder / SEEDS[0].name)]):
            result = CliRunner().invoke(cli, [*command, "--out", str(blocker / "out")], env=env,
                                        catch_exceptions=False)
            assert result.exit_code == 1, result.output
            assert result.stderr.strip().splitlines() == [
                f"Error: {blocker / 'out'}: cannot write results there (Not a directory); choose another --out folder"]
        assert fake.chat_requests == []   # refused before a single request was spent
    assert blocker.read_text() == "not a folder"


def test_a_read_only_out_folder_is_one_line(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        try:
            (out / "probe").touch()
        except PermissionError:
            pass
        else:   # root, or CAP_DAC_OVERRIDE: the mode is not enforced; the test above covers that case
            pytest.skip("this user writes through a read-only mode")
        result = CliRunner().invoke(cli, ["batch", str(folder), "--offline", "--out", str(out)],
                                    catch_exceptions=False)
    finally:
        out.chmod(0o755)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {out}: cannot write results there (Permission denied); choose another --out folder")
    assert list(out.iterdir()) == []


def test_a_summary_json_folder_planted_in_out_is_one_line(folder, tmp_path):
    (tmp_path / "out" / "summary.json").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["batch", str(folder), "--offline", "--out", str(tmp_path / "out")],
                                catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"Error: {tmp_path / 'out' / 'summary.json'}: cannot write the batch summary (Is a directory)")
    assert all((tmp_path / "out" / seed.stem / "report.json").exists() for seed in SEEDS)
