"""An `AudioPort` whose speaker renders only when the test says so: playback on a scripted timeline.

`play` queues (waiting while more than `capacity` samples are queued, as a real bounded buffer
does), `render(n)` plays the next n samples "out of the speaker" into `heard`, `clear` drops the
queue. `gone = True` is a speaker that disappeared: `play` queues nothing, as `SoundDevicePort`
does without a device. No microphone: `frames()` ends at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np


class ScriptedPort:
    def __init__(self, capacity: int = 1 << 30):
        self.capacity = capacity
        self.gone = False
        self.clears: list[int] = []  # samples dropped by each clear()
        self.gain = 1.0
        self.ducks: list[float] = []  # each duck() gain, in order
        self._queue = np.zeros(0, dtype=np.float32)
        self._heard: list[np.ndarray] = []
        self._rendered = 0
        self._changed = asyncio.Event()

    @property
    def rendered(self) -> int:
        return self._rendered

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def heard(self) -> np.ndarray:
        return np.concatenate(self._heard) if self._heard else np.zeros(0, dtype=np.float32)

    async def frames(self) -> AsyncIterator:
        return
        yield

    async def play(self, samples: np.ndarray) -> None:
        if self.gone:
            return
        while len(self._queue) > self.capacity:
            self._changed.clear()
            await self._changed.wait()
        self._queue = np.concatenate([self._queue, np.asarray(samples, dtype=np.float32)])

    def duck(self, gain: float) -> None:
        self.gain = gain
        self.ducks.append(gain)

    def render(self, n: int) -> int:
        """The speaker plays up to n queued samples; returns how many."""
        out, self._queue = self._queue[:n], self._queue[n:]
        self._heard.append(out * self.gain)
        self._rendered += len(out)
        self._changed.set()
        return len(out)

    async def speaker(self, speed: float = 10.0, block: int = 320) -> None:
        """Run as a task: render `block` samples every block's duration / `speed`, like a device."""
        while True:
            await asyncio.sleep(block / 16000 / speed)
            self.render(block)

    def clear(self) -> int:
        dropped, self._queue = len(self._queue), np.zeros(0, dtype=np.float32)
        self.clears.append(dropped)
        self._changed.set()
        return dropped

    async def wait_played(self) -> None:
        while len(self._queue) and not self.gone:
            self._changed.clear()
            await self._changed.wait()

    async def aclose(self) -> None:
        self._changed.set()
