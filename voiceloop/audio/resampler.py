"""Streaming sample-rate conversion for the device edge.

A device delivers a continuous signal in blocks. Resampling each block on its own (scipy's
`resample_poly`) restarts the filter at every block edge, which clicks at the block rate; this
polyphase filter keeps its input history and output phase between calls, so any split of the
input gives exactly the same output as one call over the whole signal.
"""

from __future__ import annotations

from math import gcd

import numpy as np

_HALF_TAPS = 10  # filter half-length in input samples at the lower rate, as scipy's resample_poly
_KAISER_BETA = 5.0


class StreamResampler:
    """Rational-ratio polyphase resampler with carry-over; `push` blocks, get the converted stream."""

    def __init__(self, src_rate: int, dst_rate: int):
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
        g = gcd(src_rate, dst_rate)
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._up, self._down = dst_rate // g, src_rate // g
        self._phases = _polyphase_bank(self._up, self._down)
        self._taps = self._phases.shape[1]
        self.reset()

    @property
    def identity(self) -> bool:
        return self._up == self._down

    def reset(self) -> None:
        """Forget the history (after a gap or a flush, so stale audio does not leak into new audio)."""
        self._hist = np.zeros(self._taps - 1, dtype=np.float32)
        self._n_in = 0  # input samples consumed, relative to the rebased origin
        self._n_out = 0  # next output sample index, same origin

    def push(self, block: np.ndarray) -> np.ndarray:
        """Convert the next block of the input stream (1-D float32); returns what is now computable."""
        x = np.asarray(block, dtype=np.float32)
        if self.identity:
            return x
        buf = np.concatenate([self._hist, x])
        start = self._n_in - (self._taps - 1)  # stream index of buf[0]
        self._n_in += len(x)
        end = -(-self._n_in * self._up // self._down)  # first output needing unseen input
        n = np.arange(self._n_out, end, dtype=np.int64)
        t = n * self._down
        rel = t // self._up - start
        windows = buf[rel[:, None] - np.arange(self._taps)[None, :]]
        y = np.einsum("ij,ij->i", self._phases[t % self._up], windows)
        self._n_out = end
        self._hist = buf[len(buf) - (self._taps - 1):]
        self._rebase()
        return y.astype(np.float32, copy=False)

    def _rebase(self) -> None:
        c = self._n_out // self._up
        self._n_out -= c * self._up
        self._n_in -= c * self._down


def _polyphase_bank(up: int, down: int) -> np.ndarray:
    """Rows are filter phases: bank[p, k] = h[p + k*up], so output = bank[phase] . newest inputs."""
    if up == down:
        return np.ones((1, 1), dtype=np.float32)
    from scipy.signal import firwin

    length = 2 * _HALF_TAPS * max(up, down) + 1
    h = firwin(length, 1.0 / max(up, down), window=("kaiser", _KAISER_BETA)) * up
    per_phase = -(-length // up)
    h = np.pad(h, (0, per_phase * up - length))
    return np.ascontiguousarray(h.reshape(per_phase, up).T, dtype=np.float32)
