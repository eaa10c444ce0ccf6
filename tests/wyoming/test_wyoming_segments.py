"""A long Wyoming stream goes to the engine in segments of at most 4 s, like an HTTP upload, so a
dialogue job arriving meanwhile waits for one segment, not for the whole stream; a client that
hangs up stops its remaining segments."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import numpy as np

from voiceloop.asr.segments import MAX_SEGMENT_S
from voiceloop.audio.decode import decode_file
from voiceloop.engines.scheduler import Priority
from support.recordings import ZH
from support.wyoming_peer import ServerThread, pcm16, send_audio, wyoming_config


class Recorder:
    """The real engine, noting each job in order; the first service job waits until the test
    releases it (having queued a dialogue job behind it, or hung up)."""

    def __init__(self, engine):
        self._engine = engine
        self.name = engine.name
        self.jobs: list[tuple[str, int]] = []
        self.first_started = threading.Event()
        self.released = threading.Event()

    def transcribe(self, samples, hotwords=(), timestamps=True):
        self.jobs.append(("service", samples.size))
        if len(self.jobs) == 1:
            self.first_started.set()
            assert self.released.wait(30)
        return self._engine.transcribe(samples, hotwords, timestamps)

    def info(self):
        return self._engine.info()


def long_stream() -> np.ndarray:
    gap = np.zeros(8000, np.float32)
    samples = np.concatenate([p for f in sorted(ZH.glob("aishell1_*.wav")) * 2
                              for p in (decode_file(f), gap)])
    assert samples.size > 3 * MAX_SEGMENT_S * 16000
    return samples


async def test_a_long_stream_is_recognised_in_short_jobs_with_the_dialogue_between(seaco_asr, seaco_config):
    from voiceloop.tts.fallback import create_synthesizer

    samples = long_stream()
    engine = Recorder(seaco_asr)
    cfg = wyoming_config(seaco_config)
    with ServerThread(cfg, engine, create_synthesizer(cfg.tts)) as srv:
        async with srv.client() as client:
            await send_audio(client, pcm16(samples), 16000, chunk_ms=200)
            await asyncio.to_thread(engine.first_started.wait, 30)
            dialogue = asyncio.run_coroutine_threadsafe(
                srv.jobs.run(lambda: engine.jobs.append(("dialogue", 0)), priority=Priority.DIALOGUE), srv._loop)
            await srv.until_queued(Priority.DIALOGUE)
            engine.released.set()
            event = await client.read_event()
            await asyncio.wrap_future(dialogue)
    assert event.type == "transcript" and event.data["text"], event
    kinds = [kind for kind, _ in engine.jobs]
    assert kinds[:2] == ["service", "dialogue"] and kinds.count("service") >= 3, kinds
    assert max(size for _, size in engine.jobs) <= MAX_SEGMENT_S * 16000


async def test_a_client_that_hangs_up_stops_its_remaining_segments(seaco_asr, seaco_config, caplog):
    """Nobody will read the transcript: the segment in flight finishes, no other one starts."""
    from voiceloop.tts.fallback import create_synthesizer

    caplog.set_level(logging.INFO, logger="voiceloop.wyoming")
    engine = Recorder(seaco_asr)
    cfg = wyoming_config(seaco_config)
    with ServerThread(cfg, engine, create_synthesizer(cfg.tts)) as srv:
        async with srv.client() as client:
            await send_audio(client, pcm16(long_stream()), 16000, chunk_ms=200)
            await asyncio.to_thread(engine.first_started.wait, 30)
        engine.released.set()
        gone = time.monotonic()
        while "hung up waiting for its transcript" not in caplog.text:
            assert time.monotonic() - gone < 10, f"still recognising after the client left: {engine.jobs}"
            await asyncio.sleep(0.05)
    assert len(engine.jobs) == 1, engine.jobs
