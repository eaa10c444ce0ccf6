"""Lingering close: an answer given before the request body is in waits for the rest of the body.

Most clients (the `openai` SDK, `requests`) send the whole body before they read a response. A
server that answers early (413 for an upload over the limit, 401 for a wrong token) and closes with
the body still arriving resets the connection, and the reset can destroy the answer before the
client reads it: the user sees "connection error" instead of the answer that says what to do. So
the answer goes out at once, but the connection stays open while the rest of the body is read and
dropped, for at most `LINGER_S`; nginx and Go's net/http linger for the same reason.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceloop.api.slowclients import BodyTooSlow

log = logging.getLogger(__name__)

LINGER_S = 30.0
MAX_LINGERING = 64  # connections draining at once; beyond that an early answer closes at once
MAX_DRAIN_BYTES = 256 * 2**20  # what one connection may still send after its answer


class LingeringClose:
    """ASGI middleware: hold back the end of a response until the request body has been read.

    Bounded per connection (`LINGER_S`, `MAX_DRAIN_BYTES`, and the body's minimum rate, see
    `slowclients`) and in total (`MAX_LINGERING`), so lingering cannot be made to hold the server."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.lingering = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        # whether the request body has been received to its end (or the client has gone)
        body_in = headers.get(b"content-length") in (None, b"0") and b"transfer-encoding" not in headers

        async def tracking_receive() -> Message:
            nonlocal body_in
            message = await receive()
            body_in = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def lingering_send(message: Message) -> None:
            if (message["type"] == "http.response.body" and not message.get("more_body") and not body_in
                    and self.lingering < MAX_LINGERING):
                await send({**message, "more_body": True})  # the whole answer is on the wire now
                self.lingering += 1
                try:
                    await _drain(receive, scope)
                finally:
                    self.lingering -= 1
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, tracking_receive, lingering_send)


async def _drain(receive: Receive, scope: Scope) -> None:
    """Read and drop the rest of a request body, so that the connection closes without a reset."""
    dropped = 0
    try:
        async with asyncio.timeout(LINGER_S):
            while True:
                message = await receive()
                dropped += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                if dropped > MAX_DRAIN_BYTES:
                    log.info("%s %s: closing after dropping %d bytes of request body", scope["method"],
                             scope["path"], dropped)
                    return
    except (TimeoutError, BodyTooSlow):
        log.info("%s %s: closing with the request body still arriving, too long or too slowly (%d bytes "
                 "dropped)", scope["method"], scope["path"], dropped)
