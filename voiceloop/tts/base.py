"""The TTS stage boundary: one sentence of text in, 16 kHz mono float32 audio out as it is made.

Engines yield chunks as soon as they have them, so playback of a sentence can start before the
engine has finished it, and cancelling the consuming task (barge-in) stops the engine's work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np


class Synthesizer(Protocol):
    """`name` identifies the engine in logs and turn records ("edge", "espeak")."""

    name: str

    def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        """Yield float32 chunks of 16 kHz mono audio, in [-1, 1]; raise `TtsError` on failure."""
        ...


def for_service(voice: Synthesizer) -> Synthesizer:
    """A twin of `voice` for API and Wyoming callers where it keeps state or priority (a fallback
    chain's "primary is down", the offline voice's scheduler priority); stateless voices (Edge,
    espeak) are shared as they are."""
    twin = getattr(voice, "for_service", None)
    return twin() if twin is not None else voice
