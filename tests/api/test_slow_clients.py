"""Slowloris: hundreds of connections trickling a request head or body a byte at a time neither
slow /health down nor stay open: the server closes them within a minute."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from voiceloop.api.slowclients import BODY_GRACE_S, HEAD_TIMEOUT_S
from support.api_server import running_api

from api.conftest import make_engines

pytestmark = pytest.mark.room  # real-time deadlines against trickling clients: timing-sensitive

HEADS, BODIES = 200, 100


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr):
    with running_api(tiny_cfg, make_engines(tiny_cfg, tiny_asr)) as running:
        yield running


async def _trickler(host: str, port: int, opening: bytes, closed_at: list[float], answers: list[bytes]) -> None:
    """Send `opening`, then one more byte every half second until the server hangs up."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(opening)
    reading = asyncio.ensure_future(reader.read())
    try:
        while not reading.done():
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({reading}, timeout=0.5)
        answers.append(await reading)
    except ConnectionError:
        answers.append(b"")
    closed_at.append(time.monotonic())
    writer.close()


async def test_trickling_clients_neither_block_health_nor_stay_open(api):
    url = httpx.URL(api.url)
    head = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    body = (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")
    closed_at: list[float] = []
    answers: list[bytes] = []
    started = time.monotonic()
    clients = [asyncio.ensure_future(_trickler(url.host, url.port, opening, closed_at, answers))
               for opening in [head] * HEADS + [body] * BODIES]
    await asyncio.sleep(3)
    async with httpx.AsyncClient() as client:
        for _ in range(5):
            asked = time.monotonic()
            r = await client.get(api.url + "/health", timeout=5)
            assert r.status_code == 200 and time.monotonic() - asked < 1.0, time.monotonic() - asked
            await asyncio.sleep(0.5)
    done, pending = await asyncio.wait(clients, timeout=60 - (time.monotonic() - started))
    for task in pending:
        task.cancel()
    assert not pending, f"{len(pending)} of {HEADS + BODIES} trickling connections still open after a minute"
    for task in done:
        task.result()
    assert max(closed_at) - started < HEAD_TIMEOUT_S + BODY_GRACE_S + 15
    # A slow body is answered 408 and the connection closed. The trickler is still sending, so the
    # close can reset the connection and destroy the 408 before it is read (TCP's rule for unread
    # data; lingering here would keep the very connections open that this is meant to shed): each
    # slow body sees the 408 or a reset, never another answer, and the 408 names the reason.
    slow_bodies = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
    assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers), {a[:100] for a in answers}
    assert slow_bodies, "no slow body was told why it was closed"
    assert b"slower than 8 KiB/s" in slow_bodies[0]
