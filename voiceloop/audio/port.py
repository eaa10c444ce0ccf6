"""The device-side boundary: one object that both hears (mic) and speaks (speaker).

Real sound devices (`voiceloop.audio.devices`) and the tests' simulated room (`tests/support/simroom.py`)
both implement `AudioPort`, so the front end and the assistant never know which one they drive.

Captured and rendered frames arrive on one stream, in the order the device callbacks produced
them. Each carries `at`, when its first sample passed the converter (PortAudio's ADC/DAC time, on
the host's clock), so the front end pairs every mic frame with what the speaker was playing at
that moment (`audio.align`), whatever the two clocks and callback patterns do. A port that cannot
tell leaves `at` None, and the sample clocks `t` stand in.
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
    at: float | None = None  # when its first sample was captured (ADC time), host clock seconds


@dataclass(frozen=True, slots=True)
class Rendered:
    """One 10 ms frame the speaker actually played (silence included while idle); `t` on the speaker's sample clock."""

    samples: np.ndarray
    t: float
    at: float | None = None  # when its first sample leaves the speaker (DAC time), host clock seconds


DUCK_GAIN = 10 ** (-15 / 20)  # `duck` level while someone may be speaking over what plays: 15 dB down


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

    def duck(self, gain: float) -> None:
        """Scale what the speaker plays from its next block on (1.0: full level), ramped over a block
        so it does not click; `Rendered` frames carry the scaled audio, the echo's true reference."""
        ...

    @property
    def rendered(self) -> int:
        """Samples (16 kHz) of queued audio the speaker has played since the port opened; never
        decreases. Idle silence is not counted, nor anything `clear()` dropped or a lost device ate."""
        ...

    async def wait_played(self) -> None:
        """Return once everything queued so far has been rendered."""
        ...

    async def aclose(self) -> None: ...
