"""A linear-only echo canceller, run beside the main one to hear the user through the echo.

Why a second canceller: AEC3's residual-echo suppressor is what buys its 36-38 dB, but during
double-talk it also takes 12-18 dB off the user (measured with the echo 0-6 dB over the user),
so a VAD on its output misses the first ~1 s of a barge-in. A purely linear canceller subtracts
only its estimate of the echo and never touches the near end: the user comes through at full
level, with ~20-30 dB less echo under it. The front end listens to this signal for barge-in
only; the main canceller's output stays what endpointing and ASR get once playback has stopped.

The filter is a partitioned-block frequency-domain adaptive filter (overlap-save, block = one
10 ms frame, per-bin power-normalised NLMS with the gradient constraint), so it converges within
about a second of speech. Double-talk would drag an adapting filter off the echo path, so it runs
as two filters (the classic "two-path" scheme): a background filter that always adapts and a
foreground filter that produces the output and only takes the background's weights while the
background cancels clearly better. During double-talk the background's error holds the user's
voice plus its own misadjustment, so it never wins and the foreground stays put.

Reference pairing: in the front end each captured frame comes right after its own reference frame
(paired by time and held back by the measured echo delay, `align`/`echodelay`), so the FIFO below
holds one frame; used alone it pairs each capture with the oldest rendered frame not yet used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.frames import FRAME_SAMPLES

_N = FRAME_SAMPLES  # block length
_MU = 1.0  # NLMS step of the background filter
_POWER_SMOOTH = 0.5  # per-bin reference power over all partitions: weight of the newest frame
_FLOOR_POWER = 1e-7  # -70 dBFS: keeps the step finite for bins with no reference energy
_COMPARE_SMOOTH = 0.1  # error energies compared over ~10 frames
_COPY_MARGIN = 0.5  # background must leave at most half the foreground's error energy (-3 dB)
_CLIPPED = 0.99  # a mic frame reaching full scale holds echo no linear filter can explain
_MAX_BACKLOG = 50  # render frames waiting for a capture before the oldest is dropped


@dataclass(frozen=True, slots=True)
class LinearResult:
    """One frame through the linear canceller: its output, the echo it subtracted, and whether
    the mic clipped (then the output holds echo distortion no linear filter can remove)."""

    out: np.ndarray
    echo: np.ndarray
    clipped: bool = False


class LinearEchoCanceller:
    """Two-path PBFDAF: `render` every played frame, `capture` every mic frame."""

    def __init__(self, tail_ms: int = 400):
        self._parts = max(1, int(round(tail_ms / 10)))
        bins = _N + 1
        self._x = np.zeros((self._parts, bins), dtype=np.complex128)  # newest partition first
        self._w_bg = np.zeros((self._parts, bins), dtype=np.complex128)
        self._w_fg = np.zeros((self._parts, bins), dtype=np.complex128)
        self._power = np.zeros(bins)
        self._last_far = np.zeros(_N)
        self._far: deque[np.ndarray] = deque()
        self._e_bg = self._e_fg = 0.0
        self._quiet = self._parts  # frames since the reference last had a non-zero sample

    def forget_reference(self) -> None:
        """As if the reference had been silent for the whole filter span; the filters are kept."""
        self._x.fill(0.0)
        self._last_far = np.zeros(_N)
        self._far.clear()
        self._quiet = self._parts + 1

    def render(self, frame: np.ndarray) -> None:
        if len(self._far) >= _MAX_BACKLOG:
            self._far.popleft()
        self._far.append(frame)

    def capture(self, frame: np.ndarray) -> LinearResult:
        far = self._far.popleft() if self._far else np.zeros(_N)
        block = np.concatenate([self._last_far, far])
        self._last_far = far
        self._quiet = self._quiet + 1 if not far.any() else 0
        if self._quiet > self._parts:  # the whole filter span is silent: nothing to cancel or learn
            self._x.fill(0.0)
            return LinearResult(frame.astype(np.float32, copy=True), np.zeros(_N, dtype=np.float32))
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = np.fft.rfft(block)
        echo_fg = self._filter(self._w_fg)
        echo_bg = self._filter(self._w_bg)
        err_fg, err_bg = frame - echo_fg, frame - echo_bg
        clipped = bool(np.max(np.abs(frame)) >= _CLIPPED)
        if not clipped:
            self._adapt(err_bg)
        self._e_fg += _COMPARE_SMOOTH * (float(np.dot(err_fg, err_fg)) - self._e_fg)
        self._e_bg += _COMPARE_SMOOTH * (float(np.dot(err_bg, err_bg)) - self._e_bg)
        if self._e_bg < _COPY_MARGIN * self._e_fg:
            self._w_fg[:] = self._w_bg
            self._e_fg = self._e_bg
        return LinearResult(err_fg.astype(np.float32), echo_fg.astype(np.float32), clipped)

    def _filter(self, w: np.ndarray) -> np.ndarray:
        return np.fft.irfft(np.sum(w * self._x, axis=0))[_N:]

    def _adapt(self, err: np.ndarray) -> None:
        spectrum = np.fft.rfft(np.concatenate([np.zeros(_N), err]))
        total = np.sum(self._x.real**2 + self._x.imag**2, axis=0)
        self._power += _POWER_SMOOTH * (total - self._power)
        norm = self._power + _FLOOR_POWER * 2 * _N * self._parts
        grad = np.conj(self._x) * (spectrum / norm)
        g = np.fft.irfft(grad, axis=1)
        g[:, _N:] = 0.0  # gradient constraint: keep each partition a causal N-tap block
        self._w_bg += _MU * np.fft.rfft(g, axis=1)
