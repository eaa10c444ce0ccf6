"""A loopback stand-in for the Edge TTS websocket service, to run the real edge-tts client against.

It speaks the service's protocol (speech.config + SSML in; turn.start, binary MP3 audio messages,
turn.end out) with audio the test provides, and fails the way the real service does: after
`serve_turns` sentences it closes every new connection before sending audio ("No audio was
received"). The client is pointed here by swapping edge-tts's WSS_URL for this server's ws:// URL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Self

from aiohttp import WSMsgType, web

_SSML_TEXT = re.compile(r"<prosody[^>]*>(.*?)</prosody>", re.DOTALL)
AUDIO_HEADER = b"X-RequestId:loopback\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n"


class LoopbackEdge:
    """`async with LoopbackEdge(mp3_for, serve_turns=2) as edge:` then `edge.url`; `edge.texts` lists requests."""

    def __init__(self, mp3_for: Callable[[str], bytes], serve_turns: int, chunk_bytes: int = 4096):
        self._mp3_for = mp3_for
        self._serve_turns = serve_turns
        self._chunk = chunk_bytes
        self.texts: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/edge/v1", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/edge/v1?TrustedClientToken=loopback"
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        text = None
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and "Path:ssml" in msg.data:
                found = _SSML_TEXT.search(msg.data)
                text = html.unescape(found.group(1)) if found else ""
                break
        if text is None:
            return ws
        self.texts.append(text)
        if len(self.texts) > self._serve_turns:
            await ws.close()  # the service hung up: the client sees no audio
            return ws
        await ws.send_str("X-RequestId:loopback\r\nPath:turn.start\r\n\r\n{}")
        mp3 = self._mp3_for(text)
        for i in range(0, len(mp3), self._chunk):
            await ws.send_bytes(len(AUDIO_HEADER).to_bytes(2, "big") + AUDIO_HEADER + mp3[i:i + self._chunk])
        await ws.send_str("X-RequestId:loopback\r\nPath:turn.end\r\n\r\n{}")
        await ws.close()
        return ws
