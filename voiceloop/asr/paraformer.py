"""Paraformer (FunASR) engine: SeACo-Paraformer with hotwords, FSMN-VAD segmenting, CT punctuation.

funasr is imported here, lazily (it takes 5-8 s), and kept on a short leash: it takes over the
root logger and logs through it, prints to stdout on import (which would corrupt
`transcribe --format json`), and would call PyPI and ModelScope unless every model is already a
local dir. Models are resolved by `voiceloop.asr.models` first so funasr never downloads.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from voiceloop.asr.base import EngineInfo, ModelInfo, Sentence, Transcript
from voiceloop.asr.device import resolve_device
from voiceloop.asr.models import configured_models, resolve_model
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import AsrConfig
from voiceloop.logs import preserve_root_logger

log = logging.getLogger(__name__)

# A space funasr puts between two CJK characters (SeACo without punctuation emits "今 天 好").
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]) +(?=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])")


class ParaformerEngine:
    """One loaded FunASR pipeline. `transcribe` blocks (run it in a worker thread) and is serialised,
    because funasr keeps per-call state (hotword list, runtime kwargs) on the shared model objects."""

    name = "paraformer"

    def __init__(self, cfg: AsrConfig):
        self._cfg = cfg
        self._device = resolve_device(cfg.device)
        self._paths = {role: resolve_model(name, role, cfg.cache_dir) for role, name in configured_models(cfg)}
        self._names = dict(configured_models(cfg))
        self._lock = threading.Lock()
        threads = cfg.threads or os.cpu_count() or 1
        auto_model = _import_funasr()
        optional = {f"{role}_model": str(self._paths[role]) for role in ("vad", "punc") if role in self._paths}
        started = time.perf_counter()
        with preserve_root_logger(), _stdout_to_debug():
            self._model = auto_model(model=str(self._paths["asr"]), device=self._device, ncpu=threads,
                                     disable_update=True, disable_pbar=True, log_level="ERROR", **optional)
        self._hotwords_supported = hasattr(self._model.model, "generate_hotwords_list")
        if cfg.hotwords and not self._hotwords_supported:
            log.warning("asr.hotwords set, but %s is not a SeACo-Paraformer model: hotwords are ignored",
                        self._names["asr"])
        trim_heap()
        log.info("paraformer loaded in %.1f s on %s with %d CPU threads (%s)", time.perf_counter() - started,
                 self._device, threads, ", ".join(f"{r}={p}" for r, p in self._paths.items()))

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        """funasr computes the times anyway, so `timestamps` changes nothing here."""
        import torch

        started = time.perf_counter()
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        duration_s = audio.size / SAMPLE_RATE
        options = self._options((*self._cfg.hotwords, *hotwords))
        if audio.size:
            with self._lock, torch.inference_mode(), preserve_root_logger():
                results = self._model.generate(audio, **options)
            trim_heap()
        else:
            results = []
        text, sentences = _parse_results(results, int(duration_s * 1000))
        return Transcript(text=text, sentences=sentences, duration_s=duration_s,
                          processing_s=time.perf_counter() - started, engine=self.name,
                          model=self._names["asr"])

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, self._device, tuple(
            ModelInfo(role, self._names[role], str(path)) for role, path in self._paths.items()))

    def _options(self, hotwords: tuple[str, ...]) -> dict[str, Any]:
        options: dict[str, Any] = {"batch_size_s": self._cfg.batch_size_s}
        if "vad" in self._paths and "punc" in self._paths:
            options["sentence_timestamp"] = True
        words = hotword_argument(hotwords) if self._hotwords_supported else ""
        if words:
            options["hotword"] = words
        return options


def hotword_argument(hotwords: tuple[str, ...] | list[str]) -> str:
    """SeACo's `hotword=`: one space-separated string, duplicates and blanks dropped.

    funasr treats the whole string as a URL to fetch when it starts with "http" and as a file to
    read when it ends with ".txt", so such entries are dropped rather than passed on.
    """
    words: list[str] = []
    for word in hotwords:
        for part in word.split():
            if part.lower().startswith("http") or part.lower().endswith(".txt"):
                log.warning("hotword %r ignored: funasr would treat it as a URL or file", part)
            elif part not in words:
                words.append(part)
    return " ".join(words)


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc keeps them; after loading that is ~1.7 GB for
    Paraformer-large). A no-op where libc has no malloc_trim."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _parse_results(results: list[dict[str, Any]], duration_ms: int) -> tuple[str, tuple[Sentence, ...]]:
    """Text and timed sentences from funasr's result dicts, whichever of its forms they take:
    `sentence_info` (VAD + punctuation), per-token `timestamp` (no VAD), or text alone."""
    sentences: list[Sentence] = []
    for result in results:
        text = _clean(str(result.get("text", "")))
        if not text:
            continue
        found = [_sentence(s, duration_ms) for s in result.get("sentence_info") or []]
        found = [s for s in found if s is not None]
        if not found:
            start, end = _span(result.get("timestamp"), duration_ms)
            found = [Sentence(text, start, end)]
        sentences.extend(found)
    # On long inputs funasr's `text` and its `sentence_info` can place punctuation one token apart;
    # the text is built from the timed sentences so the two never disagree.
    return "".join(s.text for s in sentences), tuple(sentences)


def _sentence(info: dict[str, Any], duration_ms: int) -> Sentence | None:
    text = _clean(str(info.get("text") or info.get("sentence") or ""))
    if not text:
        return None
    start = _clamp(info.get("start", 0), duration_ms)
    return Sentence(text, start, max(start, _clamp(info.get("end", start), duration_ms)))


def _span(timestamps: Any, duration_ms: int) -> tuple[int, int]:
    """First token start to last token end; the whole input when the model gives no times."""
    try:
        start, end = int(timestamps[0][0]), int(timestamps[-1][1])
    except (TypeError, IndexError, ValueError):
        return 0, duration_ms
    start = _clamp(start, duration_ms)
    return start, max(start, _clamp(end, duration_ms))


def _clamp(value: Any, duration_ms: int) -> int:
    """funasr's times are ms; the CIF tail can run a few ms past the end of the audio."""
    try:
        return min(max(int(float(value)), 0), duration_ms)
    except (TypeError, ValueError):
        return 0


def _clean(text: str) -> str:
    return _CJK_GAP.sub("", text.strip())


def _import_funasr():
    """`funasr.AutoModel`, imported with the root logger and stdout protected."""
    with preserve_root_logger(), _stdout_to_debug():
        from funasr import AutoModel
    _demote_funasr_root_logs()
    return AutoModel


@contextlib.contextmanager
def _stdout_to_debug():
    """funasr prints notices and its version to stdout; keep stdout for our own output."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        yield
    for line in captured.getvalue().splitlines():
        if line.strip():
            log.debug("funasr: %s", line.strip())


class _FunasrRootFilter(logging.Filter):
    """funasr logs through the root logger (`logging.info(...)`), at INFO and WARNING for routine
    steps. Those records are shown as DEBUG, so our INFO logs stay readable; errors pass."""

    def __init__(self, package_dir: str):
        super().__init__("funasr-root")
        self._package_dir = package_dir

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or not record.pathname.startswith(self._package_dir):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _demote_funasr_root_logs() -> None:
    import funasr

    root = logging.getLogger()
    if not any(isinstance(f, _FunasrRootFilter) for f in root.filters):
        root.addFilter(_FunasrRootFilter(str(Path(funasr.__file__).parent)))
