"""ASR throughput and memory of the Paraformer engine with a Paraformer-large shaped model (run by hand).

    .venv/bin/python bench/asr_throughput.py [--threads 2] [--seconds 60 600] [--models DIR]

The SeACo model has the real 220 M-parameter shapes but random weights (built once into --models by
tests/support/funasr_models.py), so speed and memory are real while the text is not. Input is real
Mandarin speech from ../shared/audio/zh, concatenated with 1 s pauses to the wanted length. Each case
runs in its own process so peak RSS (VmHWM) is that case's alone. Targets: >= 15x realtime on 2 CPU
threads within 2 GB RSS; >= 300x on a GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CPU_TARGET_X, CPU_TARGET_RSS_MB, GPU_TARGET_X = 15.0, 2048.0, 300.0


def speech(seconds: int):
    import numpy as np

    from support.recordings import ZH
    from voiceloop.audio.decode import decode_file

    gap = np.zeros(16000, np.float32)
    one_pass = np.concatenate([part for p in sorted(ZH.glob("*.wav")) for part in (decode_file(p), gap)])
    return np.tile(one_pass, int(np.ceil(seconds * 16000 / one_pass.size)))[: seconds * 16000]


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_case(models: Path, seconds: int, threads: int, device: str, batch_size_s: int) -> dict:
    """One measurement, in this (fresh) process: load, warm up, transcribe `seconds` of speech once."""
    from voiceloop.asr.paraformer import ParaformerEngine
    from voiceloop.config import AsrConfig

    audio = speech(seconds)
    cfg = AsrConfig(model=str(models / "seaco"), vad_model=str(models / "vad"), punc_model=str(models / "punc"),
                    device=device, threads=threads, batch_size_s=batch_size_s)
    started = time.perf_counter()
    engine = ParaformerEngine(cfg)
    load_s = time.perf_counter() - started
    rss_loaded = rss_mb("VmRSS")
    engine.transcribe(audio[: 5 * 16000])
    result = engine.transcribe(audio)
    return {"seconds": seconds, "device": engine.info().device, "threads": threads, "batch_size_s": batch_size_s,
            "load_s": round(load_s, 1), "wall_s": round(result.processing_s, 2),
            "x_realtime": round(seconds / result.processing_s, 1), "sentences": len(result.sentences),
            "rss_loaded_mb": round(rss_loaded), "rss_end_mb": round(rss_mb("VmRSS")),
            "peak_rss_mb": round(rss_mb("VmHWM"))}


def spawn(models: Path, seconds: int, threads: int, device: str, batch_size_s: int) -> dict:
    cmd = [sys.executable, __file__, "--case", "--models", str(models), "--seconds", str(seconds),
           "--threads", str(threads), "--device", device, "--batch-size-s", str(batch_size_s)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_row(r: dict) -> None:
    cpu = r["device"] == "cpu"
    target = CPU_TARGET_X if cpu else GPU_TARGET_X
    rss_note = f"  rss/target {r['peak_rss_mb'] / CPU_TARGET_RSS_MB:.2f}" if cpu else ""
    print(f"{r['seconds']:>5}s {r['device']:<7} {r['threads']:>3} {r['batch_size_s']:>6} {r['load_s']:>6} "
          f"{r['wall_s']:>8} {r['x_realtime']:>8} {r['x_realtime'] / target:>7.2f} {r['rss_loaded_mb']:>7} "
          f"{r['rss_end_mb']:>7} {r['peak_rss_mb']:>7} {r['sentences']:>5}{rss_note}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="Paraformer-large shaped ASR throughput and RSS")
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--seconds", type=int, nargs="+", default=[60, 600])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size-s", type=int, default=300)
    parser.add_argument("--gpu-batch-sizes", type=int, nargs="+", default=[60, 300, 1000])
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.models, args.seconds[0], args.threads, args.device, args.batch_size_s)))
        return 0
    if not (args.models / "seaco" / "model.pt").is_file():
        from support.funasr_models import build_tiny_models

        print(f"building Paraformer-large shaped models in {args.models} ...", flush=True)
        build_tiny_models(args.models, size="large")
    print(f"{'input':>6} {'device':<7} {'thr':>3} {'bs_s':>6} {'load_s':>6} {'wall_s':>8} {'x_rt':>8} "
          f"{'x/tgt':>7} {'rss_ld':>7} {'rss_end':>7} {'peak':>7} {'sent':>5}   (RSS in MB)")
    for seconds in args.seconds:
        print_row(spawn(args.models, seconds, args.threads, "cpu", args.batch_size_s))
    import torch

    if torch.cuda.is_available():
        for seconds in args.seconds:
            for batch in args.gpu_batch_sizes:
                print_row(spawn(args.models, seconds, args.threads, "cuda", batch))
    else:
        print("no CUDA GPU: GPU cases skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
