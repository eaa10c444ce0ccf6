"""Paraformer (FunASR) engine: SeACo-Paraformer with hotwords, FSMN-VAD segmenting, CT punctuation.

funasr is imported here, lazily (it takes 5-8 s), and kept on a short leash: it takes over the
root logger and logs through it, prints to stdout on import (which would corrupt
`transcribe --format json`), and would call PyPI and ModelScope unless every model is already a
local dir. Models are resolved by `voiceloop.asr.models` first so funasr never downloads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from voiceloop.asr.assemble import combine
from voiceloop.asr.base import EngineInfo, ModelInfo, Transcript
from voiceloop.asr.batching import pack_by_duration
from voiceloop.asr.device import resolve_device, resolve_precision, trim_heap
from voiceloop.asr.funasr_shim import import_funasr, stdout_to_debug
from voiceloop.asr.models import configured_models, resolve_model
from voiceloop.asr.prepare import Prepared
from voiceloop.asr.results import hotword_argument, parse_results
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import AsrConfig
from voiceloop.logs import preserve_root_logger

log = logging.getLogger(__name__)

_ALONE_MS = 60_000  # funasr's batch_size_threshold_s: a segment this long is recognised alone


class ParaformerEngine:
    """One loaded FunASR pipeline. `transcribe` blocks (run it in a worker thread) and is serialised,
    because funasr keeps per-call state (the hotword list) on the shared model objects.

    All torch work, loading included, runs on the engine's own thread. torch's CPU kernels use
    OpenMP, which gives every thread that runs them a team of its own; once two teams exist on a
    small box, GNU OpenMP stops spin-waiting between kernels (more threads than cores), and
    Paraformer's many small kernels then run 2.6x slower (loaded on one thread, called from another).

    funasr's models are driven step by step (VAD -> ASR -> punctuation, as its `inference_with_vad`
    does) rather than through `generate`, so that the ASR step alone runs in half precision and so
    that `transcribe_many` can pack the VAD segments of many recordings into one GPU batch.
    """

    name = "paraformer"

    def __init__(self, cfg: AsrConfig):
        self._cfg = cfg
        self._device = resolve_device(cfg.device)
        self._paths = {role: resolve_model(name, role, cfg.cache_dir) for role, name in configured_models(cfg)}
        self._names = dict(configured_models(cfg))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paraformer")
        threads = cfg.threads or os.cpu_count() or 1
        self._precision = resolve_precision(cfg.precision, self._device, _bf16_supported(self._device))
        # A GPU gains from padding segments into one batch, a CPU does not (funasr does the same).
        self.batch_seconds = float(cfg.batch_size_s) if self._device.startswith("cuda") else 0.0
        started = time.perf_counter()
        self._model = self._thread.submit(self._load, threads).result()
        self._hotwords_supported = hasattr(self._model.model, "generate_hotwords_list")
        if cfg.hotwords and not self._hotwords_supported:
            log.warning("asr.hotwords set, but %s is not a SeACo-Paraformer model: hotwords are ignored",
                        self._names["asr"])
        trim_heap()
        log.info("paraformer loaded in %.1f s on %s (%s) with %d CPU threads (%s)", time.perf_counter() - started,
                 self._device, self._precision, threads, ", ".join(f"{r}={p}" for r, p in self._paths.items()))

    def _load(self, threads: int):
        auto_model = import_funasr()
        optional = {f"{role}_model": str(self._paths[role]) for role in ("vad", "punc") if role in self._paths}
        with preserve_root_logger(), stdout_to_debug():
            return auto_model(model=str(self._paths["asr"]), device=self._device, ncpu=threads,
                              disable_update=True, disable_pbar=True, log_level="ERROR", **optional)

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        """funasr computes the times anyway, so `timestamps` changes nothing here."""
        return self.transcribe_many([samples], hotwords, timestamps)[0]

    def transcribe_many(self, items: list[np.ndarray], hotwords: tuple[str, ...] = (), timestamps: bool = True,
                        batch_seconds: float | None = None) -> list[Transcript]:
        """Each recording's transcript, as `transcribe` gives it, from batches of VAD segments packed by
        duration across all of them (up to `batch_seconds` of padded audio; default `asr.batch_size_s`
        on a GPU, one segment at a time on a CPU). Raises if any recording fails: the caller decides
        whether to retry them one by one. Each transcript's `processing_s` is its share of the time."""
        audios = [_mono(x) for x in items]
        return self._transcripts(self._run, audios, [a.size for a in audios], hotwords, batch_seconds)

    def transcribe_prepared(self, items: list[Prepared], hotwords: tuple[str, ...] = (), timestamps: bool = True,
                            batch_seconds: float | None = None) -> list[Transcript]:
        """As `transcribe_many`, for files segmented and featurised by `asr.prepare` workers: the
        engine's thread runs only the networks and the punctuation (same features, same segments)."""
        return self._transcripts(self._run_prepared, items, [p.size for p in items], hotwords, batch_seconds)

    def _transcripts(self, run, inputs: list, sizes: list[int], hotwords: tuple[str, ...],
                     batch_seconds: float | None) -> list[Transcript]:
        started = time.perf_counter()
        budget_ms = int(1000 * (self.batch_seconds if batch_seconds is None else batch_seconds))
        words = hotword_argument((*self._cfg.hotwords, *hotwords)) if self._hotwords_supported else ""
        results = self._thread.submit(run, inputs, words, budget_ms).result()
        total_s = sum(sizes) / SAMPLE_RATE
        share = (time.perf_counter() - started) / total_s if total_s else 0.0
        out = []
        for size, result in zip(sizes, results):
            duration_s = size / SAMPLE_RATE
            text, sentences = parse_results(result, int(duration_s * 1000))
            out.append(Transcript(text=text, sentences=sentences, duration_s=duration_s,
                                  processing_s=share * duration_s, engine=self.name, model=self._names["asr"]))
        return out

    def _run(self, audios: list[np.ndarray], words: str, budget_ms: int) -> list[list[dict[str, Any]]]:
        """funasr-shaped results per recording; on the engine's thread."""
        import torch

        with torch.inference_mode(), preserve_root_logger():
            segments = [self._segments(audio) for audio in audios]
            clips = [audios[i][start * 16: end * 16] for i, segs in enumerate(segments) for start, end in segs]
            results = self._recognised(segments, clips, words, budget_ms, features=False)
        trim_heap()
        return results

    def _run_prepared(self, items: list[Prepared], words: str, budget_ms: int) -> list[list[dict[str, Any]]]:
        import torch

        with torch.inference_mode(), preserve_root_logger():
            segments = [list(p.segments) for p in items]
            results = self._recognised(segments, [f for p in items for f in p.feats], words, budget_ms, features=True)
        trim_heap()
        return results

    def _recognised(self, segments: list[list[tuple[int, int]]], clips: list[np.ndarray], words: str, budget_ms: int,
                    features: bool) -> list[list[dict[str, Any]]]:
        """Per recording, its segments' results assembled; `clips` are all recordings' segments in order."""
        lengths = [end - start for segs in segments for start, end in segs]
        recognised = iter(self._recognise(clips, lengths, words, budget_ms, features))
        return [self._assemble([next(recognised) for _ in segs], segs) for segs in segments]

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, f"{self._device} ({self._precision})" if self._device != "cpu" else "cpu",
                          tuple(ModelInfo(role, self._names[role], str(path)) for role, path in self._paths.items()))

    def _segments(self, audio: np.ndarray) -> list[tuple[int, int]]:
        """Speech segments in ms; the whole recording when there is no VAD model."""
        if not audio.size:
            return []
        if self._model.vad_model is None:
            return [(0, -(-audio.size * 1000 // SAMPLE_RATE))]  # rounded up: the clip is every sample
        found = self._model.inference(audio, model=self._model.vad_model, kwargs=dict(self._model.vad_kwargs))
        return [(int(start), int(end)) for start, end in found[0]["value"]] if found else []

    def _recognise(self, clips: list[np.ndarray], lengths: list[int], words: str, budget_ms: int,
                   features: bool) -> list[dict[str, Any]]:
        """One funasr result per clip (samples, or features with `features`), times relative to the clip."""
        out: dict[int, dict[str, Any]] = {}
        for pack in pack_by_duration(lengths, budget_ms, _ALONE_MS):
            batch = [clips[k] for k in pack]
            found = self._asr(batch, words, features)
            if len(found) != len(batch):  # funasr returns nothing for a batch in which no clip has a token
                found = [(self._asr([clip], words, features) or [{"text": ""}])[0] for clip in batch]
            out.update(zip(pack, found))
        return [out[k] for k in range(len(clips))]

    def _asr(self, clips: list[np.ndarray], words: str, features: bool = False) -> list[dict[str, Any]]:
        options: dict[str, Any] = {"batch_size": len(clips)}
        if words:
            options["hotword"] = words
        # a copy of the kwargs: funasr merges a call's options into the dict it is given
        kwargs = dict(self._model.kwargs)
        if features:
            kwargs["frontend"] = _GivenFeatures(kwargs["frontend"])
        with self._autocast():
            return self._model.inference(clips, model=self._model.model, kwargs=kwargs, **options)

    def _assemble(self, recognised: list[dict[str, Any]], segments: list[tuple[int, int]]) -> list[dict[str, Any]]:
        if self._model.vad_model is None:  # funasr neither segments nor punctuates without a VAD
            return [r for r in recognised if r.get("text")]
        per_segment = [_offset(r, start) for r, (start, _) in zip(recognised, segments)]
        return combine(per_segment, segments, self._marks if self._model.punc_model is not None else None)

    def _marks(self, text: str) -> list[int]:
        found = self._model.inference(text, model=self._model.punc_model, kwargs=dict(self._model.punc_kwargs))
        marks = found[0].get("punc_array") if found else None
        return [] if marks is None else [int(m) for m in marks]

    def _autocast(self):
        import torch

        if self._precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.float16 if self._precision == "fp16" else torch.bfloat16)


class _GivenFeatures:
    """funasr's frontend for clips that are its features already (`asr.prepare` computed them with
    the same fbank): they pass through, and every attribute the model reads is the real frontend's."""

    def __init__(self, frontend):
        self._frontend = frontend

    def __getattr__(self, name: str):
        return getattr(self._frontend, name)

    def __call__(self, feats, lengths, **_):
        import torch

        return feats, torch.as_tensor(lengths)


def _mono(samples: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)


def _offset(result: dict[str, Any], offset_ms: int) -> dict[str, Any]:
    out = {"text": str(result.get("text", ""))}
    if result.get("timestamp") is not None:
        out["timestamp"] = [[int(s) + offset_ms, int(e) + offset_ms] for s, e in result["timestamp"]]
    return out


def _bf16_supported(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    import torch

    return bool(torch.cuda.is_bf16_supported())


