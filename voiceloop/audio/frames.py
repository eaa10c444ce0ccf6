"""The pipeline's one audio format: 16 kHz mono float32 in 10 ms frames, and conversions at the edge."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 10
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


def to_mono(block: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) of any dtype -> (n,) float32 in [-1, 1]."""
    data = np.asarray(block)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2147483648.0
    else:
        data = data.astype(np.float32, copy=False)
    if data.ndim == 2:
        data = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(data, dtype=np.float32)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy) for block-wise device conversion; exact for integer ratios."""
    if src_rate == dst_rate:
        return samples.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(samples, dst_rate // g, src_rate // g).astype(np.float32)


def to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


class FrameChunker:
    """Regroups blocks of any length into exact 10 ms frames, keeping the remainder for next time."""

    def __init__(self, frame_samples: int = FRAME_SAMPLES):
        self._n = frame_samples
        self._buf = np.zeros(0, dtype=np.float32)

    @property
    def pending(self) -> int:
        """Samples held over for the next frame (the next frame starts this far before the next block)."""
        return len(self._buf)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        buf = np.concatenate([self._buf, samples.astype(np.float32, copy=False)])
        count = len(buf) // self._n
        frames = [buf[i * self._n:(i + 1) * self._n] for i in range(count)]
        self._buf = buf[count * self._n:]
        return frames
