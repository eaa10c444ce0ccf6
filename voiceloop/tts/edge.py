"""Microsoft Edge neural voices (edge-tts), decoded to PCM while the MP3 is still arriving.

The first audio of a sentence is playable after the first MP3 frames arrive instead of after the
whole sentence has been sent, which is most of the time-to-first-sound on a slow link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import edge_tts
import numpy as np
from edge_tts.exceptions import NoAudioReceived

from voiceloop.config import TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.mp3 import Mp3StreamDecoder
from voiceloop.tts.normalize import for_speech

log = logging.getLogger(__name__)
RECEIVE_TIMEOUT_S = 20  # between websocket messages once connected


class EdgeSynthesizer:
    """`Synthesizer` over edge-tts; every failure becomes a `TtsError` naming its cause."""

    name = "edge"

    def __init__(self, cfg: TtsConfig):
        self._cfg = cfg

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        cfg = self._cfg
        if cfg.voice.lower().startswith("zh"):  # Mandarin readings; an English voice reads its digits itself
            text = for_speech(text)
        try:
            comm = edge_tts.Communicate(text, cfg.voice, rate=cfg.rate, volume=cfg.volume, pitch=cfg.pitch,
                                        proxy=cfg.edge_proxy, connect_timeout=cfg.edge_connect_timeout_s,
                                        receive_timeout=RECEIVE_TIMEOUT_S)
        except ValueError as exc:
            raise TtsError(f"Edge TTS settings rejected: {exc} (tts.voice, tts.rate, tts.volume, tts.pitch)") from exc
        stream = comm.stream()
        decoder = Mp3StreamDecoder()
        try:
            while True:
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - edge-tts and aiohttp raise many kinds
                    raise self._error(exc, text) from exc
                if chunk["type"] == "audio" and chunk.get("data"):
                    pcm = await asyncio.to_thread(decoder.push, chunk["data"])
                    if pcm.size:
                        yield pcm
            tail = await asyncio.to_thread(decoder.flush)
            if tail.size:
                yield tail
        finally:
            await stream.aclose()  # closes the websocket, on cancellation too

    def _error(self, exc: Exception, text: str) -> TtsError:
        what = f"Edge TTS ({self._cfg.voice})"
        if isinstance(exc, NoAudioReceived):
            return TtsError(f"{what} sent no audio for {text[:30]!r}; check tts.voice (`edge-tts --list-voices`)")
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return TtsError(f"{what} unreachable: cannot resolve {exc.host} (no network or DNS?)")
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return TtsError(f"{what} cannot reach the proxy {self._cfg.edge_proxy}: {exc.os_error} (tts.edge_proxy)")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return TtsError(f"{what} unreachable: {exc.os_error or exc} (no network?)")
        if isinstance(exc, aiohttp.ClientResponseError):
            return TtsError(f"{what} {_status_text(exc.status)}")
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return TtsError(f"{what} timed out (tts.edge_connect_timeout_s={self._cfg.edge_connect_timeout_s})")
        return TtsError(f"{what} failed: {type(exc).__name__}: {exc}")


def _status_text(status: int) -> str:
    if status == 403:
        return "refused the request (HTTP 403); edge-tts may be out of date: pip install -U edge-tts"
    if status == 429:
        return "is rate limiting requests (HTTP 429)"
    return f"answered HTTP {status}"
