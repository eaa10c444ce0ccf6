"""Bad input gets an `error` event naming the problem (or, when the stream cannot go on, a closed
connection), and the server goes on serving everyone else."""

from __future__ import annotations

import asyncio

import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event
from wyoming.info import Describe

from support.recordings import ZH
from support.wyoming_peer import next_event, pcm16
from voiceloop.audio.decode import decode_file

MONO16 = {"rate": 16000, "width": 2, "channels": 1}


async def test_ping_and_selecting_our_program_are_answered_quietly(seaco_server):
    async with seaco_server.client() as client:
        await client.write_event(Event("select-program", {"name": "voiceloop"}))
        await client.write_event(Event("ping", {"text": "hi"}))
        assert (await client.read_event()) == Event("pong", {"text": "hi"})


async def still_served(srv) -> None:
    async with srv.client() as client:
        await client.write_event(Describe().event())
        assert (await client.read_event()).type == "info"


async def _expect_error(client, events, code: str, words: str) -> None:
    """Send `events`; the answer must be an `error` with `code`, its text naming the problem."""
    for event in events:
        await client.write_event(event)
    error = await client.read_event()
    assert error.type == "error" and error.data["code"] == code, error
    assert words in error.data["text"]


@pytest.mark.parametrize("events, code, words", [
    ([Event("bogus-event")], "unknown-event", "unknown event type 'bogus-event'"),
    ([Event("select-program", {"name": "whisper"})], "unknown-program", "no program 'whisper' here"),
    ([Event("transcribe", {"language": "ja"})], "unsupported-language", "choose one of zh, zh-cn"),
    ([Event("transcribe", {"context": {"hotwords": 5}})], "bad-hotwords", "context.hotwords must be a list"),
    ([Event("transcribe", {"transcript_names": ["客厅" * 20]})], "bad-hotwords", "longer than 32"),
    ([Event("audio-start", {"rate": 16000})], "bad-event", "malformed audio-start"),
    ([Event("synthesize-chunk", {"text": "你好"})], "no-synthesize-start", "without synthesize-start"),
    ([Event("synthesize", {"text": "你好", "voice": {"name": "nobody"}})], "unknown-voice", "'nobody'"),
])
async def test_a_bad_request_gets_an_error_and_the_connection_stays_usable(seaco_server, events, code, words):
    async with seaco_server.client() as client:
        await _expect_error(client, events, code, words)
        await client.write_event(Describe().event())
        assert (await client.read_event()).type == "info"


@pytest.mark.parametrize("events, code, words", [
    ([AudioChunk(audio=b"\0" * 640, **MONO16).event()], "no-audio-start", "audio-chunk without audio-start"),
    ([Event("audio-stop")], "no-audio-start", "audio-stop without audio-start"),
    ([AudioStart(rate=16000, width=5, channels=1).event()], "bad-audio-format", "width=5"),
    ([AudioStart(**MONO16).event(), AudioChunk(audio=b"\0" * 640, rate=8000, width=2, channels=1).event()],
     "format-changed", "one stream must keep one format"),
])
async def test_a_broken_stream_gets_an_error_and_is_closed(seaco_server, events, code, words):
    async with seaco_server.client() as client:
        await _expect_error(client, events, code, words)
        assert await next_event(client) is None
    await still_served(seaco_server)


async def test_more_audio_than_the_upload_limit_is_refused(seaco_server):
    """The server under test allows 1 MiB (api.max_upload_mb: 1): 34 s of 16 kHz 16-bit audio.

    The client streams on past the limit and reads only at the end, as a microphone stream does:
    the error must still be there (a server that closes on unread chunks resets the connection)."""
    chunk = AudioChunk(audio=b"\1\0" * 16000, **MONO16).event()  # 1 s, 32000 bytes
    async with seaco_server.client() as client:
        await client.write_event(AudioStart(**MONO16).event())
        for _ in range(2**20 // 32000 + 1 + 500):  # 16 MB past it: more than socket buffers hold
            await client.write_event(chunk)
        await client.write_event(Event("audio-stop"))
        error = await client.read_event()
        assert error.type == "error" and error.data["code"] == "too-much-audio", error
        assert "1 MiB" in error.data["text"] and "api.max_upload_mb" in error.data["text"]
        assert await next_event(client) is None
    await still_served(seaco_server)


async def test_garbage_instead_of_an_event_closes_only_that_connection(seaco_server):
    reader, writer = await asyncio.open_connection("127.0.0.1", seaco_server.port)
    writer.write(b"this is not a wyoming event\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert b'"code": "bad-framing"' in answer and b"the event header is not JSON" in answer, answer
    writer.close()
    await still_served(seaco_server)


async def test_a_busy_engine_is_reported_and_the_connection_can_retry(seaco_server):
    """The desk's dialogue holds the engine and one service job already waits: the next is refused
    with `busy` (and when to retry) instead of queueing without bound; a retry is then served."""
    speech = pcm16(decode_file(ZH / "aishell1_BAC009S0724W0121.wav")[:16000])  # silence would skip the engine
    audio = AudioChunk(audio=speech, **MONO16).event()
    dialogue = seaco_server.occupy_engine(2.0)
    async with seaco_server.client() as waiting, seaco_server.client() as refused:
        for client in (waiting, refused):
            await client.write_event(AudioStart(**MONO16).event())
            await client.write_event(audio)
        await waiting.write_event(Event("audio-stop"))
        await seaco_server.until_waiting(1)
        await refused.write_event(Event("audio-stop"))
        error = await refused.read_event()
        assert error.type == "error" and error.data["code"] == "busy", error
        assert "retry in" in error.data["text"]
        assert (await waiting.read_event()).type == "transcript"
        await refused.write_event(AudioStart(**MONO16).event())
        await refused.write_event(audio)
        await refused.write_event(Event("audio-stop"))
        assert (await refused.read_event()).type == "transcript"
    dialogue.result(timeout=10)
