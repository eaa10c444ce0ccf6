"""The torch path on a CUDA GPU: x-realtime per batch size and precision, and GPU memory over 100 files.

    .venv/bin/python bench/asr_gpu.py [--models DIR] [--precisions fp32 fp16 bf16] [--batch-sizes 30 100 300 1000]

(bench/asr_throughput.py runs it after its CPU table when CUDA is present.) Same full-size random-weight
SeACo model and real Mandarin speech as bench/asr_throughput.py. Per precision, in a fresh process:

- load: engine start (funasr import + model to GPU);
- utterance: a 5 s utterance as the dialogue asks for it (median of 10 after warm-up);
- long: `transcribe_files` on one 600 s file at each batch size (its VAD segments packed by duration),
  and again with decoding, VAD and features in worker processes (every core but one: `--front-workers`);
- files: the same on 100 files of 2-30 s (about 1,550 s in all), packed across files, and file by file
  (`batch 0`: each file's own segments packed, as funasr's `generate` does); `serial`: the same groups
  with nothing overlapped (decoded beforehand, VAD then ASR), to show what the overlap gains;
- memory: allocated and reserved GPU memory after each of the 100 files recognised one by one, and
  after each of three passes over them at the default batch size: steady means the last equals the first;
- agreement: characters of each run's 100 transcripts against fp32 file by file. Random weights make the
  decoder's choices near ties, so padding and half precision flip far more tokens than on the real model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GPU_TARGET_X = 300.0  # a GPU box should clear this on a folder of short files


def make_inputs(work: Path, files: int, long_s: int) -> tuple[Path, list[Path]]:
    import numpy as np
    from asr_throughput import speech
    from support.audiofiles import write_audio

    rng = np.random.default_rng(7)
    pool = speech(900)
    long_wav = write_audio(work / f"long-{long_s}s.wav", pool[: long_s * 16000], 16000)
    folder = work / "files"
    folder.mkdir()
    paths = []
    for k in range(files):
        length = int(rng.uniform(2, 30) * 16000)
        start = int(rng.integers(0, pool.size - length))
        paths.append(write_audio(folder / f"f{k:03d}.wav", pool[start: start + length], 16000))
    return long_wav, paths


def run_case(args) -> dict:
    """In a fresh process: one precision, every batch size."""
    import torch

    from voiceloop.asr.paraformer import ParaformerEngine
    from voiceloop.asr.prepare import FrontHalf, default_workers, front_setup
    from voiceloop.audio.decode import decode_file
    from voiceloop.config import AsrConfig
    from voiceloop.modes.transcribe import BatchOptions, transcribe_files

    models, device = args.models, args.device
    started = time.perf_counter()
    engine = ParaformerEngine(AsrConfig(model=str(models / "seaco"), vad_model=str(models / "vad"),
                                        punc_model=str(models / "punc"), device=device, backend="torch",
                                        precision=args.case, batch_size_s=args.default_batch))
    out: dict = {"precision": args.case, "load_s": round(time.perf_counter() - started, 2),
                 "device": engine.info().device}
    files = sorted(args.work.glob("files/*.wav"))
    long_wav = next(args.work.glob("long-*.wav"))
    cuda = device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    utterance = decode_file(long_wav)[: 5 * 16000]
    for _ in range(3):
        engine.transcribe(utterance, timestamps=False)
    walls = []
    for _ in range(10):
        sync()
        t = time.perf_counter()
        engine.transcribe(utterance, timestamps=False)
        sync()
        walls.append((time.perf_counter() - t) * 1000)
    out["utterance_ms"] = round(statistics.median(walls), 1)

    def batch(paths: list[Path], size: float, tag: str, front=None) -> dict:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        sync()
        t = time.perf_counter()
        results = transcribe_files(engine, paths, BatchOptions(formats=("txt",), output_dir=args.work / "out" / tag,
                                                                 batch_seconds=size), front=front)
        sync()
        wall = time.perf_counter() - t
        audio = sum(r.transcript.duration_s for r in results if r.transcript)
        return {"x": round(audio / wall, 1), "wall_s": round(wall, 2),
                "peak_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else 0,
                "texts": [r.transcript.text if r.transcript else "" for r in results],
                "errors": [r.error for r in results if r.error]}

    def serial(size: float) -> float:
        """The same groups with nothing overlapped: decoded beforehand (not timed), VAD then ASR per group."""
        from voiceloop.modes.transcribe import GROUP_BATCHES

        audios = [decode_file(p) for p in files]
        groups, group = [], []
        for audio in audios:
            group.append(audio)
            if sum(a.size for a in group) >= GROUP_BATCHES * size * 16000:
                groups.append(group)
                group = []
        groups += [group] if group else []
        sync()
        t = time.perf_counter()
        for group in groups:
            engine.transcribe_many(group, batch_seconds=size)
        sync()
        return round(sum(a.size for a in audios) / 16000 / (time.perf_counter() - t), 1)

    out["runs"], out["serial_x"] = {}, {}
    setup = front_setup({"vad": models / "vad", "asr": models / "seaco"}, quantize=False)
    with FrontHalf(setup, default_workers(gpu=True)) as front:
        batch(files[:2 * front.workers], args.default_batch, "warm-front", front)  # workers started
        for size in args.batch_sizes:
            out["runs"][f"long-{size}"] = batch([long_wav], size, f"long-{size}")
            out["runs"][f"files-{size}"] = batch(files, size, f"files-{size}")
            out["runs"][f"long-{size}-front"] = batch([long_wav], size, f"long-{size}-front", front)
            out["runs"][f"files-{size}-front"] = batch(files, size, f"files-{size}-front", front)
            out["serial_x"][str(size)] = serial(size)
            print(f"  {args.case} batch {size}: long {out['runs'][f'long-{size}']['x']}x "
                  f"({out['runs'][f'long-{size}-front']['x']}x with {front.workers} front-half workers), "
                  f"files {out['runs'][f'files-{size}']['x']}x ({out['runs'][f'files-{size}-front']['x']}x), "
                  f"serial {out['serial_x'][str(size)]}x", file=sys.stderr, flush=True)
    if args.quick:
        out["memory"] = memory_over_files(engine, files, args.default_batch, args.work, cuda, one_by_one=False)
        return out
    out["runs"]["files-0"] = batch(files, 0, "files-0")
    if args.case == "fp32":  # what voiceloop ran before: funasr's own generate, file by file
        audios = [decode_file(p) for p in files]

        def generate_all() -> float:
            sync()
            t = time.perf_counter()
            for audio in audios:
                with torch.inference_mode():
                    engine._model.generate(audio, batch_size_s=args.default_batch, sentence_timestamp=True)
            sync()
            return time.perf_counter() - t

        with ThreadPoolExecutor(1) as worker:  # a worker thread, as transcribe_files recognises in one
            out["generate_x"] = round(sum(a.size for a in audios) / 16000 / worker.submit(generate_all).result(), 1)
    out["memory"] = memory_over_files(engine, files, args.default_batch, args.work, cuda)
    return out


def memory_over_files(engine, files: list[Path], size: float, work: Path, cuda: bool, one_by_one: bool = True) -> dict:
    import torch

    from voiceloop.audio.decode import decode_file
    from voiceloop.modes.transcribe import BatchOptions, transcribe_files

    def now() -> tuple[int, int]:
        return (round(torch.cuda.memory_allocated() / 2**20), round(torch.cuda.memory_reserved() / 2**20)) if cuda \
            else (0, 0)

    per_file = []
    for path in files if one_by_one else ():
        engine.transcribe(decode_file(path))
        per_file.append(now())
    passes = []
    for k in range(3):
        transcribe_files(engine, files, BatchOptions(formats=("txt",), output_dir=work / "out" / f"pass{k}",
                                                     batch_seconds=size))
        passes.append(now())
    return {"per_file": per_file, "passes": passes,
            "max_reserved_mb": round(torch.cuda.max_memory_reserved() / 2**20) if cuda else 0}


def agreement(a: str, b: str) -> float:
    from support.cer import edit_distance, normalise

    a, b = normalise(a), normalise(b)
    return 1.0 - edit_distance(a, b) / max(len(b), 1)


def report(cases: list[dict], batch_sizes: list[int]) -> None:
    reference = next((c["runs"].get("files-0", c["runs"][f"files-{batch_sizes[-1]}"])["texts"] for c in cases
                      if c["precision"] == "fp32"), None)
    print("\nx: x-realtime of transcribe_files (wall clock, decoding and writing included); peak: max GPU memory "
          "allocated in that run; agree: characters of the 100 transcripts vs fp32 file by file (random weights: "
          f"pessimistic). files target: {GPU_TARGET_X:.0f}x")
    print(f"{'precision':<9} {'batch_s':>7} {'long_x':>7} {'files_x':>7} {'x/tgt':>6} {'serial':>7} {'peak_MB':>8} "
          f"{'agree':>6} {'long_fh':>7} {'files_fh':>8}  (fh: front half in worker processes, --front-workers)")
    for case in cases:
        for size in [0, *batch_sizes]:
            if f"files-{size}" not in case["runs"]:
                continue
            files = case["runs"][f"files-{size}"]
            long = case["runs"].get(f"long-{size}")
            agree = "-" if reference is None else \
                f"{statistics.mean(agreement(a, b) for a, b in zip(files['texts'], reference)):.4f}"
            fh = [case["runs"].get(f"{kind}-{size}-front", {}).get("x", "-") for kind in ("long", "files")]
            print(f"{case['precision']:<9} {size if size else 'file':>7} {long['x'] if long else '-':>7} "
                  f"{files['x']:>7} {files['x'] / GPU_TARGET_X:>6.2f} {case['serial_x'].get(str(size), '-'):>7} "
                  f"{files['peak_mb']:>8} {agree:>6} {fh[0]:>7} {fh[1]:>8}")
    for case in cases:
        if "generate_x" in case:
            print(f"funasr generate, file by file (fp32, decoded beforehand): {case['generate_x']}x")
    print(f"\n{'precision':<9} {'load_s':>6} {'utt_ms':>6}  GPU memory MB, allocated/reserved: after file 1, 10, 50, "
          "100 (one by one); after pass 1, 2, 3 (batched); max reserved")
    for case in cases:
        mem = case["memory"]
        traced = mem["per_file"]
        points = "  ".join(f"{a}/{r}" for a, r in (traced[i] for i in (0, 9, 49, 99) if i < len(traced)))
        passes = "  ".join(f"{a}/{r}" for a, r in mem["passes"])
        print(f"{case['precision']:<9} {case['load_s']:>6} {case['utterance_ms']:>6}  {points}  |  {passes}  |  "
              f"{mem['max_reserved_mb']}")
        errors = [e for run in case["runs"].values() for e in run["errors"]]
        if errors:
            print(f"  errors: {errors[:3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Paraformer-large shaped torch path on CUDA")
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[30, 100, 300, 1000])
    parser.add_argument("--default-batch", type=int, default=300)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--long-seconds", type=int, default=600)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", type=Path, help="also write every number here")
    parser.add_argument("--quick", action="store_true",
                        help="no file-by-file baselines and no one-by-one memory trace (a short GPU lease)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args)))
        return 0
    if not (args.models / "seaco" / "model.pt").is_file():
        from support.funasr_models import build_tiny_models

        print(f"building Paraformer-large shaped models in {args.models} ...", flush=True)
        build_tiny_models(args.models, size="large")
    with tempfile.TemporaryDirectory(prefix="asr-gpu-") as tmp:
        work = Path(tmp)
        make_inputs(work, args.files, args.long_seconds)
        cases = []
        for precision in args.precisions:
            done = subprocess.run([sys.executable, __file__, "--case", precision, "--work", str(work), "--models",
                                   str(args.models), "--device", args.device,
                                   "--default-batch", str(args.default_batch),
                                   "--batch-sizes", *map(str, args.batch_sizes), *(["--quick"] if args.quick else [])],
                                  stdout=subprocess.PIPE, text=True, cwd=REPO, check=False)
            if done.returncode:
                print(f"{precision}: failed (exit {done.returncode})", flush=True)
                continue
            cases.append(json.loads(done.stdout.strip().splitlines()[-1]))
            if args.json:
                args.json.write_text(json.dumps(cases))
        report(cases, args.batch_sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
