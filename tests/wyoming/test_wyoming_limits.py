"""What one Wyoming client can make the server hold: events over the limit are refused from their
header, text to speak is capped, an idle or trickling connection is let go, connections are counted,
and broken framing is answered, never left as an exception in a task nobody awaits."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.info import Describe
from wyoming.ping import Ping
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart

from voiceloop.wyoming.requests import MAX_TEXT_CHARS
from support.memory import PeakRss
from support.wyoming_peer import ServerThread, next_event, wyoming_config


async def _raw(srv) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", srv.port)


async def _error_then_closed(reader: asyncio.StreamReader, timeout: float = 10) -> dict:
    """The `error` event the server sent before closing (it must close: read to the end)."""
    answer = await asyncio.wait_for(reader.read(), timeout)
    header, _, rest = answer.partition(b"\n")
    event = json.loads(header)
    assert event["type"] == "error", answer
    return json.loads(rest[:event["data_length"]])


async def still_served(srv) -> None:
    async with srv.client() as client:
        await client.write_event(Describe().event())
        assert (await client.read_event()).type == "info"


@pytest.mark.parametrize("header, words", [
    ({"type": "audio-chunk", "payload_length": 4 << 30}, "payload_length is 4294967296 bytes, over the 1048576"),
    ({"type": "synthesize", "data_length": 1 << 30}, "data_length is 1073741824 bytes, over the 262144"),
])
async def test_an_event_over_the_limit_is_refused_from_its_header(seaco_server, header, words):
    """The header alone gets the error: the server does not wait for (or hold) the gigabytes it declares."""
    reader, writer = await _raw(seaco_server)
    writer.write(json.dumps(header).encode() + b"\n" + b"\0" * 1000)
    await writer.drain()
    writer.write_eof()  # the client gives up after 1000 of the declared bytes
    error = await _error_then_closed(reader)
    assert error["code"] == "event-too-large" and words in error["text"], error
    writer.close()
    await still_served(seaco_server)


@pytest.mark.parametrize("line", [b'{"type": "audio-chunk", "payload_length": "lots"}', b'["describe"]',
                                  b'{"data": {}}', b'{"type": "synthesize", "data_length": 4}\nnope',
                                  b'{"type": "synthesize", "data_length": 2}\n[]', b"\xff\xfe{}"])
async def test_broken_framing_is_answered_and_no_task_fails_unseen(seaco_server, line):
    reader, writer = await _raw(seaco_server)
    writer.write(line + b"\n")
    await writer.drain()
    writer.write_eof()
    error = await _error_then_closed(reader)
    assert error["code"] == "bad-framing", error
    writer.close()
    await still_served(seaco_server)
    gc.collect()
    assert not [e for e in seaco_server.loop_errors if "exception" in e], seaco_server.loop_errors


async def test_text_to_speak_is_capped(seaco_server):
    async with seaco_server.client() as client:
        await client.write_event(Synthesize(text="好" * (MAX_TEXT_CHARS + 1)).event())
        error = await asyncio.wait_for(client.read_event(), 20)
        assert error.type == "error" and error.data["code"] == "text-too-long", error
        assert f"over {MAX_TEXT_CHARS} characters" in error.data["text"]
        await client.write_event(Describe().event())  # a one-shot request: the connection goes on
        assert (await client.read_event()).type == "info"
    async with seaco_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        for _ in range(MAX_TEXT_CHARS // 1000 + 1):
            await client.write_event(SynthesizeChunk(text="很" * 1000).event())
        error = await asyncio.wait_for(client.read_event(), 20)
        assert error.type == "error" and error.data["code"] == "text-too-long", error
        assert await next_event(client) is None


@pytest.fixture(scope="module")
def strict_server(seaco_asr, seaco_config):
    """One-second idle timeout and two connections at most."""
    from voiceloop.tts.fallback import create_synthesizer

    cfg = wyoming_config(seaco_config, idle_timeout_s=1.0, max_connections=2)
    with ServerThread(cfg, seaco_asr, create_synthesizer(cfg.tts)) as srv:
        yield srv


async def test_an_idle_or_trickling_connection_is_closed(strict_server):
    reader, writer = await _raw(strict_server)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # said nothing
    assert 0.9 < time.monotonic() - started < 5
    writer.close()
    reader, writer = await _raw(strict_server)
    started = time.monotonic()
    header = json.dumps(Describe().event().to_dict()).encode() + b"\n"
    with pytest.raises(ConnectionError):
        for byte in header * 100:  # one byte every 50 ms: never a whole event within a second
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
            assert time.monotonic() - started < 5, "a trickling client was not let go"
        await writer.drain()
    writer.close()


async def _described(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Send `describe` on a raw connection; the type of the event that answers it."""
    writer.write(json.dumps(Describe().event().to_dict()).encode() + b"\n")
    await writer.drain()
    header = json.loads(await asyncio.wait_for(reader.readline(), 10))
    await reader.readexactly(header.get("data_length", 0) + header.get("payload_length", 0))
    return header["type"]


async def test_connections_beyond_the_limit_are_told_to_retry(strict_server):
    first, second = await _raw(strict_server), await _raw(strict_server)
    assert [await _described(*first), await _described(*second)] == ["info", "info"]  # both are being served
    reader, writer = await _raw(strict_server)
    error = await _error_then_closed(reader)
    assert error["code"] == "busy" and "wyoming.max_connections" in error["text"], error
    writer.close()
    first[1].close()
    async with asyncio.timeout(10):  # the server frees the slot once it reads the first one's end
        while True:
            third = await _raw(strict_server)
            answer = await _described(*third)
            third[1].close()
            if answer == "info":
                break
            assert answer == "error", answer
            await asyncio.sleep(0.01)
    second[1].close()



async def test_a_big_chunk_at_a_low_rate_is_converted_in_bounded_memory_off_the_loop(seaco_server):
    """1 MiB of 8 kHz 8-bit audio in one chunk (2.1 million samples out): converted by a streaming
    resampler in a worker thread, not through index and weight tables of samples x taps on the
    event loop (half a gigabyte here, gigabytes at lower rates)."""
    fmt = {"rate": 8000, "width": 1, "channels": 1}
    audio = (128 + 60 * np.sin(np.arange(2**20) * 0.3)).astype(np.uint8).tobytes()
    async with seaco_server.client() as client, seaco_server.client() as other:
        await client.write_event(AudioStart(**fmt).event())
        with PeakRss() as rss:
            await client.write_event(AudioChunk(audio=audio, **fmt).event())
            await client.write_event(Ping(text="after").event())
            await asyncio.sleep(0.05)
            asked = time.monotonic()
            await other.write_event(Ping(text="meanwhile").event())
            assert (await other.read_event()).data["text"] == "meanwhile"
            answered = time.monotonic() - asked
            assert (await client.read_event()).data["text"] == "after"
    assert rss.growth_mb < 100, f"{rss.growth_mb:.0f} MB to convert 1 MiB of audio"
    assert answered < 0.5, f"another client waited {answered:.2f} s for its pong"
