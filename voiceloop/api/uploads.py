"""Upload size limit and the temporary file an upload is decoded from.

The limit is enforced twice, both before the body is read in full: a declared `Content-Length`
over it gets 413 at once, and a body without one (chunked) is counted while it streams in and cut
off with 413 the moment it passes the limit.
The client still gets to read that 413 after sending its whole body: see `api/lingering.py`.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceloop.api.errors import json_error
from voiceloop.audio.decode import decode_file
from voiceloop.errors import AudioDecodeError

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields beside the file


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


async def decode_upload(file: BinaryIO, label: str) -> np.ndarray:
    """Decode an uploaded file via a private temporary file (removed after use). `label` (the
    client's file name) only appears in messages, never in a path."""
    with tempfile.TemporaryDirectory(prefix="voiceloop-upload-") as folder:
        path = Path(folder) / "upload"
        try:
            return await asyncio.to_thread(_copy_and_decode, file, path)
        except AudioDecodeError as exc:
            raise AudioDecodeError(str(exc).replace(str(path), label)) from None


def _copy_and_decode(file: BinaryIO, path: Path) -> np.ndarray:
    file.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(file, out, 1 << 20)
    return decode_file(path)
