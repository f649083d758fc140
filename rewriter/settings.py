"""Settings for talking to the model, from options and the environment.

The API key is read from the environment only, never stored in a report,
a cache key or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"
DEFAULT_MODEL = "mistral-small-latest"
DEFAULT_CACHE_DIR = ".cache/rewriter"
DEFAULT_KEY_ENV = "MISTRAL_API_KEY"


@dataclass(frozen=True)
class Settings:
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_KEY_ENV
    temperature: float = 0.0
    timeout: float = 120.0
    max_tokens: int = 8192
    cache_dir: Path = Path(DEFAULT_CACHE_DIR)
    use_cache: bool = True
    # True when the user gave a base URL (option or env): a local server may need no key.
    base_url_configured: bool = False
    offline: bool = False
    # Let --fetch read hosts on private, loopback or link-local addresses: for newsroom intranets and tests.
    fetch_private: bool = False
    # Evidence providers the research stage searches ("wikipedia", "mistral", "searxng"); () for none.
    research: tuple[str, ...] = ()
    # Transport retry bounds: attempts, the longest single wait, and all waits together.
    max_retries: int = 5
    max_retry_wait: float = 60.0
    max_retry_total: float = 300.0
    # Shared rate limits (0 = unlimited).
    requests_per_second: float = 0.0
    tokens_per_minute: int = 0

    @property
    def model_enabled(self) -> bool:
        """Whether stages that need the model run at all."""
        if self.offline:
            return False
        return bool(self.api_key) or self.base_url_configured

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Settings":
        """Options win over the environment, which wins over defaults.

        ``overrides`` holds option values; ``None`` means "not given".
        """
        env = os.environ if env is None else env
        given = {k: v for k, v in overrides.items() if v is not None}
        base_url = given.pop("base_url", None) or env.get("MISTRAL_BASE_URL")
        key_env = given.pop("api_key_env", None) or DEFAULT_KEY_ENV
        cache_dir = given.pop("cache_dir", None) or env.get("REWRITER_CACHE_DIR") or DEFAULT_CACHE_DIR
        settings = cls(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            base_url_configured=bool(base_url),
            model=given.pop("model", None) or env.get("REWRITER_MODEL") or DEFAULT_MODEL,
            api_key=env.get(key_env) or None,
            api_key_env=key_env,
            cache_dir=Path(cache_dir),
            **given,
        )
        if not 0.0 <= settings.temperature <= 1.0:
            from .errors import ConfigError
            raise ConfigError(f"--temperature must be between 0 and 1 (got {settings.temperature}); "
                              "Mistral rejects values outside that range")
        return settings
