"""A real `rewriter batch` process, stopped by a real SIGTERM or SIGINT, then run again (issue 9, item 23).

The fake model answers after LATENCY seconds and records when each request arrived and when its
reply went out, so the test can tell what was finished, in flight or sent after the signal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.resources import schema_errors
from tests.conftest import REPO, SEEDS
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM

LATENCY = 0.4
TYPO = {"gagnéune": ("typo", "gagné une", "https://fr.wiktionary.org/wiki/gagner",
                     "gagner : verbe du premier groupe.")}
# `rewriter ...` as the console script runs it. A shell without job control starts background jobs
# with SIGINT ignored (and rewriter leaves an ignored signal alone): give it Python's usual handler.
CLI = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "sys.argv[0] = 'rewriter'; from rewriter.cli import main; main()")


def body_key(record) -> str:
    return json.dumps(record.body["messages"], sort_keys=True)


def wait_for(condition, proc, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"batch ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_batch_writes_its_summary_and_resumes_without_repeating_a_request(tmp_path, signum):
    folder, out = tmp_path / "articles", tmp_path / "out"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
    name = signal.Signals(signum).name
    with FakeLLM(responder=EditorModel(claims=TYPO), latency=LATENCY) as fake:
        env = {**os.environ, "MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        proc = subprocess.Popen([sys.executable, "-c", CLI, "batch", str(folder), "--out", str(out), "-j", "2"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Two requests in flight at most: four answered (the claims of the first articles, or a
        # claims and corrections pair) and two more in flight, with LATENCY seconds to go. The test
        # may look a little later than that moment: what counts is what was sent before the signal.
        wait_for(lambda: sum(r.replied is not None for r in fake.chat_records) >= 4
                 and len(fake.chat_records) >= 6, proc, "four requests answered and two in flight")
        signalled = time.monotonic()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
        first = fake.chat_records

        assert proc.returncode == 1, stderr
        assert "Traceback" not in stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert schema_errors(summary, "summary") == [] and summary["interrupted"] is True
        assert len(summary["articles"]) == len(SEEDS)
        done = [a for a in summary["articles"] if a["ok"]]
        not_run = [a for a in summary["articles"] if not a["ok"]]
        # Each article done has had its claims and its corrections answered; every corrections
        # request sent before the signal finished an article (the ones in flight were waited for).
        corrections = [r for r in first if r.body["response_format"]["json_schema"]["name"] == "corrections"]
        assert len(done) == len(corrections) >= 2
        assert all((out / os.path.basename(a["out_dir"]) / "report.json").exists() for a in done)
        assert sum(a["requests"] for a in done) == 2 * len(done)
        last = stderr.strip().splitlines()[-1]
        assert last.startswith(f"Error: batch interrupted by {name}: {len(done)} of {len(SEEDS)} article(s) done, "
                               f"{len(SEEDS) - len(done)} not run"), stderr
        assert "run the same command again to resume" in last
        assert all(f"not run; the batch was interrupted by {name}" in a["error"] for a in not_run)
        assert sorted(summary["failed"]) == sorted(a["path"] for a in not_run)
        # After the signal no request left; those in flight (two at most, -j 2) were answered and
        # waited for.
        assert len(first) >= 6 and all(r.received < signalled for r in first)
        assert all(r.replied is not None and r.status == 200 for r in first)
        finished = {body_key(r) for r in first if r.replied < signalled}
        assert len(finished) >= 4 and len(first) - len(finished) <= 2

        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        again = CliRunner().invoke(cli, ["batch", str(folder), "--out", str(out), "-j", "2"], env=env,
                                   catch_exceptions=False)
        rerun = fake.chat_records[len(first):]
    assert again.exit_code == 0, again.output
    resent = [body_key(r) for r in rerun]
    assert not finished & set(resent)                      # nothing finished before the signal is asked again
    assert not {body_key(r) for r in first} & set(resent)  # nor what was in flight: its reply was cached
    everything = [body_key(r) for r in first] + resent
    assert len(everything) == 2 * len(SEEDS) and max(Counter(everything).values()) == 1
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is False and summary["failed"] == []
    assert sum(a["cache_hits"] for a in summary["articles"]) == len(first)


def test_a_second_signal_quits_at_once_and_the_summary_is_already_written(tmp_path):
    folder, out = tmp_path / "articles", tmp_path / "out"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
    with FakeLLM(responder=EditorModel(claims=TYPO), latency=5.0) as fake:
        env = {**os.environ, "MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        proc = subprocess.Popen([sys.executable, "-c", CLI, "batch", str(folder), "--out", str(out), "-j", "2"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(fake.chat_records) >= 2, proc, "two requests in flight")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: (out / "summary.json").exists(), proc, "the summary written on the first signal")
        proc.send_signal(signal.SIGTERM)          # the replies are 5 s away: this one must not wait
        proc.communicate(timeout=3)
    assert proc.returncode == -signal.SIGTERM
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert schema_errors(summary, "summary") == [] and summary["interrupted"] is True
    assert [a["ok"] for a in summary["articles"]] == [False] * len(SEEDS)
    assert all("not run; the batch was interrupted by SIGTERM" in a["error"] for a in summary["articles"])
