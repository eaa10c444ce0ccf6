"""The front half of batch recognition (decode, fbank, VAD, each segment's features) in worker
processes: throughput on 1, 2, ... cores, against the same work on the one thread that feeds the
recogniser.

    .venv/bin/python bench/front_half.py [--models DIR] [--files 120] [--workers 1 2]

On a GPU box this is what caps `voiceloop transcribe`: the recogniser takes batches faster than
one core can cut them. Same Paraformer-large shaped models (their VAD is the real FSMN's shape)
and real Mandarin speech as bench/asr_throughput.py, in `--files` files of 2-30 s. Per row:
x-realtime of the front half alone (audio seconds per wall second, workers started beforehand),
and the ratio to one worker. Target: >= 1.8x from 1 to 2 workers on a 2-core box.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from asr_throughput import ensure_models, speech
from support.audiofiles import write_audio

from voiceloop.asr.prepare import FrontHalf, FrontSetup, _tools, prepare_samples
from voiceloop.audio.decode import decode_file

TARGET_RATIO = 1.8


def make_files(folder: Path, count: int) -> tuple[list[Path], float]:
    rng = np.random.default_rng(11)
    pool = speech(900)
    paths, total = [], 0
    for k in range(count):
        length = int(rng.uniform(2, 30) * 16000)
        start = int(rng.integers(0, pool.size - length))
        paths.append(write_audio(folder / f"f{k:03d}.wav", pool[start: start + length], 16000))
        total += length
    return paths, total / 16000


def in_process(setup: FrontSetup, files: list[Path]) -> float:
    """The same work on this thread, as the engine's thread did it before: seconds."""
    vad, front = _tools(setup)
    prepare_samples(decode_file(files[0]), vad, front)  # warm
    started = time.perf_counter()
    for path in files:
        prepare_samples(decode_file(path), vad, front)
    return time.perf_counter() - started


def with_workers(setup: FrontSetup, files: list[Path], workers: int) -> tuple[float, int]:
    """Seconds for the files, and the largest worker's peak RSS (MB)."""
    with FrontHalf(setup, workers) as front:
        for future in [front.submit(files[k % len(files)], 300) for k in range(2 * workers)]:
            future.result()  # every process started and its VAD loaded
        started = time.perf_counter()
        for future in [front.submit(path, 300) for path in files]:
            assert future.result() is not None
        took = time.perf_counter() - started
        return took, max(peak_rss_mb(child.pid) for child in multiprocessing.active_children())


def peak_rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quantize", action="store_true", help="the int8 VAD graph (the ONNX engine's)")
    args = parser.parse_args()
    ensure_models(args.models)
    setup = FrontSetup(args.models / "vad", args.models / "seaco", args.quantize)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="voiceloop-front-") as tmp:
        files, audio_s = make_files(Path(tmp), args.files)
        print(f"{len(files)} files, {audio_s:.0f} s of audio, {cores} cores, VAD "
              f"{'int8' if args.quantize else 'fp32'}", flush=True)
        alone = in_process(setup, files)
        print(f"{'in-process (one thread)':28s} {audio_s / alone:7.0f}x realtime  {alone:6.2f} s", flush=True)
        took = {}
        for workers in args.workers:
            took[workers], rss = with_workers(setup, files, workers)
            first = took[args.workers[0]]
            print(f"{f'{workers} worker process(es)':28s} {audio_s / took[workers]:7.0f}x realtime  "
                  f"{took[workers]:6.2f} s  {first / took[workers]:4.2f}x {args.workers[0]} worker(s)  "
                  f"peak RSS {rss} MB per worker", flush=True)
    if 1 in took and 2 in took:
        ratio = took[1] / took[2]
        print(f"2 workers / 1: {ratio:.2f}x (target >= {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
