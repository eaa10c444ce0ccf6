"""A real voiceloop Wyoming server on a loopback port (in its own thread and event loop, so one
server can serve a whole test module), and a Home Assistant-like client over `wyoming`'s own
`AsyncTcpClient`."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from support.net import closed_port
from voiceloop.config import AsrConfig, Config, TtsConfig, WhisperConfig, WyomingConfig
from voiceloop.engines import Engines
from voiceloop.engines.scheduler import EngineScheduler, Priority

READ_TIMEOUT_S = 60


def wyoming_config(asr: AsrConfig, **wyoming) -> Config:
    return Config(asr=asr,
                  tts=TtsConfig(engine="edge", edge_proxy=f"http://127.0.0.1:{closed_port()}", edge_retry_s=600),
                  wyoming=WyomingConfig(uri=f"tcp://127.0.0.1:{closed_port()}", **wyoming))


def whisper_config(model_dir) -> AsrConfig:
    return AsrConfig(engine="whisper", device="cpu", threads=2, whisper=WhisperConfig(model=str(model_dir)))


class ServerThread:
    """`with ServerThread(cfg, asr, tts) as srv:` — `WyomingServer` listening on `cfg.wyoming.uri`."""

    def __init__(self, cfg: Config, asr, tts, jobs: EngineScheduler | None = None):
        self.cfg, self._asr, self._tts = cfg, asr, tts
        self.engines = Engines.shared(cfg, asr, tts, jobs)
        self.jobs = self.engines.asr_jobs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wyoming-test-server", daemon=True)
        self.server = None
        self.loop_errors: list[dict] = []  # what the loop reported: e.g. "Task exception was never retrieved"
        self._loop.set_exception_handler(self._loop_error)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        self.loop_errors.append(context)
        loop.default_exception_handler(context)

    def __enter__(self) -> ServerThread:  # noqa: PYI034 - not subclassed
        from voiceloop.wyoming.server import WyomingServer

        self._thread.start()

        async def start():
            server = WyomingServer(self.cfg, self.engines)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self.engines.close()

    def occupy_engine(self, seconds: float):
        """Keep the engine's scheduler busy with a dialogue-priority job; returns its future."""
        return asyncio.run_coroutine_threadsafe(self.jobs.run(time.sleep, seconds, priority=Priority.DIALOGUE),
                                                self._loop)

    async def until_waiting(self, service_jobs: int) -> None:
        """Return once `service_jobs` service jobs wait in the engine's queue (asked on the server's loop)."""
        await self.until_queued(Priority.SERVICE, service_jobs)

    async def until_queued(self, priority, jobs: int = 1) -> None:
        """Return once `jobs` jobs of `priority` wait in the engine's queue (asked on the server's loop)."""
        async def waiting() -> int:
            stats = self.jobs.stats()
            return stats.waiting_dialogue if priority == Priority.DIALOGUE else stats.waiting_service

        while await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(waiting(), self._loop)) < jobs:
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        return int(self.cfg.wyoming.uri.rsplit(":", 1)[1])

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port, connect_timeout=10, read_timeout=READ_TIMEOUT_S)


def pcm16(samples: np.ndarray) -> bytes:
    """float32 (n,) or (n, channels) -> interleaved signed 16-bit little-endian."""
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def send_audio(client: AsyncTcpClient, pcm: bytes, rate: int, width: int = 2, channels: int = 1,
                     chunk_ms: int = 20, transcribe: Transcribe | None = None) -> None:
    """transcribe (optional), audio-start, `chunk_ms` audio-chunks, audio-stop — as Home Assistant streams."""
    if transcribe is not None:
        await client.write_event(transcribe.event())
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    step = rate * chunk_ms // 1000 * width * channels
    for at in range(0, len(pcm), step):
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels,
                                            audio=pcm[at:at + step]).event())
    await client.write_event(AudioStop().event())


async def next_event(client: AsyncTcpClient) -> Event | None:
    """The next event, or None when the server closed the connection."""
    return await client.read_event()


@dataclass
class Speech:
    """What came back for a synthesis request, with arrival times (monotonic seconds)."""

    events: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    formats: set = field(default_factory=set)
    first_chunk_at: float | None = None
    errors: list[dict] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / 2 / 16000

    def samples(self) -> np.ndarray:
        return np.frombuffer(bytes(self.audio), "<i2").astype(np.float32) / 32768


async def read_speech(client: AsyncTcpClient, until: str = "audio-stop") -> Speech:
    """Collect audio events up to and including `until` (audio-stop, or synthesize-stopped)."""
    speech = Speech()
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed after {speech.events}"
        speech.events.append(event.type)
        if event.type == "audio-chunk":
            chunk = AudioChunk.from_event(event)
            speech.first_chunk_at = speech.first_chunk_at or time.monotonic()
            speech.formats.add((chunk.rate, chunk.width, chunk.channels))
            speech.audio += chunk.audio
        elif event.type == "error":
            speech.errors.append(event.data)
        if event.type == until:
            return speech
