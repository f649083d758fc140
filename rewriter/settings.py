"""Settings for talking to the model, from options and the environment.

The API key is read from the environment only, never stored in a report,
a cache key or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"
DEFAULT_MODEL = "mistral-small-latest"
DEFAULT_CACHE_DIR = ".cache/rewriter"
DEFAULT_KEY_ENV = "MISTRAL_API_KEY"
# Evidence providers (rewriter.search); "none" on the command line turns research off.
RESEARCH_PROVIDERS = ("wikipedia", "mistral", "searxng")
DEFAULT_WIKIPEDIA_URL = "https://{lang}.wikipedia.org"
# Wikimedia asks every client for a User-Agent with a way to reach its operator; this default
# names the tool only, and `rewriter doctor` says to set REWRITER_CONTACT.
DEFAULT_CONTACT = "no contact given; set REWRITER_CONTACT"


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
    # Bounds on reading one page: all its time (connect, redirects, body) and its size.
    page_seconds: float = 20.0
    page_bytes: int = 2_000_000
    # Research: the evidence providers to search, their endpoints, and how many searches to make.
    research: tuple[str, ...] = ()
    searx_url: str = ""
    wikipedia_url: str = DEFAULT_WIKIPEDIA_URL    # a template holding {lang}
    contact: str = DEFAULT_CONTACT                # email or URL for the User-Agent sent to search services
    max_searches: int = 40                        # per article
    max_searches_per_target: int = 2              # per claim or gap

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
        from .errors import ConfigError

        env = os.environ if env is None else env
        given = {k: v for k, v in overrides.items() if v is not None}
        base_url = given.pop("base_url", None) or env.get("MISTRAL_BASE_URL")
        key_env = given.pop("api_key_env", None) or DEFAULT_KEY_ENV
        cache_dir = given.pop("cache_dir", None) or env.get("REWRITER_CACHE_DIR") or DEFAULT_CACHE_DIR
        research = given.pop("research", None) or env.get("REWRITER_RESEARCH") or ""
        settings = cls(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            base_url_configured=bool(base_url),
            model=given.pop("model", None) or env.get("REWRITER_MODEL") or DEFAULT_MODEL,
            api_key=env.get(key_env) or None,
            api_key_env=key_env,
            cache_dir=Path(cache_dir),
            searx_url=(given.pop("searx_url", None) or env.get("REWRITER_SEARX_URL") or "").rstrip("/"),
            wikipedia_url=(given.pop("wikipedia_url", None) or env.get("REWRITER_WIKIPEDIA_URL")
                           or DEFAULT_WIKIPEDIA_URL).rstrip("/"),
            contact=given.pop("contact", None) or env.get("REWRITER_CONTACT") or DEFAULT_CONTACT,
            **given,
        )
        if not 0.0 <= settings.temperature <= 1.0:
            raise ConfigError(f"--temperature must be between 0 and 1 (got {settings.temperature}); "
                              "Mistral rejects values outside that range")
        if "{lang}" not in settings.wikipedia_url:
            raise ConfigError(f"--wikipedia-url {settings.wikipedia_url!r} must hold {{lang}}, e.g. "
                              f"{DEFAULT_WIKIPEDIA_URL}")
        return replace(settings, research=parse_research(research, default=settings.model_enabled))


def parse_research(value: str, *, default: bool) -> tuple[str, ...]:
    """``"wikipedia,searxng"`` -> ``("wikipedia", "searxng")``; ``"none"`` -> ``()``; ``""`` -> the default:
    wikipedia when a model is configured (it needs no key), else nothing."""
    from .errors import ConfigError

    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        return ("wikipedia",) if default else ()
    if names == ["none"]:
        return ()
    unknown = [name for name in names if name not in RESEARCH_PROVIDERS]
    if unknown or "none" in names:
        raise ConfigError(f"--research {value}: unknown provider {', '.join(unknown or ['none'])!s}; choose from "
                          f"{', '.join(RESEARCH_PROVIDERS)}, comma-separated, or none")
    return tuple(dict.fromkeys(names))
