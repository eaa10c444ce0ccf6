"""The one piece of state shared between the event loop and the speaker callback.

The loop writes, the PortAudio output callback reads, and `clear` (barge-in) empties it; a lock
held for a memcpy keeps that safe without making the real-time thread wait on anything slow.
"""

from __future__ import annotations

import threading

import numpy as np


class PlaybackBuffer:
    """Bounded FIFO of float32 samples at the device rate."""

    def __init__(self, capacity: int):
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._ring = np.zeros(capacity, dtype=np.float32)
        self._lock = threading.Lock()
        self._start = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        return len(self._ring)

    def __len__(self) -> int:
        with self._lock:
            return self._size

    def write(self, samples: np.ndarray) -> int:
        """Append as much of `samples` as fits; returns how many were taken."""
        with self._lock:
            n = min(len(samples), len(self._ring) - self._size)
            end = (self._start + self._size) % len(self._ring)
            first = min(n, len(self._ring) - end)
            self._ring[end:end + first] = samples[:first]
            self._ring[:n - first] = samples[first:n]
            self._size += n
            return n

    def read_into(self, out: np.ndarray) -> int:
        """Fill `out` from the front (the rest stays as it is, zeros from the caller); returns samples read."""
        with self._lock:
            n = min(len(out), self._size)
            first = min(n, len(self._ring) - self._start)
            out[:first] = self._ring[self._start:self._start + first]
            out[first:n] = self._ring[:n - first]
            self._start = (self._start + n) % len(self._ring)
            self._size -= n
            return n

    def clear(self) -> int:
        """Drop everything not yet read; returns how many samples were dropped."""
        with self._lock:
            n, self._size, self._start = self._size, 0, 0
            return n
