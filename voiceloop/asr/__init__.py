"""Speech recognition engines behind one `AsrEngine` protocol, chosen by `asr.engine`."""

from __future__ import annotations

from voiceloop.asr.base import AsrEngine, EngineInfo, ModelInfo, Sentence, Transcript
from voiceloop.config import AsrConfig

__all__ = ["AsrEngine", "EngineInfo", "ModelInfo", "Sentence", "Transcript", "create_engine"]


def create_engine(cfg: AsrConfig, jobs: int = 1, batch: bool = False) -> AsrEngine:
    """Load the configured engine (slow: seconds to minutes). Imports stay lazy so other modes start fast.

    `jobs`: how many `transcribe` calls the caller will make at once (batch `--jobs`); `batch`:
    throughput matters more than the latency of one call (`voiceloop transcribe`)."""
    if cfg.engine == "whisper":
        from voiceloop.asr.whisper import WhisperEngine

        return WhisperEngine(cfg)
    from voiceloop.asr.backend import create_paraformer

    return create_paraformer(cfg, jobs, batch)
