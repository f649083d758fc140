"""Caches on disk: validated model replies, fetched pages, search results.

The reply key covers everything that shapes the reply (base URL, model,
messages, wire schema, sampling parameters) and nothing secret: the API key is
never part of it, so the cache folder can be shared or inspected safely.

Every cache is opened through :class:`JsonStore`: entries are JSON text,
readable without unpickling anything, and a damaged database (a truncated or
garbage file, a disk error) never loses the run: the folder is moved aside,
the user is told once which cache it was, and work goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import diskcache

from . import console


def canonical_json(value: Any) -> str:
    """One spelling per value, so equal requests hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(*, base_url: str, model: str, messages: list[dict], wire_schema: dict,
              temperature: float, max_tokens: int) -> str:
    """sha256 of the canonical request; ``messages`` are the first-attempt ones, not re-asks."""
    request = {"base_url": base_url, "model": model, "messages": messages, "schema": wire_schema,
               "temperature": temperature, "max_tokens": max_tokens}
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


# diskcache opens one SQLite connection per thread, and by default each maps up to 64 MiB of the
# database and keeps 32 MiB of pages: at -j 16 a warm rerun peaked at 545 MiB. Entries are read
# once per run, so neither mapping nor a large page cache buys anything: no mmap, 1 MiB of pages.
SQLITE_SETTINGS = {"sqlite_mmap_size": 0, "sqlite_cache_size": 256}

# What a damaged or unusable cache raises: sqlite's own errors, and the OS's (a folder that
# cannot be created, a read-only file).
_BROKEN = (sqlite3.DatabaseError, OSError)


class JsonStore:
    """A diskcache folder of JSON values that survives being damaged.

    On a database error when opening, the folder is renamed ``<name>.damaged-<time>`` and a
    fresh one is made; if that fails too, or an error comes later, the store turns itself off
    for the rest of the process: every ``get`` misses and every ``set`` is skipped.
    """

    def __init__(self, directory: Path, what: str):
        self.directory = Path(directory)
        self.what = what
        self._cache: diskcache.Cache | None = None
        self._disabled = False
        # Every diskcache call runs on the store's own thread. diskcache opens an SQLite connection
        # per calling thread (0.6 ms each, and never closed by close()), so a Batch API wave of a
        # thousand article threads paid a thousand connections and queued as SQLite writers; one
        # thread holds one connection and takes the operations in turn.
        self._io: ThreadPoolExecutor | None = None
        self._io_lock = threading.Lock()

    def _run(self, op: Callable[[], Any]) -> Any:
        """``op()`` on the store's thread; its exceptions are raised here."""
        with self._io_lock:
            if self._io is None:
                self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rewriter-{self.what}-cache")
            io = self._io
        return io.submit(op).result()

    def _open(self) -> diskcache.Cache | None:
        """The open cache (run on the store's thread)."""
        if self._cache is None and not self._disabled:
            try:
                self._cache = diskcache.Cache(str(self.directory), **SQLITE_SETTINGS)
            except _BROKEN as exc:
                self._cache = self._recover(exc)
        return self._cache

    def _recover(self, exc: BaseException) -> diskcache.Cache | None:
        aside = self.directory.with_name(f"{self.directory.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.directory.rename(aside)
            cache = diskcache.Cache(str(self.directory), **SQLITE_SETTINGS)
        except _BROKEN:
            self._disabled = True       # on the store's thread, with nothing open: no close to wait for
            self._warn_off(exc, "")
            return None
        console.warn(f"{self.what} cache {self.directory} was damaged ({_why(exc)}); moved aside to "
                     f"{aside} and started afresh")
        return cache

    def _off(self, exc: BaseException, where: str) -> None:
        self._disabled = True
        self.close()
        self._warn_off(exc, where)

    def _warn_off(self, exc: BaseException, where: str) -> None:
        console.warn(f"{self.what} cache {self.directory} cannot be used ({_why(exc)}){where}; "
                     "going on without it (delete the folder to start afresh)")

    def get(self, key: str) -> Any | None:
        def read():
            cache = self._open()
            return cache.get(key) if cache is not None else None
        try:
            text = self._run(read)
            return json.loads(text) if isinstance(text, str) else None
        except diskcache.Timeout:
            return None     # busy past the timeout (another process writing): a miss, not a damaged cache
        except (*_BROKEN, ValueError) as exc:
            self._off(exc, " while reading")
            return None

    def set(self, key: str, value: Any, *, expire: float | None = None) -> None:
        if self._disabled:
            return
        text = canonical_json(value)

        def write():
            cache = self._open()
            if cache is not None:
                cache.set(key, text, expire=expire)
        try:
            self._run(write)
        except diskcache.Timeout:
            return      # still busy after the timeout: this entry is not cached, the run goes on
        except _BROKEN as exc:
            self._off(exc, " while writing")

    def close(self) -> None:
        """Close the database and end the store's thread (a later call opens both again)."""
        with self._io_lock:
            io, self._io = self._io, None
        if io is None:
            return

        def shut():
            if self._cache is not None:
                try:
                    self._cache.close()
                except _BROKEN:
                    pass
                self._cache = None
        io.submit(shut).result()
        io.shutdown(wait=False)


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class ReplyCache:
    """Validated model replies: ``data``, ``raw`` and ``usage`` for each request key."""

    def __init__(self, directory: Path):
        self._store = JsonStore(Path(directory) / "replies", "reply")

    def get(self, key: str) -> dict | None:
        return self._store.get(key)

    def put(self, key: str, *, data: Any, raw: str, usage: dict) -> None:
        self._store.set(key, {"data": data, "raw": raw, "usage": usage})

    def close(self) -> None:
        self._store.close()
