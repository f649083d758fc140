"""`rewriter batch --via batch-api` against the loopback fake's Files and Batch APIs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewriter.backends.batch_api import JobsClient
from rewriter.batch import run_batch
from rewriter.batchjobs import JobOptions, run_batch_api
from rewriter.cli import cli
from rewriter.errors import Interrupted
from rewriter.pipeline import RunOptions
from rewriter.resources import schema_errors
from tests.fake_llm import FORBIDDEN_PARAMS, FakeLLM, auto_reply

SEEDS = Path(__file__).resolve().parent.parent / "articles"
FAST = JobOptions(poll_every=0.02)
TIMINGS = re.compile(r'"(generated_at|duration_s|seconds)": [^,\n]+')


def folders(out: Path) -> dict[str, bytes]:
    """Every file of every article folder, timings blanked and the out folder's path made neutral."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_file() and rel.parts[0] not in (".batch-api", "summary.json"):
            data = path.read_bytes().replace(str(out).encode(), b"OUT")
            if path.name == "report.json":
                report = json.loads(data)
                report["usage"]["stages"] = {}
                data = TIMINGS.sub(r'"\1": 0', json.dumps(report, ensure_ascii=False, indent=1)).encode()
            found[rel.as_posix()] = data
    return found


def batch_api(fake, tmp_path, name="out", cache="cache", options=FAST):
    return run_batch_api(SEEDS, fake.settings(cache_dir=tmp_path / cache), RunOptions(out_root=tmp_path / name),
                         options)


def submitted_ids(fake) -> list[str]:
    return [line["custom_id"] for f in fake.files.values() if f["meta"]["purpose"] == "batch"
            for line in fake.uploaded_lines(f["meta"]["id"])]


def test_the_batch_api_path_writes_what_the_synchronous_path_writes(tmp_path):
    with FakeLLM(responder=auto_reply, batch_latency=0.1) as fake:
        run_batch(SEEDS, fake.settings(cache_dir=tmp_path / "c1"), RunOptions(out_root=tmp_path / "sync"))
        sync_bodies = sorted(json.dumps(b, sort_keys=True) for b in fake.chat_requests)
        result = batch_api(fake, tmp_path, name="api", cache="c2")
        lines = [line for f in fake.files.values() if f["meta"]["purpose"] == "batch"
                 for line in fake.uploaded_lines(f["meta"]["id"])]
        assert len(fake.chat_requests) == len(sync_bodies)        # none went the synchronous way
    assert all(o.ok for o in result.outcomes)
    # The uploaded bodies are the synchronous requests, exactly, and nothing Mistral refuses.
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in lines) == sync_bodies
    assert not any(name in line["body"] for line in lines for name in FORBIDDEN_PARAMS)
    assert len({line["custom_id"] for line in lines}) == len(lines)
    sync, api = folders(tmp_path / "sync"), folders(tmp_path / "api")
    assert sync.keys() == api.keys() and len(sync) > 20
    assert [k for k in sync if sync[k] != api[k]] == []
    summary = json.loads((tmp_path / "api" / "summary.json").read_text())
    assert schema_errors(summary, "summary") == []
    jobs = summary["batch_api"]["jobs"]
    assert [j["wave"] for j in jobs] == [1, 2] and all(j["status"] == "SUCCESS" for j in jobs)
    assert sum(j["requests"] for j in jobs) == len(lines)
    assert summary["batch_api"]["cost"] is None      # no price given, no made-up figure


@pytest.mark.parametrize("step", ["create_job", "job", "download"])
def test_an_interrupted_batch_resumes_without_submitting_anything_twice(tmp_path, monkeypatch, step):
    original = getattr(JobsClient, step)
    calls = {"n": 0}

    def interrupted_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    with FakeLLM(responder=auto_reply, batch_latency=0.05) as fake:
        reference = batch_api(fake, tmp_path, name="ref", cache="c0")
        first_uploads, first_jobs = fake.count("POST", "/v1/files"), len(fake.batch_jobs)
        before = len(submitted_ids(fake))
        monkeypatch.setattr(JobsClient, step, interrupted_once)
        with pytest.raises(Interrupted, match="resume"):
            batch_api(fake, tmp_path)
        state = json.loads((tmp_path / "out" / ".batch-api" / "state.json").read_text())
        assert state["jobs"] and state["jobs"][0]["file"]
        result = batch_api(fake, tmp_path)
        mine = submitted_ids(fake)[before:]
        uploads_after = fake.count("POST", "/v1/files") - first_uploads
        jobs_after = len(fake.batch_jobs) - first_jobs
    assert all(o.ok for o in reference.outcomes)
    assert all(o.ok for o in result.outcomes)
    assert folders(tmp_path / "out") == folders(tmp_path / "ref")
    assert len(mine) == len(set(mine)) == before, "a request was submitted twice"
    assert uploads_after == jobs_after == 2          # one file per job, never uploaded again


def test_a_rerun_after_success_submits_nothing(tmp_path):
    with FakeLLM(responder=auto_reply) as fake:
        batch_api(fake, tmp_path)
        before = len(fake.requests)
        batch_api(fake, tmp_path)
        assert fake.count("POST", "/v1/files") == 2 and fake.count("POST", "/v1/batch/jobs") == 2
        assert len(fake.requests) == before        # results come from the saved files and the cache


def test_a_failed_line_fails_its_article_only_and_a_dropped_download_is_retried(tmp_path):
    with FakeLLM(responder=auto_reply) as fake:
        fake.batch_faults = [{"fail_line": 0}]
        fake.drop_downloads = 1
        result = batch_api(fake, tmp_path)
    failed = [o for o in result.outcomes if not o.ok]
    assert len(failed) == 1 and "HTTP 500" in failed[0].error
    assert len([o for o in result.outcomes if o.ok]) == 4


def test_an_expired_job_leaves_its_unanswered_requests_for_the_next_run(tmp_path):
    with FakeLLM(responder=auto_reply) as fake:
        fake.batch_faults = [{"end": "TIMEOUT_EXCEEDED", "done": 2}]
        result = batch_api(fake, tmp_path)
        assert sum(1 for o in result.outcomes if not o.ok) == 3
        assert any("TIMEOUT_EXCEEDED" in (o.error or "") for o in result.outcomes)
        again = batch_api(fake, tmp_path)
        ids = submitted_ids(fake)
    assert all(o.ok for o in again.outcomes)
    first_job = ids[:5]
    assert ids.count(first_job[0]) == 1 and ids.count(first_job[1]) == 1     # answered: never again
    assert all(ids.count(cid) == 2 for cid in first_job[2:])                 # expired: asked once more


def test_status_and_cancel_show_and_stop_the_saved_jobs(tmp_path):
    with FakeLLM(responder=auto_reply, batch_latency=60) as fake:
        out = tmp_path / "out"
        original = JobsClient.job

        def stop_polling(self, job_id):
            raise KeyboardInterrupt
        JobsClient.job = stop_polling
        try:
            with pytest.raises(Interrupted):
                batch_api(fake, tmp_path)
        finally:
            JobsClient.job = original
        env = {"MISTRAL_API_KEY": "", "REWRITER_CACHE_DIR": str(tmp_path / "cache")}
        args = ["batch", str(SEEDS), "--via", "batch-api", "--out", str(out), "--base-url", fake.base_url,
                "--model", "fake-model"]
        shown = CliRunner().invoke(cli, [*args, "--status"], env=env)
        assert shown.exit_code == 0, shown.output
        assert "job-0001" in shown.stdout and "QUEUED" in shown.stdout
        cancelled = CliRunner().invoke(cli, [*args, "--cancel"], env=env)
        assert cancelled.exit_code == 0, cancelled.output
        assert "CANCELLED" in cancelled.stdout
        assert fake.count("POST", "/v1/batch/jobs/job-0001/cancel") == 1


def test_prices_give_the_cost_next_to_the_synchronous_cost(tmp_path):
    with FakeLLM(responder=auto_reply) as fake:
        batch_api(fake, tmp_path, options=JobOptions(poll_every=0.02, price_input=2.0, price_output=6.0))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert schema_errors(summary, "summary") == []
    api = summary["batch_api"]
    expected = (api["prompt_tokens"] * 2.0 + api["completion_tokens"] * 6.0) / 1e6
    assert api["cost"]["synchronous"] == pytest.approx(expected, abs=1e-6)
    assert api["cost"]["batch_api"] == pytest.approx(expected / 2, abs=1e-6)
    assert api["prompt_tokens"] > 0 and all(j["seconds_submit_to_collect"] is not None for j in api["jobs"])
