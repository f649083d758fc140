"""`rewriter doctor`'s checks of the model endpoint: reachable, key accepted, model listed, strict
json_schema honoured. Bypasses the cache and transport retries (a diagnosis reports the first
failure as it is), and never puts the key in a verdict."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .asker import Task, _parse_and_check, build_asker
from .backends.base import TransportError, redact_url
from .errors import LLMError
from .settings import Settings


@dataclass
class Check:
    """One verdict of ``rewriter doctor``."""

    name: str
    ok: bool
    detail: str


_DOCTOR_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["status", "count"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "count": {"type": "integer"}},
}
_DOCTOR_MESSAGES = [{"role": "user", "content": 'Reply with a JSON object whose "status" is "ok" and whose '
                                                '"count" is 3.'}]


def diagnose(settings: Settings) -> list[Check]:
    """Check the configured endpoint: reachable, key accepted, model listed, strict json_schema honoured."""
    url, env = redact_url(settings.base_url), settings.api_key_env
    with build_asker(replace(settings, use_cache=False, max_retries=0)) as client:
        models, failure = None, None
        try:
            models = client.backend.list_models()
        except TransportError as exc:
            failure = exc
        if models is not None:
            checks = [Check("reachable", True, f"{url} answered GET /models"),
                      Check("key", True, "accepted" if settings.api_key else f"none sent (${env} unset); "
                                                                            "the server asked for none")]
        elif failure.status is None:
            return [Check("reachable", False, str(failure))] + [
                Check(name, False, "not checked: endpoint unreachable") for name in ("key", "model", "json_schema")]
        elif failure.status in (401, 403):
            return [Check("reachable", True, f"{url} answered (HTTP {failure.status})"),
                    Check("key", False, str(failure))] + [
                Check(name, False, "not checked: key rejected") for name in ("model", "json_schema")]
        else:
            checks = [Check("reachable", True, f"{url} answered (HTTP {failure.status})"),
                      Check("key", True, "not refused")]

        if models is None:
            checks.append(Check("model", False, str(failure)))
        elif settings.model in models:
            checks.append(Check("model", True, f"'{settings.model}' is listed"))
        else:
            listed = ", ".join(models[:10]) + (", ..." if len(models) > 10 else "") or "none"
            checks.append(Check("model", False, f"'{settings.model}' is not listed by {url}; it lists: {listed}"))

        try:
            client.run(Task("doctor", _DOCTOR_MESSAGES, _DOCTOR_SCHEMA, max_attempts=1))
            checks.append(Check("json_schema", True, "the reply matched a strict json_schema"))
        except LLMError as exc:
            if isinstance(exc, TransportError) or exc.raw is None:
                checks.append(Check("json_schema", False, str(exc)))
            else:
                problem = (_parse_and_check(exc.raw, _DOCTOR_SCHEMA, None)[1] or [str(exc)])[0]
                checks.append(Check("json_schema", False, f"strict json_schema not honoured: {problem} in "
                                    f"{exc.raw[:80]!r}; rewriter still validates and re-asks, at extra cost"))
    return checks
