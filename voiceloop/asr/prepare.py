"""The front half of batch recognition in processes of its own: decode, fbank, VAD, features.

On a GPU box the recogniser is fast and Python's GIL is not: decoding a file, its fbank, the
FSMN-VAD and each segment's features ran on the one core that also feeds the GPU, and capped the
box near 200x realtime with fifteen cores idle. Here each of `workers` processes takes whole files
and hands back what the engine needs: the speech segments (ms) and each one's features, exactly
as the engine would have computed them (the same kaldi-native-fbank frames as funasr's own
frontend, sliced on frame boundaries). The engine then only runs its networks and punctuation.

It needs the VAD's ONNX export (`voiceloop export-onnx`): a worker runs that graph on one thread
and no torch, so it starts in well under a second (peak RSS ~150 MB, `bench/front_half.py`). A file longer than one
block (`audio.blocks`) is left to the caller, who recognises it block by block in bounded memory.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceloop.asr.onnx.front import FrontConfig, Frontend, load_cmvn
from voiceloop.asr.onnx.session import has_export, read_model_config

log = logging.getLogger(__name__)
# A worker cuts ~180x realtime on one core (bench/front_half.py), so 12 feed a GPU at 2000x; more
# would only hold memory (~150 MB each).
MAX_DEFAULT_WORKERS = 12
CLOSE_S = 10.0  # idle workers exit at once; one still on a block (~2 s for 5 minutes) is let finish this long


@dataclass(frozen=True, slots=True)
class FrontSetup:
    """What a worker loads: the VAD dir (with its ONNX export) and the ASR dir's feature settings."""

    vad_dir: Path
    asr_dir: Path
    quantize: bool  # int8 VAD graph when present (the ONNX engine's choice); fp32 matches funasr's torch VAD


@dataclass(frozen=True, slots=True)
class Prepared:
    """One file ready for recognition: its length, speech segments and their features."""

    size: int  # samples of 16 kHz audio in the file
    segments: tuple[tuple[int, int], ...]  # [start_ms, end_ms] of each speech segment, the VAD's
    feats: tuple[np.ndarray, ...]  # each segment's features, LFR-stacked and normalised as the ASR takes them


class FrontHalf:
    """A pool of worker processes preparing files; `submit` gives a future of the `Prepared` file,
    None for a file longer than one block (the caller does those), or the `AudioDecodeError`
    raised for a file that is not audio."""

    def __init__(self, setup: FrontSetup, workers: int):
        self.setup = setup
        self.workers = max(1, workers)
        # spawn: a fork of a process holding onnxruntime's and torch's thread pools can deadlock
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_quiet_worker)
        self._broken = False

    def submit(self, path: Path, block_s: float) -> Future:
        """Once the pool has broken (a worker killed: out of memory, say) every later file comes back
        as None, which the caller decodes in-process: the batch slows down but loses nothing."""
        return self._submit(prepare_file, str(path), block_s, self.setup)

    def submit_samples(self, samples: np.ndarray) -> Future:
        """One block of a long file, decoded by the caller: a future of its `Prepared` (or None, as above)."""
        return self._submit(prepare_block, samples, self.setup)

    def _submit(self, fn, *args) -> Future:
        if not self._broken:
            try:
                future = self._pool.submit(fn, *args)
            except BrokenProcessPool as exc:
                self._broken = True
                log.warning("the front-half worker processes stopped (%s); decoding in this process from now on",
                            exc)
            else:
                future.add_done_callback(self._check)
                return future
        future = Future()
        future.set_result(None)
        return future

    def _check(self, future: Future) -> None:
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            self._broken = True

    def close(self) -> None:
        """Lets the workers finish their files (up to `CLOSE_S`), then kills what is left: a worker
        that the pool was starting as another died is never told to stop, and CPython's own
        `shutdown(wait=True)` would join it for ever."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + CLOSE_S
        for process in processes:
            while process.is_alive() and time.monotonic() < deadline and not self._pool_broken():
                process.join(0.2)
            if process.is_alive():
                process.kill()
                process.join(5)

    def _pool_broken(self) -> bool:
        return self._broken or bool(getattr(self._pool, "_broken", False))

    def __enter__(self) -> FrontHalf:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def front_setup(paths: dict[str, Path], quantize: bool) -> FrontSetup | None:
    """The setup for these resolved model dirs, or None when there is no VAD or it has no ONNX export
    (then the engine segments in-process, as before)."""
    if "vad" not in paths or not has_export(paths["vad"]):
        return None
    return FrontSetup(paths["vad"], paths["asr"], quantize)


def default_workers(gpu: bool) -> int:
    """Worker processes when `--front-workers` is not given: on a GPU box every core but the one
    feeding the GPU, up to `MAX_DEFAULT_WORKERS`; on a CPU the recogniser needs the cores itself,
    so none (in-process)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(MAX_DEFAULT_WORKERS, max(1, cores - 1)) if gpu else 0


def prepare_file(path: str, block_s: float, setup: FrontSetup) -> Prepared | None:
    """In a worker: decode `path` and cut it; None when it is longer than one block (known from its
    header when it says so, before anything is decoded)."""
    from voiceloop.audio.blocks import decoded_blocks
    from voiceloop.audio.decode import declared_seconds

    declared = declared_seconds(path)
    if declared is not None and declared > 1.5 * block_s:
        return None
    blocks = decoded_blocks(path, block_s)
    first = next(blocks)
    if not first.last:
        return None
    return prepare_samples(first.samples, *_tools(setup))


def prepare_block(samples: np.ndarray, setup: FrontSetup) -> Prepared:
    return prepare_samples(samples, *_tools(setup))


def prepare_samples(samples: np.ndarray, vad, asr_front: Frontend) -> Prepared:
    """Segments and features of one recording, as the engines compute them in-process."""
    audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    if not audio.size:
        return Prepared(0, (), ())
    fbank = vad.front.fbank(audio)
    shared = vad.front.same_fbank(asr_front)
    segments = vad.segments(audio, fbank)
    feats = []
    for start_ms, end_ms in segments:
        start, end = start_ms * 16, min(end_ms * 16, audio.size)
        piece = asr_front.piece_features(fbank, start, end - start) if shared else None
        feats.append(asr_front.features(audio[start:end]) if piece is None else piece)
    return Prepared(audio.size, tuple((int(s), int(e)) for s, e in segments), tuple(feats))


@functools.lru_cache(maxsize=2)
def _tools(setup: FrontSetup):
    """The worker's VAD session and ASR front end, loaded on its first file."""
    from voiceloop.asr.onnx.vad import OnnxVad

    conf = read_model_config(setup.asr_dir)
    return OnnxVad(setup.vad_dir, setup.quantize, threads=1), Frontend(FrontConfig.from_model_config(conf),
                                                                       load_cmvn(setup.asr_dir / "am.mvn"))


def _quiet_worker() -> None:
    """Workers log warnings only, and leave Ctrl-C to the parent (which shuts the pool down)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="voiceloop front-half: %(message)s")
