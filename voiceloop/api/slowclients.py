"""Slow clients cannot hold the server: deadlines for a request's head and its body.

uvicorn waits for a request head for ever, and for a body at any pace, so a few hundred
connections that trickle a byte now and then (slowloris) would hold as many descriptors and
requests for as long as they like. Here:

- the head of each request must be in within `HEAD_TIMEOUT_S` of the connection (or of the last
  answer on it), else the connection is closed (`HeadDeadlineProtocol`, uvicorn's h11 protocol);
- a body must keep up an average of `BODY_MIN_RATE` bytes a second after `BODY_GRACE_S`, else
  reading it fails with `BodyTooSlow` (answered 408; it ends a lingering drain too).

A legitimate upload from a slow link sends far faster than the minimum; only a stalling client
notices.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEAD_TIMEOUT_S = 10.0
BODY_GRACE_S = 10.0
BODY_MIN_RATE = 8 * 1024  # bytes per second, averaged from the start of the body (64 kbit/s)
MAX_CONNECTIONS = 1000  # uvicorn's limit_concurrency: beyond it, new requests get 503 at once


class BodyTooSlow(HTTPException):
    """The request body came in slower than `BODY_MIN_RATE` (an HTTPException, so that FastAPI's
    form parsing lets it through rather than calling it a parse error)."""

    def __init__(self, message: str):
        super().__init__(408, message, headers={"Connection": "close"})


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not in on time."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        self._await_head()  # first: a pipelined request that starts in super() is a new cycle, exempt
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_overdue, self.cycle)

    def _head_overdue(self, cycle: object) -> None:
        """No request has started since the timer was set: the head never came."""
        if self.cycle is cycle and not self.transport.is_closing():
            log.info("closing a connection from %s: no request head within %.0f s",
                     "%s:%d" % self.client if self.client else "?", HEAD_TIMEOUT_S)
            self.transport.close()


class BodyDeadline:
    """ASGI middleware: reading the request body fails with `BodyTooSlow` when it falls behind
    `BODY_MIN_RATE`. Once the body is in, `receive` (which then only reports a disconnect) is
    left alone."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        complete = False

        async def timed_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            deadline = started + BODY_GRACE_S + received / BODY_MIN_RATE
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(f"the request body came in slower than {BODY_MIN_RATE // 1024} KiB/s "
                                  f"({received} bytes in {loop.time() - started:.0f} s)") from None
            received += len(message.get("body", b""))
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
