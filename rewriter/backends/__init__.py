"""Model backends behind one protocol (:class:`~rewriter.backends.base.ChatBackend`).

``openai_compat``: any OpenAI-compatible chat server, one request at a time (the default).
``batch_api``: Mistral's Batch API, requests uploaded as a file and run on Mistral's side.
Stages never see a backend: they hand tasks to the asker (``rewriter.asker``), which holds one.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from .base import ChatBackend, ChatRequest, ChatResponse, Limiter, redact_url

__all__ = ["ChatBackend", "ChatRequest", "ChatResponse", "build_backend"]


def build_backend(settings: Settings, *, limiter: Limiter | None = None) -> ChatBackend:
    """The configured endpoint's backend; the one place a model client is built."""
    if settings.offline:
        raise ConfigError("offline mode: no request may be sent to the model")
    if not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base URL {redact_url(settings.base_url)!r} must start with http:// or https://")
    from .openai_compat import OpenAICompatible   # the SDK loads only when a model is used

    return OpenAICompatible(settings, limiter=limiter)
