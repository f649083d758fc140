"""Runs for the review page's tests: seed 000 through the real pipeline and the scripted model,
and an article whose text, proposal and source are hostile HTML."""

from __future__ import annotations

import json
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from rewriter.cli import cli
from rewriter.webreview import ReviewServer
from tests.conftest import ARTICLES
from tests.editor_model import EditorModel
from tests.fake_llm import FakeLLM
from tests.test_loop import CLAIMS

SEED = "000_8fabfc5d1ff5073f"
HOSTILE = "zz_hostile"
# Each would run script in the page if it were written there unescaped: it sets window.__xss.
SCRIPT = "<script>window.__xss = 1</script>"
ATTR = '"><img src=x onerror="window.__xss = 2">'
PAYLOAD = f"{SCRIPT} {ATTR}"
HOSTILE_TEXT = (f"Un titre {SCRIPT}\n"
                f"Le chiffre est [DONNÉES NÉCESSAIRES] selon {ATTR} et <b>gras</b>.\n")


def make_runs(root: Path, hostile: bool = False) -> list[Path]:
    """Copy the seeds under ``root``, run seed 000 (and the hostile article) with the fake model."""
    shutil.copytree(ARTICLES, root / "articles")
    paths = [f"articles/{SEED}.txt"]
    if hostile:
        (root / "articles" / f"{HOSTILE}.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
        paths.append(f"articles/{HOSTILE}.txt")
    with FakeLLM(responder=EditorModel(claims=CLAIMS)) as fake:
        env = {"MISTRAL_BASE_URL": fake.base_url, "REWRITER_MODEL": "fake-model"}
        for path in paths:
            run = CliRunner().invoke(cli, ["run", path], env=env, catch_exceptions=False)
            assert run.exit_code == 0, run.output
    outs = [root / "out" / Path(p).stem for p in paths]
    if hostile:
        poison(outs[1])
    return outs


def poison(out_dir: Path) -> None:
    """Make the first proposal a replacement whose every field is hostile HTML."""
    path = out_dir / "report.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    p = report["proposals"][0]
    p.update(action="replace", status="needs_review", replacement=PAYLOAD, rationale=PAYLOAD,
             status_reason=PAYLOAD, confidence=0.5,
             sources=[{"url": "javascript:window.__xss = 3", "title": PAYLOAD, "publisher": PAYLOAD,
                       "date": PAYLOAD, "quote": PAYLOAD, "status": "unchecked", "reason": PAYLOAD}])
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


@contextmanager
def serving(out_dirs: list[Path]):
    server = ReviewServer(out_dirs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
