"""Soak: many turns through the whole daemon; does anything grow? (RSS, fds, threads, asyncio tasks)

    .venv/bin/python bench/soak.py [--turns 1000] [--sample 100 1000] [--speed 0]

The simulated room, at accelerated speed (`--speed 0`: as fast as the CPU allows), with the real
front end (AEC3, silero, double-talk detector), a loopback OpenAI-compatible LLM, espeak-ng as the
voice and the tiny random-weight Paraformer as ASR (real FunASR code, cheap weights). The user
says a real recording each time the assistant has finished. Targets between the first sample
(turn 100, after warm-up) and the last (turn 1000): RSS growth <= 5 %, no growth in file
descriptors, threads or asyncio tasks. A 100-turn version runs in tests/dialogue/test_soak.py.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from support.funasr_models import build_tiny_models
from support.net import closed_port
from support.recordings import ZH
from support.soak import run_soak

from voiceloop.asr import create_engine
from voiceloop.audio.decode import decode_file
from voiceloop.config import AsrConfig, TtsConfig
from voiceloop.logs import setup_logging

CLIPS = ("uberi_chinese.wav",)  # 1 s of real Mandarin: the shortest turn, so 1000 fit in minutes


def tiny_paraformer(work: Path):
    models = build_tiny_models(work / "models")
    return create_engine(AsrConfig(engine="paraformer", model=str(models.paraformer), vad_model="", punc_model="",
                                   device="cpu", threads=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--sample", type=int, nargs="+", default=[100, 1000], help="turns after which to sample")
    parser.add_argument("--speed", type=float, default=0.0, help="room speed, x real time (0: as fast as possible)")
    parser.add_argument("--edge-down", action="store_true",
                        help="the default voice, Edge, failing on every sentence (its proxy a closed loopback port, "
                             "retried at once), espeak speaking instead: an offline box's failure path")
    args = parser.parse_args()
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        asr = tiny_paraformer(Path(tmp))
        clips = [decode_file(ZH / name) for name in CLIPS]
        started = time.perf_counter()
        tts = (TtsConfig(engine="edge", edge_proxy=f"http://127.0.0.1:{closed_port()}", edge_retry_s=0)
               if args.edge_down else TtsConfig(engine="espeak"))
        samples = asyncio.run(run_soak(asr, clips, args.turns, args.sample, Path(tmp), speed=args.speed,
                                       on_sample=lambda s: print(s.line(), flush=True), tts=tts))
        took = time.perf_counter() - started
    first, last = samples[0], samples[-1]
    growth = (last.rss_mb - first.rss_mb) / first.rss_mb * 100
    print(f"\n{last.turn} turns in {took:.0f} s ({took / last.turn * 1000:.0f} ms a turn)")
    print(f"turn {first.turn} -> {last.turn}: RSS {growth:+.1f} % (target <= 5 %: {max(growth, 0) / 5:.2f}x), "
          f"fds {last.fds - first.fds:+d}, threads {last.threads - first.threads:+d}, "
          f"asyncio tasks {last.tasks - first.tasks:+d} (targets: +0)")


if __name__ == "__main__":
    main()
