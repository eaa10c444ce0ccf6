"""Synthetic room impulse responses, so echo and reverberation tests run without a room.

The model is the textbook one: a direct path, a handful of sparse early reflections, then a
late tail of Gaussian noise whose envelope falls 60 dB over RT60. Real rooms also damp high
frequencies faster; a gentle low-pass on the tail imitates that, which matters because a
white tail would make the echo unnaturally easy to spot for a VAD and unnaturally hard for an
adaptive filter.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter

from voiceloop.audio.frames import SAMPLE_RATE

_EARLY_REFLECTIONS = 10
_EARLY_WINDOW_S = 0.05  # reflections off desk, walls and ceiling arrive within ~50 ms
_TAIL_ONSET_S = 0.005


def synth_rir(rt60_s: float, rate: int = SAMPLE_RATE, seed: int = 0, length_s: float | None = None) -> np.ndarray:
    """A plausible, deterministic (per `seed`) room impulse response with unit energy.

    Unit energy (L2 norm 1) makes the RIR level-neutral for broadband signals, so the gain a
    caller applies afterwards (`apply_room`) is the echo level. `length_s` defaults to RT60 plus
    the early window: by then the tail is 60 dB down.
    """
    if not 0.01 <= rt60_s <= 5.0:
        raise ValueError(f"rt60_s={rt60_s}: expected 0.01..5 seconds (a living room is ~0.3-0.5)")
    if rate <= 0:
        raise ValueError(f"rate={rate}: expected a positive sample rate in Hz")
    length = int(round((length_s if length_s is not None else rt60_s + _EARLY_WINDOW_S) * rate))
    if length < 1:
        raise ValueError(f"length_s={length_s}: the response needs at least one sample")
    rng = np.random.default_rng(seed)
    t = np.arange(length) / rate
    decay = np.exp(-6.9078 * t / rt60_s)  # ln(1000): amplitude -60 dB at t = RT60

    tail = rng.standard_normal(length) * decay
    tail = lfilter([0.6], [1.0, -0.4], tail)  # one-pole low-pass: air and soft surfaces
    tail *= np.clip((t - _TAIL_ONSET_S) / _TAIL_ONSET_S, 0.0, 1.0)
    rir = 0.35 * tail / max(np.sqrt(np.sum(tail**2)), 1e-12)

    rir[0] += 1.0  # the direct path
    early_max = min(length - 1, int(_EARLY_WINDOW_S * rate))
    if early_max >= 2:
        taps = rng.integers(2, early_max, size=_EARLY_REFLECTIONS)
        gains = rng.uniform(0.2, 0.6, size=_EARLY_REFLECTIONS) * rng.choice([-1.0, 1.0], size=_EARLY_REFLECTIONS)
        np.add.at(rir, taps, gains * decay[taps])
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def apply_room(signal: np.ndarray, rir: np.ndarray, delay_s: float, gain_db: float,
               rate: int = SAMPLE_RATE) -> np.ndarray:
    """What a microphone hears of `signal` over the same span: convolved, delayed, scaled.

    The result has `len(signal)` samples (the reverberant tail past the end is cut), so it can be
    added straight onto a mic track of the same length.
    """
    if delay_s < 0:
        raise ValueError(f"delay_s={delay_s}: a room cannot deliver sound before it is played")
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"signal has shape {x.shape}: expected mono (n,) samples")
    delay = int(round(delay_s * rate))
    wet = fftconvolve(x, rir)[: max(len(x) - delay, 0)]
    out = np.zeros(len(x), dtype=np.float32)
    out[delay:delay + len(wet)] = wet * np.float32(10.0 ** (gain_db / 20.0))
    return out
