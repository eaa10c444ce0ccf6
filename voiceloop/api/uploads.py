"""Upload size limit, and the temporary folder an upload is decoded in.

The limit is enforced twice, both before the body is read in full: a declared `Content-Length`
over it gets 413 at once, and a body without one (chunked) is counted while it streams in and cut
off with 413 the moment it passes the limit.
The client still gets to read that 413 after sending its whole body: see `api/lingering.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceloop.api.errors import json_error
from voiceloop.asr.segments import Segment
from voiceloop.asr.spool import SpooledAudio, spool_and_segment
from voiceloop.audio.decode import AudioTooLong
from voiceloop.engines.servicejobs import DecodePool
from voiceloop.errors import AudioDecodeError

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields beside the file
_POLL_S = 0.5  # how often a decoding upload asks whether its client is still there


class UploadTooLarge(HTTPException):
    pass


class UploadLimit:
    """ASGI middleware capping every request body at `max_bytes` (+ multipart overhead)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.message = (f"upload too large: the limit is {max_bytes / 2**20:g} MB (api.max_upload_mb); "
                        "send a shorter or more compressed recording")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes + FORM_OVERHEAD
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await json_error(413, self.message, "upload_too_large",
                                    headers={"Connection": "close"})(scope, receive, send)
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise UploadTooLarge(413, self.message, headers={"Connection": "close"})
            return message

        await self.app(scope, counting_receive, send)


@contextlib.asynccontextmanager
async def decoded_upload(file: BinaryIO, label: str, max_s: float, disconnected: Callable[[], Awaitable[bool]],
                         pool: DecodePool) -> AsyncIterator[tuple[SpooledAudio, list[Segment]]]:
    """The upload decoded (on `pool`'s threads) into a private temporary folder and cut at pauses;
    the folder goes when the block ends. Decoding stops within half a second of the client hanging
    up (Abandoned), and at `max_s` seconds of audio (AudioTooLong naming api.max_audio_s). `label`
    (the client's file name) only appears in messages, never in a path."""
    with tempfile.TemporaryDirectory(prefix="voiceloop-upload-") as folder:
        path, spool = Path(folder) / "upload", Path(folder) / "decoded.f32"
        stop = threading.Event()
        work = asyncio.ensure_future(pool.run(_copy_and_spool, file, path, spool, max_s, stop))
        try:
            while not (await asyncio.wait({work}, timeout=_POLL_S))[0]:
                if await disconnected():
                    stop.set()
            result = work.result()
        except AudioTooLong:
            raise AudioTooLong(f"{label}: the audio is longer than api.max_audio_s ({max_s:g} s) allows; "
                               "send a shorter recording, or split it") from None
        except AudioDecodeError as exc:
            raise AudioDecodeError(str(exc).replace(str(path), label)) from None
        finally:
            stop.set()
            await asyncio.wait({work})  # the worker thread is done with the folder before it goes
        yield result


def _copy_and_spool(file: BinaryIO, path: Path, spool: Path, max_s: float,
                    stop: threading.Event) -> tuple[SpooledAudio, list[Segment]]:
    file.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(file, out, 1 << 20)
    return spool_and_segment(path, spool, max_s, stop)
