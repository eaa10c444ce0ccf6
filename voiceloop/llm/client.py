"""Streaming chat client for any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, DeepSeek…).

One `httpx.AsyncClient` is kept for the life of the daemon so a remote HTTPS server's connection
is reused between turns. Timeouts are enforced around each wait on the server rather than as one
deadline over the generator: a deadline spanning a ``yield`` would fire inside whatever the
consumer is doing, and a reply that is being spoken at its own pace must not count as a slow server.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

import httpx

from voiceloop.config import LlmConfig
from voiceloop.errors import LlmError
from voiceloop.llm.base import Message, RateLimitedError
from voiceloop.llm.sse import SseDecoder
from voiceloop.llm.think import ThinkFilter

log = logging.getLogger(__name__)

T = TypeVar("T")
DRAIN_AFTER_DONE_S = 0.2  # read the body's end after [DONE] so the connection can be reused
ERROR_BODY_CHARS = 300


class _Budget:
    """Seconds spent waiting on the server, checked against the first-token and total limits."""

    def __init__(self, cfg: LlmConfig):
        self._first = cfg.first_token_timeout_s
        self._total = cfg.total_timeout_s
        self.waited = 0.0
        self.got_text = False

    def limit(self) -> tuple[float, str]:
        """Seconds the next wait may take, and the error code if it runs out."""
        total_left = self._total - self.waited
        if not self.got_text and self._first - self.waited < total_left:
            return max(self._first - self.waited, 0.0), "first_token_timeout"
        return max(total_left, 0.0), "timeout"


class OpenAICompatibleClient:
    """`LanguageModel` over ``POST {base_url}/chat/completions`` with ``stream: true``."""

    def __init__(self, cfg: LlmConfig):
        self._cfg = cfg
        self._url = cfg.base_url.rstrip("/")
        headers = {"Accept": "text/event-stream"}
        key = os.environ.get(cfg.api_key_env, "").strip() if cfg.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._has_key = bool(key)
        c = cfg.connect_timeout_s
        # Reads are bounded by _Budget instead of httpx's per-read timeout.
        self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(None, connect=c, write=c, pool=c))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        """Yield the reply's text deltas; raise `LlmError`. Closing or cancelling ends the request."""
        body = {
            "model": self._cfg.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "temperature": self._cfg.temperature,
            "max_tokens": self._cfg.max_tokens,
        }
        budget = _Budget(self._cfg)
        request = self._http.build_request("POST", f"{self._url}/chat/completions", json=body)
        response = await self._wait(self._http.send(request, stream=True), budget, connecting=True)
        try:
            await self._check_status(response, budget)
            thoughts = ThinkFilter()  # reasoning models' <think> blocks are neither spoken nor kept
            if response.headers.get("content-type", "").startswith("application/json"):
                yield thoughts.push(await self._whole_reply(response, budget)) + thoughts.flush()
                return
            async for delta in self._deltas(response, budget):
                if visible := thoughts.push(delta):
                    yield visible
            if rest := thoughts.flush():
                yield rest
        finally:
            await response.aclose()  # on cancellation too: the server sees the disconnect now

    async def probe(self) -> str | None:
        """None when ``GET {base_url}/models`` answers 2xx, else why the LLM cannot be used."""
        try:
            async with asyncio.timeout(self._cfg.connect_timeout_s + 5.0):
                response = await self._http.get(f"{self._url}/models")
        except TimeoutError:
            return f"LLM at {self._url} accepted the connection but did not answer GET /models (llm.base_url)"
        except httpx.HTTPError as exc:
            return str(self._transport_error(exc, connecting=True))
        if response.is_success:
            return None
        return str(self._status_error(response.status_code, response.headers, response.text))

    async def _wait(self, aw: Awaitable[T], budget: _Budget, connecting: bool = False) -> T:
        """Await one server step within the budget, mapping transport failures to LlmError."""
        limit, code = budget.limit()
        start = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                return await aw
        except TimeoutError:
            raise self._timeout_error(code) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, connecting) from exc
        finally:
            budget.waited += time.monotonic() - start

    async def _check_status(self, response: httpx.Response, budget: _Budget) -> None:
        if response.is_success:
            return
        try:
            raw = await self._wait(response.aread(), budget)
            text = raw.decode("utf-8", "replace")
        except LlmError:
            text = ""
        raise self._status_error(response.status_code, response.headers, text)

    async def _whole_reply(self, response: httpx.Response, budget: _Budget) -> str:
        """A server that ignored ``stream: true`` and sent one JSON completion."""
        raw = await self._wait(response.aread(), budget)
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            raise LlmError("bad_stream", f"LLM at {self._url} sent JSON that is not a chat completion: "
                                         f"{_snippet(raw.decode('utf-8', 'replace'))}") from None
        return content if isinstance(content, str) else ""

    async def _deltas(self, response: httpx.Response, budget: _Budget) -> AsyncIterator[str]:
        decoder = SseDecoder()
        lines = response.aiter_lines()
        events = 0
        finished = False
        while True:
            try:
                line = await self._wait(anext(lines), budget)
            except StopAsyncIteration:
                break
            data = decoder.feed(line)
            if data is None:
                continue
            events += 1
            if data.strip() == "[DONE]":
                await self._drain(lines)
                return
            text, done = self._parse_chunk(data)
            finished = finished or done
            if text:
                budget.got_text = True
                yield text
        if finished and not decoder.pending:
            return  # some servers end with finish_reason and no [DONE]
        if events == 0:
            kind = response.headers.get("content-type", "no content-type")
            raise LlmError("bad_stream", f"LLM at {self._url} answered without any stream events ({kind}); "
                                         "is llm.base_url an OpenAI-compatible /v1 endpoint?")
        raise LlmError("disconnected", f"LLM at {self._url} ended the stream before the reply was complete")

    def _parse_chunk(self, data: str) -> tuple[str, bool]:
        """(content delta, finished) from one ``chat.completion.chunk`` event."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise LlmError("bad_stream", f"LLM at {self._url} sent a stream event that is not JSON: "
                                         f"{_snippet(data)}") from None
        if not isinstance(chunk, dict):
            raise LlmError("bad_stream", f"LLM at {self._url} sent an unexpected stream event: {_snippet(data)}")
        if "error" in chunk:
            raise LlmError("server", f"LLM at {self._url} reported an error mid-stream: {_error_text(chunk)}")
        choices = chunk.get("choices") or []
        if not choices:
            return "", False  # e.g. a final usage-only chunk
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        reason = choice.get("finish_reason")
        if reason == "length":
            log.info("LLM reply cut at llm.max_tokens=%d", self._cfg.max_tokens)
        return (content if isinstance(content, str) else ""), reason is not None

    @staticmethod
    async def _drain(lines: AsyncIterator[str]) -> None:
        try:
            async with asyncio.timeout(DRAIN_AFTER_DONE_S):
                async for _ in lines:
                    pass
        except (TimeoutError, httpx.HTTPError):
            pass  # only costs connection reuse

    def _timeout_error(self, code: str) -> LlmError:
        if code == "first_token_timeout":
            return LlmError(code, f"LLM at {self._url} sent no text within {self._cfg.first_token_timeout_s:g} s "
                                  "(llm.first_token_timeout_s); is the model still loading?")
        return LlmError(code, f"LLM at {self._url} did not finish the reply within "
                              f"{self._cfg.total_timeout_s:g} s (llm.total_timeout_s)")

    def _transport_error(self, exc: httpx.HTTPError, connecting: bool) -> LlmError:
        where = f"LLM at {self._url}"
        if isinstance(exc, httpx.ConnectTimeout):
            return LlmError("unreachable", f"{where} did not accept a connection within "
                                           f"{self._cfg.connect_timeout_s:g} s (llm.connect_timeout_s, llm.base_url)")
        if isinstance(exc, httpx.ConnectError):
            if _caused_by(exc, ConnectionRefusedError):
                return LlmError("refused", f"{where} refused the connection; is the server running? (llm.base_url)")
            if _caused_by(exc, socket.gaierror):
                return LlmError("unreachable", f"{where}: cannot resolve the host name (llm.base_url)")
            return LlmError("unreachable", f"{where} cannot be reached: {exc or type(exc).__name__} (llm.base_url)")
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return LlmError("unreachable", f"llm.base_url {self._url!r} is not an http(s) URL")
        if connecting:
            return LlmError("disconnected", f"{where} closed the connection without answering ({type(exc).__name__})")
        return LlmError("disconnected", f"{where} dropped the connection mid-reply ({type(exc).__name__})")

    def _status_error(self, status: int, headers: httpx.Headers, body: str) -> LlmError:
        where = f"LLM at {self._url}"
        detail = _error_text_from_body(body)
        if status in (401, 403):
            hint = (f"check the key in ${self._cfg.api_key_env} (llm.api_key_env)" if self._has_key
                    else f"no API key was sent: set ${self._cfg.api_key_env} (llm.api_key_env)")
            return LlmError("auth", f"{where} rejected the request (HTTP {status}: {detail}); {hint}")
        if status == 429:
            retry = parse_retry_after(headers.get("retry-after"))
            after = f"; retry after {retry:g} s" if retry is not None else ""
            return RateLimitedError(f"{where} is rate limiting requests (HTTP 429: {detail}){after}", retry)
        if status >= 500:
            return LlmError("server", f"{where} failed (HTTP {status}: {detail})")
        return LlmError("bad_request", f"{where} rejected the request (HTTP {status}: {detail}); "
                                       "check llm.base_url (usually ends in /v1) and llm.model")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date; None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _error_text(obj: dict) -> str:
    err = obj.get("error", obj.get("detail", obj))
    if isinstance(err, dict):
        err = err.get("message", err)
    return _snippet(str(err))


def _error_text_from_body(body: str) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return _snippet(body) or "no details"
    return _error_text(obj) if isinstance(obj, dict) else _snippet(body)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_BODY_CHARS else text[:ERROR_BODY_CHARS] + "…"
