"""faster-whisper (CTranslate2) as an alternative engine: multilingual, no FunASR needed.

Whisper often writes Mandarin in Traditional characters; `asr.whisper.simplified` converts its
output to Simplified with OpenCC so downstream text (LLM, logs, hotwords) is consistent.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from voiceloop.asr.base import EngineInfo, ModelInfo, Sentence, Transcript
from voiceloop.asr.device import resolve_device
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import AsrConfig
from voiceloop.errors import ModelNotFoundError

log = logging.getLogger(__name__)

# Whisper's text budget per 30 s window: a loop of hallucinated repeats (on a near-silent or
# unclear stretch) otherwise decodes to the model's 448-token limit, up to six times over with the
# temperature fallback: 20 s measured on a 1.5 s upload segment with Whisper base on one thread,
# during which the dialogue waits for the shared engine. Speech, even fast Mandarin (~7 characters
# a second, 1-2 tokens each), stays well inside this.
_TOKENS_PER_S = 16
_TOKENS_BASE = 32
_MAX_LENGTH = 448  # the model's decoder length, prompt included
_PROMPT_MAX = _MAX_LENGTH // 2 + 8  # faster-whisper cuts a hotword prompt to half of it, plus the start tokens


class WhisperEngine:
    name = "whisper"

    def __init__(self, cfg: AsrConfig):
        from faster_whisper import WhisperModel

        self._cfg = cfg
        self._wcfg = cfg.whisper
        self._device = resolve_device(cfg.device)
        self._model_path = _resolve_model(self._wcfg.model)
        threads = cfg.threads or os.cpu_count() or 1
        compute_type = self._wcfg.compute_type
        if self._device.startswith("cuda") and compute_type == "int8":
            compute_type = "int8_float16"
        kind, _, index = self._device.partition(":")
        self._model = WhisperModel(self._model_path, device=kind, device_index=int(index or 0),
                                   compute_type=compute_type, cpu_threads=threads)
        self._to_simplified = _simplifier() if self._wcfg.simplified else None

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        started = time.perf_counter()
        words = " ".join((*self._cfg.hotwords, *hotwords)) or None
        language = self._wcfg.language or None
        segments, info = self._model.transcribe(
            samples.astype(np.float32, copy=False), language=language, beam_size=self._wcfg.beam_size,
            hotwords=words, vad_filter=False, condition_on_previous_text=False,
            max_new_tokens=token_budget(len(samples) / SAMPLE_RATE, prompted=words is not None))
        sentences = []
        logprobs = []
        for seg in segments:
            text = self._convert(seg.text.strip())
            if text:
                sentences.append(Sentence(text, int(seg.start * 1000), int(seg.end * 1000)))
                logprobs.append(seg.avg_logprob)
        joiner = "" if (language or info.language) in ("zh", "ja") else " "
        return Transcript(
            text=joiner.join(s.text for s in sentences),
            sentences=tuple(sentences),
            duration_s=len(samples) / SAMPLE_RATE,
            processing_s=time.perf_counter() - started,
            confidence=float(np.exp(np.mean(logprobs))) if logprobs else None,
            engine=self.name,
            model=self._wcfg.model,
        )

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, self._device, (ModelInfo("asr", self._wcfg.model, self._model_path),))

    def _convert(self, text: str) -> str:
        text = self._to_simplified(text) if self._to_simplified else text
        return fullwidth_punctuation(text)


def token_budget(duration_s: float, prompted: bool) -> int:
    """New tokens Whisper may write for one window of `duration_s` (a window is 30 s at most)."""
    room = _MAX_LENGTH - (_PROMPT_MAX if prompted else 8)
    return min(room, _TOKENS_BASE + round(_TOKENS_PER_S * min(duration_s, 30.0)))


_FULLWIDTH = str.maketrans({",": "，", "?": "？", "!": "！", ";": "；", ":": "：", ".": "。"})
_CJK_PUNCT = re.compile(r"(?<=[\u3400-\u9fff])[,?!;:.](?!\d)")


def fullwidth_punctuation(text: str) -> str:
    """Whisper writes Chinese with ASCII punctuation ("你好吗?今天"); after a Hanzi use the
    full-width forms the rest of the pipeline (sentence splitting, subtitles) expects."""
    return _CJK_PUNCT.sub(lambda m: m.group(0).translate(_FULLWIDTH), text)


def _simplifier():
    import opencc

    return opencc.OpenCC("t2s").convert


def _resolve_model(name: str) -> str:
    """A local CTranslate2 dir, or a faster-whisper size/HF id already in the local HF cache."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(f"asr.whisper.model: {path} has no model.bin; expected a CTranslate2 Whisper dir")
        return str(path)
    from faster_whisper.utils import download_model

    try:
        return download_model(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any miss in the local cache means "not here"
        pass
    from voiceloop.asr.models import hub_reachable

    if not hub_reachable("huggingface.co"):
        raise ModelNotFoundError(
            f"asr.whisper.model: Whisper model '{name}' is not on this machine and Hugging Face cannot be "
            f"reached. Fix: on a box with internet run `scripts/fetch-models --config <your config>`, or set "
            f"asr.whisper.model to a local CTranslate2 model dir.")
    log.info("downloading Whisper model %s from Hugging Face", name)
    return download_model(name)
