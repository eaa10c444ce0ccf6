"""How long the speaker's sound takes to come back into the mic, measured while the speaker plays.

Bluetooth, HDMI and many USB speakers add 100-500 ms of output latency that no timestamp admits
to, and sound servers add buffering of their own. The echo cancellers need the reference within
their reach (AEC3's delay search and the linear canceller's tail), and the front end's windows
("the speaker is audible now") need to know when echo can still arrive.

Method: GCC-PHAT between the time-aligned speaker reference and the mic over the last
`_WINDOW_S` seconds, searching 0 to `MAX_DELAY_S`. Whitening the cross-spectrum (PHAT) makes the
direct path a sharp peak however coloured the speech and however long the reverberation; the
user talking at the same time only lowers the peak. An estimate counts when its peak stands
`_MIN_PEAK_RATIO` over the correlation's spread; a change is taken once two estimates in a row
agree (a single odd window never moves the cancellers).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE

MAX_DELAY_S = 0.6  # longest echo path searched: 0.5 s of speaker latency plus sound-server buffering
_WINDOW_S = 3.0  # mic audio correlated per estimate
_MIN_AUDIBLE_S = 0.8  # audible speaker audio the window needs before an estimate is tried
_EVERY_S = 0.5  # a new estimate at most this often (of capture time)
_AUDIBLE = 10 ** (-50 / 20)  # reference frames quieter than this carry too little to correlate
_BAND_HZ = (200.0, 4000.0)  # speech band: where the speaker, the room and the mic all pass energy
_MIN_PEAK_RATIO = 8.0  # peak over the correlation's standard deviation
_AGREE_S = 0.002  # two estimates this close agree


class EchoDelayEstimator:
    """`push(reference, mic)` per 10 ms frame; `delay_s` is the current estimate (None until known)."""

    def __init__(self) -> None:
        self._max_lag = int(MAX_DELAY_S * SAMPLE_RATE)
        window = int(_WINDOW_S * SAMPLE_RATE) // FRAME_SAMPLES
        self._ref: deque[np.ndarray] = deque(maxlen=window + self._max_lag // FRAME_SAMPLES + 1)
        self._mic: deque[np.ndarray] = deque(maxlen=window)
        self._audible: deque[bool] = deque(maxlen=window + self._max_lag // FRAME_SAMPLES + 1)
        self._since = 0
        self._candidate: float | None = None
        self.delay_s: float | None = None
        self.peak_ratio = 0.0

    def push(self, reference: np.ndarray, mic: np.ndarray) -> bool:
        """Feed one frame pair; True when `delay_s` changed."""
        self._ref.append(reference)
        self._mic.append(mic)
        self._audible.append(bool(np.max(np.abs(reference)) > _AUDIBLE))
        self._since += 1
        if self._since * FRAME_SAMPLES < _EVERY_S * SAMPLE_RATE:
            return False
        if sum(self._audible) * FRAME_SAMPLES < _MIN_AUDIBLE_S * SAMPLE_RATE:
            return False
        self._since = 0
        found = self._estimate()
        if found is None:
            return False
        agreed = self._candidate is not None and abs(found - self._candidate) <= _AGREE_S
        self._candidate = found
        if agreed and (self.delay_s is None or abs(found - self.delay_s) > _AGREE_S):
            self.delay_s = found
            return True
        return False

    def _estimate(self) -> float | None:
        mic = np.concatenate(self._mic)
        ref = np.concatenate(self._ref)[-(len(mic) + self._max_lag):]
        if len(ref) < len(mic) + self._max_lag:
            ref = np.concatenate([np.zeros(len(mic) + self._max_lag - len(ref), dtype=np.float32), ref])
        n = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
        cross = np.fft.rfft(ref, n) * np.conj(np.fft.rfft(mic, n))
        freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        band = (freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])
        weighted = np.where(band, cross / (np.abs(cross) + 1e-12), 0.0)
        cc = np.fft.irfft(weighted, n)[: self._max_lag + 1]  # cc[m]: mic[i] against ref[i + m]
        lags = self._max_lag - np.arange(self._max_lag + 1)  # m = max_lag - delay
        best = int(np.argmax(cc))
        spread = float(np.std(cc)) or 1e-12
        self.peak_ratio = float(cc[best]) / spread
        if self.peak_ratio < _MIN_PEAK_RATIO:
            return None
        return float(lags[best]) / SAMPLE_RATE
