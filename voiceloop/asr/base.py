"""The ASR stage boundary: 16 kHz mono float32 in, a `Transcript` out.

Engines are chosen by `asr.engine`; each one loads its model once and is called from a worker
thread (`asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    sentences: tuple[Sentence, ...] = ()
    duration_s: float = 0.0
    processing_s: float = 0.0
    confidence: float | None = None
    engine: str = ""
    model: str = ""

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.processing_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What `sysinfo` and `check` report about one model an engine uses."""

    role: str  # "asr", "vad", "punc"
    name: str
    path: str | None  # resolved local dir, None if not available
    problem: str | None = None  # why it is unusable and how to fix it


@dataclass(frozen=True, slots=True)
class EngineInfo:
    engine: str
    device: str
    models: tuple[ModelInfo, ...] = field(default_factory=tuple)


class AsrEngine(Protocol):
    """A loaded recogniser. `transcribe` blocks; call it off the event loop."""

    name: str

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        """Recognise 16 kHz mono float32 samples; `hotwords` add to the configured ones.

        `timestamps=False`: the caller needs the text only (an engine may then skip computing
        sentence times, and leave `sentences` empty); the text is the same either way."""
        ...

    def info(self) -> EngineInfo: ...
