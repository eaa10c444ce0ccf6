"""HTTP API under load, and what it costs the spoken dialogue (run by hand).

    nice -n 10 .venv/bin/python bench/api.py [--models DIR] [--upload-s 600] [--threads 2]

The engine is the Paraformer-large shaped SeACo model with random weights (built once into
--models by tests/support/funasr_models.py, as bench/asr_throughput.py does): real speed, no real
text. The server is the real app on uvicorn on 127.0.0.1 with the default scheduler (8 waiting
service jobs at most), and the requests come through the official `openai` client.

1. The dialogue's ASR time: a 5 s utterance submitted at DIALOGUE priority, as the turn loop
   does, when idle and while a long upload (--upload-s, default 10 minutes) is transcribed.
   Turns come 1-4 s apart (random, seeded), as a conversation's do (the user speaks, the reply
   plays); `--gap-s 0.3` submits them back to back instead. Each turn first "speaks" for the
   clip's length with the scheduler held, as the front end's speech onset does in the daemon
   (`Assistant._on_speech_start`), so the upload's segments pause while the user talks and the
   turn waits at most for the segment already running; `--no-hold` measures without that.
   Target: mean while loaded <= 1.5x idle.
2. Requests per second and p50/p95 latency for a 5 s clip with 1, 4 and 16 concurrent clients
   (503 answers when the queue is full are counted, not retried).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


TARGET_RATIO = 1.5


def encode_flac(samples) -> bytes:
    """FLAC keeps a 10-minute upload under the 25 MB limit."""
    import tempfile

    from support.audiofiles import write_audio

    with tempfile.TemporaryDirectory() as folder:
        return write_audio(Path(folder) / "a.flac", samples, 16000).read_bytes()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def dialogue_calls(api, clip, until: threading.Event | None, count: int, gaps, hold: bool = True
                   ) -> list[tuple[float, float]]:
    """ASR of `clip` through the shared scheduler at DIALOGUE priority, as the turn loop submits it,
    after the user's speech (the clip's length) with service jobs held back from its onset.
    Returns (total, inference) seconds per call from the end of speech: total - inference is the
    wait for the engine."""
    from voiceloop.engines.scheduler import Priority

    engines = api.ctx.engines

    def recognise():
        started = time.perf_counter()
        engines.asr.transcribe(clip, ())
        return time.perf_counter() - started

    calls = []
    while (len(calls) < count) if until is None else not until.is_set():
        if hold:
            api.loop.call_soon_threadsafe(engines.asr_jobs.hold, 30.0)
        time.sleep(len(clip) / 16000)  # the user speaking
        started = time.perf_counter()
        inference = asyncio.run_coroutine_threadsafe(
            engines.asr_jobs.run(recognise, priority=Priority.DIALOGUE), api.loop).result()
        calls.append((time.perf_counter() - started, inference))
        time.sleep(gaps())
    return calls


def summary(label: str, calls: list[tuple[float, float]]) -> str:
    total = [c[0] for c in calls]
    wait = [c[0] - c[1] for c in calls]
    return (f"   {label}: n={len(calls):>3} mean {statistics.mean(total):.3f} s  p50 {pct(total, .5):.3f}  "
            f"p95 {pct(total, .95):.3f}  max {max(total):.3f}  (waiting for the engine: mean {statistics.mean(wait):.3f}, "
            f"max {max(wait):.3f})")


def measure_dialogue(api, client, clip, upload: bytes, upload_s: float, gaps, hold: bool = True) -> None:
    idle = dialogue_calls(api, clip, None, 10, gaps, hold)
    done = threading.Event()
    result = {}

    def transcribe_upload():
        started = time.perf_counter()
        client.audio.transcriptions.create(model="x", file=("long.flac", upload), response_format="verbose_json")
        result.update(wall=time.perf_counter() - started)
        done.set()

    jobs_before = api.ctx.engines.asr_jobs.stats().jobs_done
    worker = threading.Thread(target=transcribe_upload)
    worker.start()
    loaded = dialogue_calls(api, clip, done, 0, gaps, hold)
    worker.join()
    jobs = api.ctx.engines.asr_jobs.stats().jobs_done - jobs_before - len(loaded)
    idle_after = dialogue_calls(api, clip, None, 10, gaps, hold)
    idle_all = idle + idle_after
    ratio = statistics.mean(c[0] for c in loaded) / statistics.mean(c[0] for c in idle_all)
    # The same calls' own inference time, under the same machine load: what queueing alone adds.
    queue_ratio = statistics.mean(c[0] for c in loaded) / statistics.mean(c[1] for c in loaded)
    print(f"\n1. dialogue ASR of a 5 s utterance (DIALOGUE priority), {upload_s:.0f} s upload in {jobs} segment jobs, "
          f"upload took {result['wall']:.1f} s ({upload_s / result['wall']:.1f}x realtime)")
    print(summary("idle before", idle))
    print(summary("loaded     ", loaded))
    print(summary("idle after ", idle_after))
    print(f"   mean loaded / idle (before and after) = {ratio:.2f}x; loaded total / its own inference = "
          f"{queue_ratio:.2f}x (target <= {TARGET_RATIO}x: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'})")


def measure_concurrency(api, clip_bytes: bytes, clients: int, requests_per_client: int) -> None:
    import openai

    def one_client(_):
        client = openai.OpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0, timeout=300)
        times, busy = [], 0
        for _ in range(requests_per_client):
            started = time.perf_counter()
            try:
                client.audio.transcriptions.create(model="x", file=("clip.flac", clip_bytes))
                times.append(time.perf_counter() - started)
            except openai.InternalServerError:
                busy += 1
        return times, busy

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - started
    times = [t for ts, _ in results for t in ts]
    busy = sum(b for _, b in results)
    print(f"   {clients:>2} clients: {len(times):>3} ok, {busy:>2} x 503  {len(times) / wall:5.2f} rps  "
          f"p50 {pct(times, .5):6.3f} s  p95 {pct(times, .95):6.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description="HTTP API throughput and the dialogue's ASR time under load")
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--upload-s", type=float, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level (about)")
    parser.add_argument("--gap-s", type=float, default=None,
                        help="fixed pause between dialogue turns (default: random 1-4 s)")
    parser.add_argument("--no-hold", action="store_true",
                        help="don't hold service jobs back while the user speaks (how it was before)")
    args = parser.parse_args()

    import openai
    from asr_throughput import speech
    from support.api_server import running_api

    from voiceloop.engines import Engines
    from voiceloop.asr.paraformer import ParaformerEngine
    from voiceloop.asr.segments import MAX_SEGMENT_S
    from voiceloop.config import AsrConfig, Config
    from voiceloop.engines.hotwords import HotwordStore
    from voiceloop.engines.scheduler import EngineScheduler
    from voiceloop.tts.espeak import EspeakSynthesizer

    if not (args.models / "seaco" / "model.pt").is_file():
        from support.funasr_models import build_tiny_models

        print(f"building Paraformer-large shaped models in {args.models} ...", flush=True)
        build_tiny_models(args.models, size="large")
    asr_cfg = AsrConfig(model=str(args.models / "seaco"), vad_model=str(args.models / "vad"),
                        punc_model=str(args.models / "punc"), device="cpu", threads=args.threads, hotwords_file="")
    cfg = Config(asr=asr_cfg)
    engine = ParaformerEngine(asr_cfg)
    audio = speech(int(args.upload_s))
    clip = audio[16000 * 3: 16000 * 8]  # 5 s
    upload, clip_bytes = encode_flac(audio), encode_flac(clip)
    engine.transcribe(clip)  # warm up
    engines = Engines(engine, EngineScheduler("asr"), EspeakSynthesizer(cfg.tts), HotwordStore(""))
    print(f"Paraformer-large shaped (random weights), {args.threads} threads, segments <= {MAX_SEGMENT_S:g} s, "
          f"upload {len(upload) / 2**20:.1f} MB FLAC")
    with running_api(cfg, engines) as api:
        client = openai.OpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0, timeout=1200)
        rng = random.Random(0)
        gaps = (lambda: args.gap_s) if args.gap_s is not None else (lambda: rng.uniform(1.0, 4.0))
        measure_dialogue(api, client, clip, upload, args.upload_s, gaps, not args.no_hold)
        print("\n2. POST /v1/audio/transcriptions, 5 s clip (FLAC), openai client")
        for clients in (1, 4, 16):
            measure_concurrency(api, clip_bytes, clients, max(2, args.requests // clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
