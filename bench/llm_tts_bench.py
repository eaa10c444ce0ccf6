"""Latency of the reply path on this machine: LLM client, sentence splitting, TTS engines.

Run by hand:  .venv/bin/python bench/llm_tts_bench.py
Uses the loopback OpenAI server from tests/support and a real recording from ../shared/audio.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from contextlib import aclosing
from pathlib import Path

from support.audiofiles import write_audio
from support.openai_server import OpenAIServer, Script
from voiceloop.audio.decode import decode_file
from voiceloop.audio.frames import resample
from voiceloop.config import LlmConfig, TtsConfig
from voiceloop.llm.base import Message
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.mp3 import Mp3StreamDecoder
from voiceloop.tts.sentences import SentenceSplitter

REPO = Path(__file__).resolve().parents[1]

ASK = [Message("user", "你好")]
REPLY = "好的！今天北京的天气非常好，气温在二十度左右，非常适合出门散步。你有什么打算吗？" * 3


def ms(x: float) -> str:
    return f"{x * 1e3:.2f} ms"


async def llm_numbers() -> None:
    async with OpenAIServer(Script(deltas=tuple(REPLY), comments=False)) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        firsts, totals = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            async with aclosing(client.stream(ASK)) as deltas:
                n = 0
                async for _d in deltas:
                    if n == 0:
                        firsts.append(time.perf_counter() - t0)
                    n += 1
            totals.append((time.perf_counter() - t0) / n)
        print(f"llm: request -> first delta on loopback (median of 20): {ms(statistics.median(firsts))}")
        print(f"llm: per delta, server write to client yield, {len(REPLY)} deltas: "
              f"{statistics.median(totals) * 1e6:.0f} us")
        srv.script(Script(deltas=tuple(REPLY) * 20, delta_delay_s=0.02))
        lags = []
        for _ in range(10):
            srv.disconnected.clear()
            task = asyncio.create_task(_consume(client))
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await srv.disconnected.wait()
            lags.append(srv.requests[-1].disconnected_at - t0)
        print(f"llm: cancel -> server sees the disconnect (median of 10): {ms(statistics.median(lags))}")
        await client.aclose()


async def _consume(client: OpenAICompatibleClient) -> None:
    async with aclosing(client.stream(ASK)) as deltas:
        async for _ in deltas:
            pass


def splitter_numbers() -> None:
    s = SentenceSplitter(20)
    t0 = time.perf_counter()
    first_at = None
    for i, ch in enumerate(REPLY):
        if s.push(ch) and first_at is None:
            first_at = i + 1
    s.flush()
    per = (time.perf_counter() - t0) / len(REPLY)
    print(f"splitter: first sentence out after {first_at} of {len(REPLY)} chars; {per * 1e6:.1f} us per 1-char delta")


async def tts_numbers() -> None:
    t0 = time.perf_counter()
    from voiceloop.tts.pinyin import to_pinyin
    to_pinyin("你好")
    print(f"espeak: pypinyin first call (dictionary load): {ms(time.perf_counter() - t0)}")
    synth = EspeakSynthesizer(TtsConfig())
    for text in ("好的！", "今天北京的天气非常好，气温在二十度左右，非常适合出门散步。"):
        times, n = [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            n = sum(c.size for c in [c async for c in synth.synthesize(text)])
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"espeak: {len(text)} chars -> {n / 16000:.2f} s audio in {ms(t)} (RTF {t / (n / 16000):.3f})")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    fb = create_synthesizer(TtsConfig(edge_proxy=proxy))
    t0 = time.perf_counter()
    async with aclosing(fb.synthesize("好的！")) as chunks:
        async for _ in chunks:
            break
    print(f"fallback: edge refused -> first espeak audio: {ms(time.perf_counter() - t0)}")


async def mp3_numbers() -> None:
    speech = decode_file(REPO.parent / "shared" / "audio" / "zh" / "funasr_asr_example.wav")
    path = write_audio(Path("/tmp/voiceloop_bench.mp3"), resample(speech, 16000, 24000), 24000)
    data = path.read_bytes()
    dec = Mp3StreamDecoder()
    t0 = time.perf_counter()
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    for c in chunks:
        dec.push(c)
    dec.flush()
    per = (time.perf_counter() - t0) / len(chunks)
    print(f"mp3: {len(data)} B ({speech.size / 16000:.1f} s) in 4 KB pieces: {ms(per)} per piece "
          f"(~0.68 s of audio each at 48 kbit/s)")
    dec = Mp3StreamDecoder()
    t0 = time.perf_counter()
    for c in chunks:
        await asyncio.to_thread(dec.push, c)
    per_thread = (time.perf_counter() - t0) / len(chunks)
    print(f"mp3: same through asyncio.to_thread: {ms(per_thread)} per piece")


async def main() -> None:
    await llm_numbers()
    splitter_numbers()
    await tts_numbers()
    await mp3_numbers()


if __name__ == "__main__":
    asyncio.run(main())
