"""ASR speed, memory and agreement of torch, ONNX fp32 and ONNX int8 on a Paraformer-large shaped model.

    nice -n 10 .venv/bin/python bench/asr_throughput.py [--threads 2] [--seconds 600] [--models DIR]
        [--backends torch onnx-fp32 onnx-int8]

The SeACo model has the real 220 M-parameter shapes but random weights (built once into --models by
tests/support/funasr_models.py, then exported with `voiceloop export-onnx --quantize`), so speed and
memory are real while the text is not. Input is real Mandarin speech from ../shared/audio/zh,
concatenated with 1 s pauses to the wanted length. Per backend, in fresh processes:

- batch: `voiceloop transcribe` on the long file: x-realtime (its own summary line) and the peak RSS
  of the whole process (its VmHWM at exit), once writing txt (no sentence times needed: the ONNX
  graph skips its timestamp predictor) and, for the ONNX backends, once writing srt (times
  computed); torch computes the times either way, so it runs once;
- dialogue: start-to-ready (process start -> engine loaded, imports included) and the latency of
  a 5 s utterance as the dialogue asks for it (text only, no hotwords; median of 5 after one
  warm-up call), and for reference with sentence times;
- agreement: character edit-distance agreement of each backend's transcript with torch's and of
  int8 with fp32. Random weights make the decoder's choices nearly ties, so quantization error
  flips far more tokens than with the real model: the int8 figure is a pessimistic bound.

Targets (CPU, 2 threads): >= 40x realtime, <= 1 GB peak RSS, 5 s utterance <= 100 ms, ready <= 5 s.
With CUDA present, bench/asr_gpu.py follows (torch on the GPU: batch sizes, precisions, GPU memory).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TARGET_X, TARGET_RSS_MB, TARGET_UTTERANCE_MS, TARGET_READY_S = 40.0, 1024.0, 100.0, 5.0
BACKENDS = {"torch": ("torch", False), "onnx-fp32": ("onnx", False), "onnx-int8": ("onnx", True)}


def speech(seconds: int):
    import numpy as np
    from support.recordings import ZH

    from voiceloop.audio.decode import decode_file

    gap = np.zeros(16000, np.float32)
    one_pass = np.concatenate([part for p in sorted(ZH.glob("*.wav")) for part in (decode_file(p), gap)])
    return np.tile(one_pass, int(np.ceil(seconds * 16000 / one_pass.size)))[: seconds * 16000]


def write_config(work: Path, models: Path, backend: str, threads: int) -> Path:
    kind, quantize = BACKENDS[backend]
    path = work / f"{backend}.yaml"
    path.write_text(f"asr:\n  model: {models / 'seaco'}\n  vad_model: {models / 'vad'}\n  punc_model: {models / 'punc'}\n"
                    f"  backend: {kind}\n  quantize: {str(quantize).lower()}\n  threads: {threads}\n"
                    f"  device: cpu\nlogging:\n  level: WARNING\n")
    return path


def run_case(config: Path) -> dict:
    """In this fresh process: load the engine, then time a 5 s utterance (the dialogue's case)."""
    from voiceloop.asr import create_engine
    from voiceloop.configload import load_config

    cfg, _ = load_config(config)
    engine = create_engine(cfg.asr)
    print("READY", flush=True)
    utterance = speech(5)
    result = {"device": engine.info().device}
    for key, timestamps in (("utterance", False), ("utterance_timed", True)):
        engine.transcribe(utterance, timestamps=timestamps)
        walls, cpus = [], []
        for _ in range(5):
            cpu = time.process_time()
            walls.append(engine.transcribe(utterance, timestamps=timestamps).processing_s * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        result |= {f"{key}_ms": round(statistics.median(walls), 1), f"{key}_cpu_ms": round(statistics.median(cpus), 1)}
    return result


def dialogue(config: Path) -> dict:
    """Start-to-ready as seen from outside (python start, imports, model load) and utterance latency."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--case", str(config)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    ready_s = None
    lines = []
    for line in proc.stdout:
        if line.startswith("READY") and ready_s is None:
            ready_s = time.perf_counter() - started
        lines.append(line)
    if proc.wait() != 0:
        raise RuntimeError(f"case {config.name} failed")
    return {"ready_s": round(ready_s or 0.0, 2), **json.loads(lines[-1])}


_HWM_REPORT = ("import atexit, resource, sys\n"
               "def report():\n"
               "    use = resource.getrusage(resource.RUSAGE_SELF)\n"
               "    hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
               "    print('VMHWM_KB', hwm, 'CPU_S', use.ru_utime + use.ru_stime, file=sys.stderr)\n"
               "atexit.register(report)\n"
               "from voiceloop.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")


def batch_run(config: Path, wav: Path, out_dir: Path, fmt: str = "txt") -> dict:
    """`voiceloop transcribe` on the long file: x-realtime from its summary line, and the peak RSS
    the process itself reports at exit (VmHWM; wait4's ru_maxrss would count the forking parent)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _HWM_REPORT, "transcribe", "--config", str(config), "--output-dir",
                           str(out_dir), "--format", fmt, str(wav)], capture_output=True, text=True, cwd=REPO,
                          check=False, env={**os.environ, "PYTHONPATH": str(REPO), "VOICELOOP_CONFIG": ""})
    if done.returncode:
        raise RuntimeError(f"transcribe with {config.name} failed: {done.stderr[-2000:]}")
    found = re.search(r"\(([\d.]+)x realtime\)", done.stdout)
    peak = re.search(r"VMHWM_KB (\d+) CPU_S ([\d.]+)", done.stderr)
    text = (out_dir / f"{wav.stem}.txt").read_text(encoding="utf-8").strip() if fmt == "txt" else ""
    wall = time.perf_counter() - started
    return {"x_realtime": float(found.group(1)) if found else 0.0, "wall_s": round(wall, 2),
            "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else 0,
            "cpu_s": round(float(peak.group(2)), 1) if peak else 0.0, "text": text}


def agreement(a: str, b: str) -> float:
    from support.cer import edit_distance, normalise

    a, b = normalise(a), normalise(b)
    return 1.0 - edit_distance(a, b) / max(len(b), 1)


def ensure_models(models: Path) -> None:
    if not (models / "seaco" / "model.pt").is_file():
        from support.funasr_models import build_tiny_models

        print(f"building Paraformer-large shaped models in {models} ...", flush=True)
        build_tiny_models(models, size="large")
    config = models / "export.yaml"
    config.write_text(f"asr:\n  model: {models / 'seaco'}\n  vad_model: {models / 'vad'}\n"
                      f"  punc_model: {models / 'punc'}\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "voiceloop", "export-onnx", "--quantize", "--config", str(config)],
                   check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    print(f"export-onnx --quantize (skipped when up to date): {time.perf_counter() - started:.0f} s", flush=True)
    for name in ("model.onnx", "model_quant.onnx"):
        print(f"  seaco/{name}: {(models / 'seaco' / name).stat().st_size / 2**20:.0f} MB")


def cpu_table(results: dict[str, dict], seconds: int) -> None:
    print(f"\n{seconds} s of speech, 2 CPU threads")
    print("x_txt / x_srt: x-realtime of `voiceloop transcribe` writing txt (no times) / srt (times); peak_MB: "
          "the larger of the two runs' peak RSS; cpu_s: CPU seconds of the txt run (load included); utt_ms: "
          "5 s utterance as the dialogue asks (text only), utt_t_ms: with sentence times; utt_cpu: CPU ms "
          "of it, threads summed. /tgt columns: ratio to the target (x: >= 1 is met; others: <= 1 is met).")
    print(f"{'backend':<10} {'x_txt':>6} {'x/tgt':>6} {'x_srt':>6} {'x/tgt':>6} {'cpu_s':>6} {'peak_MB':>8} "
          f"{'rss/tgt':>7} {'utt_ms':>7} {'utt/tgt':>7} {'utt_t_ms':>8} {'utt_cpu':>7} {'ready_s':>7} {'rdy/tgt':>7} "
          f"{'agree_torch':>11}")
    ref = results.get("torch", {}).get("text")
    for name, r in results.items():
        agree = f"{agreement(r['text'], ref):.4f}" if ref is not None else "-"
        print(f"{name:<10} {r['x_realtime']:>6.1f} {r['x_realtime'] / TARGET_X:>6.2f} {r['x_realtime_srt']:>6.1f} "
              f"{r['x_realtime_srt'] / TARGET_X:>6.2f} {r['cpu_s']:>6.1f} {r['peak_rss_mb']:>8} "
              f"{r['peak_rss_mb'] / TARGET_RSS_MB:>7.2f} {r['utterance_ms']:>7.1f} "
              f"{r['utterance_ms'] / TARGET_UTTERANCE_MS:>7.2f} {r['utterance_timed_ms']:>8.1f} "
              f"{r['utterance_cpu_ms']:>7.1f} {r['ready_s']:>7.2f} {r['ready_s'] / TARGET_READY_S:>7.2f} {agree:>11}")
    if "onnx-fp32" in results and "onnx-int8" in results:
        value = agreement(results["onnx-int8"]["text"], results["onnx-fp32"]["text"])
        print(f"int8 vs fp32 character agreement: {value:.4f} (random weights exaggerate quantization error)")
    if "onnx-fp32" in results and ref is not None:
        print(f"onnx fp32 transcript identical to torch: {results['onnx-fp32']['text'] == ref}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Paraformer-large shaped ASR: torch vs ONNX fp32 vs ONNX int8")
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    ensure_models(args.models)
    from support.audiofiles import write_audio

    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        work = Path(tmp)
        wav = write_audio(work / f"speech-{args.seconds}s.wav", speech(args.seconds), 16000)
        results = {}
        for name in args.backends:
            config = write_config(work, args.models, name, args.threads)
            results[name] = {**dialogue(config), **batch_run(config, wav, work / name)}
            r = results[name]
            timed = batch_run(config, wav, work / f"{name}-srt", "srt") if name != "torch" else r
            whole = batch_run(config, wav, work / f"{name}-json", "json") if name != "torch" else r
            r |= {"x_realtime_srt": timed["x_realtime"], "peak_rss_mb": max(r["peak_rss_mb"], timed["peak_rss_mb"],
                                                                            whole["peak_rss_mb"]),
                  "whole": {fmt: round(args.seconds / run["wall_s"], 1) for fmt, run in
                            (("txt", r), ("srt", timed), ("json", whole))},
                  "whole_rss": {"txt": r["peak_rss_mb"], "srt": timed["peak_rss_mb"], "json": whole["peak_rss_mb"]}}
            print(f"{name}: {r['x_realtime']}x (txt), {r['x_realtime_srt']}x (srt), peak {r['peak_rss_mb']} MB, "
                  f"5 s utterance {r['utterance_ms']} ms ({r['utterance_timed_ms']} ms with times), "
                  f"ready {r['ready_s']} s ({r['device']})", flush=True)
        cpu_table(results, args.seconds)
        print("\nwhole `voiceloop transcribe` processes, start to exit (imports, loading, decoding, writing): "
              "x-realtime and peak RSS per output format")
        for name, r in results.items():
            print(f"{name:<10} " + "  ".join(f"{fmt} {x:5.1f}x ({x / TARGET_X:.2f} of target) {r['whole_rss'][fmt]} MB"
                                             for fmt, x in r["whole"].items()))
    gpu_rows(args)
    return 0


def gpu_rows(args) -> None:
    """bench/asr_gpu.py (torch on CUDA: batch sizes, precisions, GPU memory), when a GPU is present."""
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: GPU cases skipped (bench/asr_gpu.py)")
        return
    subprocess.run([sys.executable, str(REPO / "bench" / "asr_gpu.py"), "--models", str(args.models)], check=False,
                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


if __name__ == "__main__":
    sys.exit(main())
