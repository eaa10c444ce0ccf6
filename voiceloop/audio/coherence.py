"""How much of a signal is a linear function of another: what tells echo left by a canceller
that is off its path (a function of what the speaker played) from the user's voice (not)."""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def explained_share(out: np.ndarray, by: np.ndarray, segment: int) -> float:
    """Share of `out`'s energy that a filter on `by` explains, bin by bin over Hann segments of
    `segment` samples half a segment apart (energy-weighted magnitude-squared coherence). Two
    unrelated signals still share ~1/segments by chance, so give it a few segments at least."""
    n = min(out.size, by.size)
    if n < segment:
        return 0.0
    window = np.hanning(segment)
    starts = range(0, n - segment + 1, segment // 2)
    e = np.fft.rfft(np.stack([out[i:i + segment] for i in starts]) * window, axis=1)
    y = np.fft.rfft(np.stack([by[i:i + segment] for i in starts]) * window, axis=1)
    cross = np.sum(e * np.conj(y), axis=0)
    explained = np.sum(np.abs(cross) ** 2 / (np.sum(np.abs(y) ** 2, axis=0) + _EPS))
    return float(explained / (np.sum(np.abs(e) ** 2) + _EPS))
