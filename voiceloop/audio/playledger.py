"""The speaker's account: every sample handed to the device ends up rendered or dropped.

One unit (16 kHz samples, the port's rate) across reopens of devices at other rates, so `rendered`
is one counter and "everything queued so far was played" is one comparison. The event loop is its
only user: the output callback's reports reach it through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio

from voiceloop.audio.frames import SAMPLE_RATE

_EPSILON = 0.5  # sums of converted counts may differ from the whole by a rounding error, never by a sample


class PlaybackLedger:
    def __init__(self) -> None:
        self._queued = self._rendered = self._dropped = 0.0
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []
        self._moved = asyncio.Event()

    @property
    def rendered(self) -> int:
        """16 kHz samples the speaker has played; never decreases."""
        return round(self._rendered)

    @property
    def settled(self) -> bool:
        """Everything queued so far was rendered or dropped."""
        return self._rendered + self._dropped >= self._queued - _EPSILON

    def queued(self, samples: int, rate: int) -> None:
        """`samples` at the device's `rate` went into the device buffer."""
        self._queued += samples * SAMPLE_RATE / rate

    def rendered_block(self, samples: int, rate: int) -> None:
        """The output callback played `samples` of queued audio (the rest of its block was silence)."""
        self._rendered += samples * SAMPLE_RATE / rate
        self._progress()

    def dropped(self, samples: int, rate: int) -> int:
        """`samples` left the buffer unplayed (a clear, a closed device); returns them at 16 kHz."""
        converted = samples * SAMPLE_RATE / rate
        self._dropped += converted
        self._progress()
        return round(converted)

    def lose_in_flight(self) -> None:
        """The device is gone: whatever it had been given and not reported played is lost."""
        self._dropped = self._queued - self._rendered
        self._progress(everything=True)

    async def wait_played(self) -> None:
        """Return once everything queued so far is rendered or dropped."""
        if self.settled:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self._queued, future))
        await future

    async def wait_moved(self) -> None:
        """Return at the next rendered or dropped report (room may have opened in the buffer)."""
        self._moved.clear()
        await self._moved.wait()

    def release(self) -> None:
        """No device to play anything: nobody waits for it."""
        self._progress(everything=True)

    def _progress(self, everything: bool = False) -> None:
        self._moved.set()
        done = self._rendered + self._dropped + _EPSILON
        keep = []
        for target, future in self._waiters:
            if everything or done >= target:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep
