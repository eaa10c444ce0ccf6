"""Pair every mic frame with what the speaker was playing when that frame was captured.

The speaker and the mic run on their own clocks (a USB mic and a separate speaker are commonly
50-300 ppm apart) and their callbacks come in bursts of their own, so "the oldest rendered frame
not yet used" drifts away from the truth for the daemon's whole life. Here the pairing is by time:
each frame carries when it passed the converter (`at`: PortAudio's ADC/DAC time, one host clock for
both streams), the speaker's samples sit in a ring indexed by their sample count, and a capture
frame asks for the speaker sample that was at the DAC at its own `at`.

Timestamps jitter by milliseconds on real sound servers, so the capture-to-render offset (render
sample index minus capture sample index) is a straight-line fit over the timestamps of the last
~30 s (exponentially weighted least squares): its level is the offset now, its slope the clock
drift, and from the first seconds on it is as good as the timestamps allow. The reference is then read at that
fractional position and rate (band-limited interpolation), so the cancellers see one fixed echo
path however the clocks slip: a reference that skipped or repeated a sample every 200 ms (300 ppm)
would make them relearn the path all the time. A step larger than `_JUMP_S` that persists
(device reopened, an underrun the timestamps admit to) re-seeds the filter.

Capture frames whose speaker samples (up to `lead` samples past their own time: the cancellers
want the reference a little ahead of its echo) have not been rendered yet are held back, at most
`_MAX_HOLD` frames, instead of being paired with silence; a port with no speaker frames at all
passes them straight through. Real devices render ahead of the DAC, so nothing waits there.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.port import Captured, Rendered

_RING = 800 * FRAME_SAMPLES  # 8 s of speaker samples: the longest echo delay (1 s) plus the cold-start frames
# the front end goes back over (`FrontEnd._hindsight`), hold-back and jitter
_FORGET = 1.0 - 1.0 / 3000  # the offset fit weighs the last ~30 s of capture frames
_JUMP_S = 0.03  # a timestamp step larger than this is not jitter...
_JUMP_FRAMES = 5  # ...once it has lasted 50 ms (an underrun, a lost block): re-seed the offset
_MAX_HOLD = 10  # capture frames (100 ms) held back waiting for their speaker samples
_TAPS = 12  # interpolator half-length: flat to ~6 kHz, ~60 dB down on images
_TAP_OFFSETS = np.arange(-_TAPS + 1, _TAPS + 1)


class ReferenceAligner:
    """`render` every played frame, `capture` every mic frame; `capture` returns the mic frames
    ready to process, each with the (fractional) render sample index that was at the DAC when it
    was captured. `read(pos)` gives those speaker samples on the mic's clock (zeros where none were
    rendered or kept)."""

    def __init__(self) -> None:
        self._ring = np.zeros(_RING, dtype=np.float32)
        self._written = 0  # render samples stored so far
        self._sound_end = 0  # render samples up to the end of the newest frame that was not all zeros
        self._last_render: tuple[int, float] | None = None  # (first sample index, time) of the newest frame
        self._timed = True  # every frame so far carried `at`
        self._captures = 0  # capture frames seen
        self._fit = _LineFit()  # render index - capture index, against capture frames
        self._off_jump = 0
        self._held: deque[tuple[Captured, float]] = deque()
        self.lead = 0  # speaker samples past a capture frame's own time that must be in before it is ready

    @property
    def drift_ppm(self) -> float:
        """Speaker clock against mic clock as the timestamps show it (0 until known)."""
        return self._fit.slope / FRAME_SAMPLES * 1e6

    def render(self, item: Rendered) -> None:
        i = self._written % _RING
        self._ring[i:i + FRAME_SAMPLES] = item.samples
        if item.samples.any():
            self._sound_end = self._written + FRAME_SAMPLES
        self._timed &= item.at is not None
        self._last_render = (self._written, item.at if self._timed else item.t)
        self._written += FRAME_SAMPLES

    def capture(self, item: Captured) -> list[tuple[Captured, float]]:
        self._timed &= item.at is not None
        index = self._captures * FRAME_SAMPLES
        self._captures += 1
        if self._last_render is None:  # nothing rendered yet (or a port without a speaker)
            return [(item, float(-_RING))]
        pos = index + self._track(index, item.at if self._timed else item.t)
        self._held.append((item, pos))
        ready = []
        while self._held and (self._held[0][1] + self.lead + FRAME_SAMPLES <= self._written or len(self._held) > _MAX_HOLD):
            ready.append(self._held.popleft())
        return ready

    def flush(self) -> list[tuple[Captured, float]]:
        """End of stream: whatever is still held back, paired with what there is."""
        ready, self._held = list(self._held), deque()
        return ready

    def read(self, pos: float) -> np.ndarray:
        """One frame of speaker samples from `pos` at the speaker's rate against the mic's, as the mic
        clock would have sampled them; zeros for any not yet rendered or already overwritten."""
        step = 1.0 + self._fit.slope / FRAME_SAMPLES
        if pos - _TAPS >= self._sound_end or pos + FRAME_SAMPLES * step + _TAPS < self._written - _RING:
            return np.zeros(FRAME_SAMPLES, dtype=np.float32)  # an idle speaker: nothing to interpolate
        where = pos + np.arange(FRAME_SAMPLES) * step
        base = np.floor(where).astype(np.int64)
        frac = where - base
        if not frac.any():
            return self._take(base)
        idx = base[:, None] + _TAP_OFFSETS[None, :]
        d = frac[:, None] - _TAP_OFFSETS[None, :]
        kernel = np.sinc(d) * (0.5 + 0.5 * np.cos(np.pi * d / _TAPS))
        return np.sum(self._take(idx) * kernel, axis=1).astype(np.float32)

    def _take(self, idx: np.ndarray) -> np.ndarray:
        valid = (idx >= 0) & (idx < self._written) & (idx >= self._written - _RING)
        return np.where(valid, self._ring[idx % _RING], 0.0).astype(np.float32)

    def _track(self, index: int, at: float) -> float:
        first, played_at = self._last_render
        raw = first + (at - played_at) * SAMPLE_RATE - index
        predicted = self._fit.predict()
        if predicted is not None and abs(raw - predicted) > _JUMP_S * SAMPLE_RATE:
            self._off_jump += 1
            if self._off_jump < _JUMP_FRAMES:
                self._fit.step()
                return predicted + self._fit.slope
            self._fit = _LineFit()  # the step persists: a new pair of streams, a new offset
        self._off_jump = 0
        return self._fit.add(raw)


class _LineFit:
    """y = level + slope x over frames, exponentially weighted least squares, in the frame ages u
    (u = 0 now) so the sums stay bounded however long the daemon runs."""

    def __init__(self) -> None:
        self._s0 = self._su = self._suu = self._sy = self._suy = 0.0
        self.level: float | None = None
        self.slope = 0.0

    def predict(self) -> float | None:
        return None if self.level is None else self.level + self.slope

    def step(self) -> None:
        """One frame passes without a sample (an outlier was dropped)."""
        self._s0, self._su, self._suu, self._sy, self._suy = (
            _FORGET * self._s0, _FORGET * (self._su + self._s0), _FORGET * (self._suu + 2 * self._su + self._s0),
            _FORGET * self._sy, _FORGET * (self._suy + self._sy))
        if self.level is not None:
            self.level += self.slope

    def add(self, y: float) -> float:
        """Age every sample by a frame, add `y` at age 0; returns the fitted level now."""
        self.step()
        self._s0 += 1.0
        self._sy += y
        det = self._su * self._su - self._s0 * self._suu
        if abs(det) < 1e-9:  # one point (or all at one age): no slope yet
            self.level = self._sy / self._s0
            return self.level
        self.level = (self._su * self._suy - self._sy * self._suu) / det
        self.slope = (self._s0 * self._suy - self._su * self._sy) / det
        return self.level
