"""The device-side boundary: one object that both hears (mic) and speaks (speaker).

Real sound devices (`voiceloop.audio.devices`) and the tests' simulated room (`tests/support/simroom.py`)
both implement `AudioPort`, so the front end and the assistant never know which one they drive.

Captured and rendered frames arrive on one stream, in the order the device callbacks produced
them: the echo canceller then sees each played frame as the speaker actually rendered it, rather
than pairing mic frame k with played frame k (which loses 20-30 dB of cancellation on drift).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Captured:
    """One 10 ms microphone frame, 16 kHz mono float32; `t` in seconds on the capture clock."""

    samples: np.ndarray
    t: float


@dataclass(frozen=True, slots=True)
class Rendered:
    """One 10 ms frame the speaker actually played (silence included while idle)."""

    samples: np.ndarray
    t: float


class AudioPort(Protocol):
    def frames(self) -> AsyncIterator[Captured | Rendered]:
        """Mic and speaker frames interleaved in callback order; runs until `aclose`."""
        ...

    async def play(self, samples: np.ndarray) -> None:
        """Queue 16 kHz mono float32 for playback; waits while the (bounded) buffer is full."""
        ...

    def clear(self) -> int:
        """Drop all audio not yet rendered (barge-in); takes effect within one block. Returns samples dropped."""
        ...

    async def wait_played(self) -> None:
        """Return once everything queued so far has been rendered."""
        ...

    async def aclose(self) -> None: ...
