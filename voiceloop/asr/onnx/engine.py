"""The Paraformer engine on onnxruntime: VAD segments -> SeACo-Paraformer -> punctuation -> sentences.

Same `AsrEngine` interface and, on the same weights, the same sentences as the torch path
(`voiceloop.asr.paraformer`), because it follows funasr's `AutoModel.inference_with_vad` step by
step: each VAD segment is recognised alone (funasr does the same on CPU), the segment texts are
joined and punctuated once, and sentences are cut at the punctuation with the token times. No
torch or funasr is imported: start-up takes well under a second and memory is the graphs' size.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from voiceloop.asr.assemble import combine
from voiceloop.asr.base import EngineInfo, ModelInfo, Transcript
from voiceloop.asr.device import trim_heap
from voiceloop.asr.onnx.paraformer import OnnxParaformer, Recognised
from voiceloop.asr.onnx.punc import OnnxPunc
from voiceloop.asr.onnx.vad import OnnxVad
from voiceloop.asr.prepare import Prepared
from voiceloop.asr.results import hotword_argument, join_words, parse_results
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import AsrConfig

log = logging.getLogger(__name__)
_NO_SAMPLES = np.zeros(0, np.float32)  # a segment given as features only

class OnnxParaformerEngine:
    """Loaded ONNX graphs. `transcribe` blocks; concurrent calls are safe (onnxruntime sessions are
    thread-safe and no call leaves state behind), which is what `transcribe --jobs` uses.

    `workers` > 1 recognises that many VAD segments at once, each run on one thread, in one pool
    shared by concurrent calls: onnxruntime gains only 1.16-1.27x from a second intra-op thread on
    Paraformer-large (its loops, the LSTM and the many small operators run on one), while two runs
    side by side gain 1.76x. Batch transcription uses it, with two files in flight so that a short
    file's last segment never leaves a core idle; the dialogue keeps one run on all threads (lower
    latency).
    """

    name = "paraformer"

    def __init__(self, cfg: AsrConfig, paths: dict[str, Path], names: dict[str, str], quantize: bool,
                 workers: int = 1):
        started = time.perf_counter()
        self._cfg, self._paths, self._names = cfg, paths, names
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="asr-segment") if self._workers > 1 else None
        threads = max(1, (cfg.threads or os.cpu_count() or 1) // self._workers)
        self._asr = OnnxParaformer(paths["asr"], quantize, threads)
        self._vad = OnnxVad(paths["vad"], quantize, threads) if "vad" in paths else None
        self._punc = OnnxPunc(paths["punc"], quantize, threads) if "punc" in paths and self._vad else None
        self._shared_fbank = self._vad is not None and self._vad.front.same_fbank(self._asr.front)
        self._device = f"cpu (onnxruntime, {'int8' if quantize else 'fp32'})"
        trim_heap()  # loading leaves ~225 MB of freed protobuf heap that later runs would not reuse
        if cfg.hotwords and not self._asr.seaco:
            log.warning("asr.hotwords set, but %s is not a SeACo-Paraformer model: hotwords are ignored",
                        names["asr"])
        log.info("paraformer (onnx, %s) loaded in %.2f s: %d x %d threads (%s)", "int8" if quantize else "fp32",
                 time.perf_counter() - started, self._workers, threads,
                 ", ".join(f"{r}={p}" for r, p in paths.items()))

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        """`timestamps=False` (the dialogue, plain text) skips the timestamp predictor: the same text,
        no sentence times (`sentences` is empty)."""
        started = time.perf_counter()
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        results = self._run(audio, self._hotword_ids(hotwords), timestamps) if audio.size else []
        return self._transcript(results, audio.size, started, timestamps)

    def transcribe_prepared(self, items: list[Prepared], hotwords: tuple[str, ...] = (), timestamps: bool = True,
                            batch_seconds: float | None = None) -> list[Transcript]:
        """Files segmented and featurised by `asr.prepare` workers: only the networks and the
        punctuation run here. The same transcripts as `transcribe` on their samples."""
        ids = self._hotword_ids(hotwords)
        out = []
        for item in items:
            started = time.perf_counter()

            def one(k: int, item: Prepared = item) -> dict[str, Any]:
                rec = self._asr.recognise(_NO_SAMPLES, ids, timestamps, item.feats[k])
                return _segment_result(rec, item.segments[k][0])

            per_segment = self._map(one, range(len(item.segments)))
            out.append(self._transcript(self._combined(per_segment, list(item.segments)), item.size, started,
                                        timestamps))
        return out

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, self._device, tuple(
            ModelInfo(role, self._names[role], str(path)) for role, path in self._paths.items()))

    def _hotword_ids(self, hotwords: tuple[str, ...]) -> list[list[int]] | None:
        words = hotword_argument((*self._cfg.hotwords, *hotwords)).split() if self._asr.seaco else []
        return self._asr.hotword_ids(tuple(words)) if words else None

    def _transcript(self, results: list[dict[str, Any]], size: int, started: float, timestamps: bool) -> Transcript:
        duration_s = size / SAMPLE_RATE
        text, sentences = parse_results(results, int(duration_s * 1000))
        return Transcript(text=text, sentences=sentences if timestamps else (), duration_s=duration_s,
                          processing_s=time.perf_counter() - started, engine=self.name, model=self._names["asr"])

    def _run(self, audio: np.ndarray, hotword_ids: list[list[int]] | None, timestamps: bool) -> list[dict[str, Any]]:
        """funasr-shaped result dicts, so the one result parser (`asr.results`) serves both engines."""
        if self._vad is None:
            return [_segment_result(self._asr.recognise(audio, hotword_ids, timestamps), 0)]
        fbank = self._vad.front.fbank(audio)

        def one(segment: tuple[int, int]) -> dict[str, Any]:
            start, end = segment[0] * 16, min(segment[1] * 16, audio.size)
            feats = self._asr.front.piece_features(fbank, start, end - start) if self._shared_fbank else None
            return _segment_result(self._asr.recognise(audio[start:end], hotword_ids, timestamps, feats), segment[0])

        segments: list[tuple[int, int]] = []
        if self._pool is not None:  # the VAD cuts the next minute while the workers recognise this one's segments
            futures = []
            for ready in self._vad.iter_segments(audio, fbank):
                segments += ready
                futures += [self._pool.submit(one, s) for s in ready]
            per_segment = [f.result() for f in futures]
        else:
            segments = self._vad.segments(audio, fbank)
            per_segment = [one(s) for s in segments]
        return self._combined(per_segment, segments)

    def _map(self, fn, items) -> list:
        """`fn` over `items`, `workers` at a time."""
        items = list(items)
        if self._pool is not None and len(items) > 1:
            return list(self._pool.map(fn, items))
        return [fn(x) for x in items]

    def _combined(self, per_segment: list[dict[str, Any]], segments: list[tuple[int, int]]) -> list[dict[str, Any]]:
        marks = (lambda text: self._punc.punctuate(self._punc.words(text))) if self._punc else None
        return combine(per_segment, segments, marks) if segments else []


def _segment_result(rec: Recognised, offset_ms: int) -> dict[str, Any]:
    words, times = postprocess(rec.tokens, rec.times_ms)
    if times is None and not rec.timed:
        return {"text": join_words(words)}
    if times is None:  # times not asked for: placeholders keep the text exactly as with times
        times = [(0, 0)] * len(words)
    return {"text": " ".join(words), "timestamp": [[s + offset_ms, e + offset_ms] for s, e in times]}


def postprocess(tokens: tuple[str, ...], times) -> tuple[list[str], list[tuple[int, int]] | None]:
    """Tokens -> words: specials dropped, `@@` BPE pieces joined; times follow the words."""
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    piece, piece_start = "", None
    for i, token in enumerate(tokens):
        if token in ("<s>", "</s>", "<unk>", "<OOV>"):
            continue
        start, end = times[i] if times else (0, 0)
        if token.endswith("@@"):
            piece += token[:-2]
            piece_start = start if piece_start is None else piece_start
            continue
        words.append(piece + token)
        spans.append((piece_start if piece_start is not None else start, end))
        piece, piece_start = "", None
    if piece:
        words.append(piece)
        spans.append((piece_start or 0, spans[-1][1] if spans else 0))
    return words, (spans if times is not None else None)
