"""A damaged cache never loses a run: it is moved aside, named in one line, and work goes on."""

from __future__ import annotations

import json

from rewriter.cache import JsonStore, ReplyCache
from tests.test_pipeline import SEED, fake, read_report, run_cli  # noqa: F401  (fixture)


def damage(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache.db").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 500)


def test_a_garbage_database_is_moved_aside_and_the_store_starts_afresh(tmp_path, capsys):
    damage(tmp_path / "replies")
    cache = ReplyCache(tmp_path)
    assert cache.get("k") is None
    cache.put("k", data={"a": 1}, raw="{}", usage={})
    assert cache.get("k")["data"] == {"a": 1}
    cache.close()
    aside = [p.name for p in tmp_path.iterdir() if p.name.startswith("replies.damaged-")]
    assert len(aside) == 1
    assert "reply cache" in capsys.readouterr().err


def test_a_store_that_cannot_be_made_turns_itself_off(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = JsonStore(blocker / "pages", "page")
    store.set("k", {"v": 1})
    assert store.get("k") is None
    assert "going on without it" in capsys.readouterr().err


def test_run_goes_on_past_damaged_reply_and_page_caches(fake, tmp_path):
    cache = tmp_path / "cache"
    damage(cache / "replies")
    damage(cache / "fetch")
    out = tmp_path / "out"
    result = run_cli(["run", str(SEED), "--out", str(out)], fake, REWRITER_CACHE_DIR=str(cache))
    assert result.exit_code == 0, result.output
    assert "reply cache" in result.output and "damaged" in result.output
    assert read_report(out)["usage"]["requests"] == 2
    again = run_cli(["run", str(SEED), "--out", str(out)], fake, REWRITER_CACHE_DIR=str(cache))
    assert again.exit_code == 0 and "moved aside" not in again.output
    assert read_report(out)["usage"]["cache_hits"] == 2
    assert json.loads((out / SEED.stem / "report.json").read_text())["usage"]["requests"] == 0


def test_many_threads_share_one_sqlite_connection(tmp_path, monkeypatch):
    """A Batch API wave reads and writes the cache from a thousand article threads: diskcache would
    open a connection in each (0.6 ms apiece, never closed); the store runs them all on one."""
    import sqlite3
    import threading

    import diskcache.core

    opened = []
    connect = sqlite3.connect

    def counting(*args, **kwargs):
        opened.append(threading.current_thread().name)
        return connect(*args, **kwargs)
    monkeypatch.setattr(diskcache.core.sqlite3, "connect", counting)
    store = JsonStore(tmp_path / "replies", "reply")

    def work(i):
        store.set(f"k{i}", {"i": i})
        assert store.get(f"k{i}") == {"i": i}
    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("k39") == {"i": 39}
    store.close()
    # diskcache's own opening connects twice, on the store's thread; the forty threads, never.
    assert len(set(opened)) == 1 and opened[0].startswith("rewriter-reply-cache") and len(opened) <= 2
    assert JsonStore(tmp_path / "replies", "reply").get("k7") == {"i": 7}     # written, and reopened after close
