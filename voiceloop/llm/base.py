"""The LLM stage boundary: chat messages in, a stream of text deltas out.

Failures are `LlmError` with a short `code` for logs and turn records:

- ``unreachable``: DNS failure, connect timeout, no route to the server.
- ``refused``: nothing listens at ``llm.base_url``.
- ``auth``: HTTP 401/403 (missing or wrong API key).
- ``rate_limited``: HTTP 429; raised as `RateLimitedError` carrying ``retry_after`` seconds.
- ``bad_request``: another HTTP 4xx (wrong path, unknown model, rejected parameters).
- ``server``: HTTP 5xx, or an error object sent inside the stream.
- ``bad_stream``: the response is not the OpenAI streaming format.
- ``disconnected``: the connection ended before the reply did.
- ``first_token_timeout``: no text within ``llm.first_token_timeout_s``.
- ``timeout``: the reply took longer than ``llm.total_timeout_s`` of waiting on the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from voiceloop.errors import LlmError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


class RateLimitedError(LlmError):
    """HTTP 429. `retry_after` is the server's Retry-After in seconds, None when it sent none."""

    def __init__(self, message: str, retry_after: float | None):
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


class LanguageModel(Protocol):
    """A chat model that streams its reply.

    `stream` is an async generator: iterate it inside `contextlib.aclosing(...)` so that breaking
    out of the loop, or cancelling the task that iterates it (barge-in), closes the HTTP request at
    once instead of whenever the generator is garbage-collected.
    """

    def stream(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        """Yield the reply's text deltas in order; raise `LlmError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the model is unusable afterwards."""
        ...
