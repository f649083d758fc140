"""The reply cache: validated model replies, keyed by a hash of what was asked.

The key covers everything that shapes the reply (base URL, model, messages,
wire schema, sampling parameters) and nothing secret: the API key is never
part of it, so the cache folder can be shared or inspected safely.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import diskcache


def canonical_json(value: Any) -> str:
    """One spelling per value, so equal requests hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(*, base_url: str, model: str, messages: list[dict], wire_schema: dict,
              temperature: float, max_tokens: int) -> str:
    """sha256 of the canonical request; ``messages`` are the first-attempt ones, not re-asks."""
    request = {"base_url": base_url, "model": model, "messages": messages, "schema": wire_schema,
               "temperature": temperature, "max_tokens": max_tokens}
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


class ReplyCache:
    """Entries are JSON text (``data``, ``raw``, ``usage``), readable without unpickling anything."""

    def __init__(self, directory: Path):
        self._cache = diskcache.Cache(str(Path(directory) / "replies"))

    def get(self, key: str) -> dict | None:
        text = self._cache.get(key)
        return json.loads(text) if text is not None else None

    def put(self, key: str, *, data: Any, raw: str, usage: dict) -> None:
        self._cache.set(key, canonical_json({"data": data, "raw": raw, "usage": usage}))

    def close(self) -> None:
        self._cache.close()
