"""An in-process :class:`~rewriter.backends.base.ChatBackend` for stage tests: no socket, no thread.

It answers each request with ``responder(body)`` (e.g. :class:`tests.editor_model.EditorModel`
or :func:`tests.fake_llm.auto_reply`) and keeps every request, so a stage test asserts on what
the stage asked exactly as it would against the loopback server (``tests/fake_llm.py``), which
stays the test of the wire.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rewriter.backends.base import Call, ChatRequest, ChatResponse


class MemoryBackend:
    model = "memory-model"
    base_url = "memory://"

    def __init__(self, responder: Callable[[dict], Any]):
        self.responder = responder
        self.requests: list[ChatRequest] = []

    def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        reply = self.responder(request.body)
        text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        usage = {"prompt_tokens": len(json.dumps(request.body["messages"])) // 4, "completion_tokens": len(text) // 4}
        call = Call(task=request.task, model=self.model, base_url=self.base_url, duration_s=0.0,
                    prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                    schema_hash=request.schema_hash, cached=False, attempt=request.attempt)
        return ChatResponse(text=text, finish_reason="stop", usage=usage, calls=[call])

    def list_models(self) -> list[str]:
        return [self.model]

    def close(self) -> None:
        pass
