"""One reply's audio on its way to the speaker: pausable on a speech onset, and it knows what was heard.

The turn adds sentences and their audio as TTS produces them; a feeder task hands the audio to the
`AudioPort`. A possible onset `duck`s the reply (it plays on, quieter: a false alarm costs a dip,
not a gap); a speech onset `pause`s it: the speaker is cleared at once (nothing awaits anything on
that path) and the feeder stops; a reply prepared while the user might still go on is `held` until
`release`; `resume` (the onset was a cough) plays on from the first sample
not yet heard, at full level; `stop` (the turn is over) freezes the account.

What was heard is counted from the port's own `rendered` counter (samples that really left the
speaker), not from what was queued: a sentence still being queued at the cut, audio dropped by
`clear()`, or a speaker that is gone (nothing rendered) all come out right. A sentence cut part-way
is credited with the share of its characters that its rendered share of samples stands for.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.audio.port import DUCK_GAIN, AudioPort

log = logging.getLogger(__name__)

_AHEAD_S = 4.0  # TTS may run this far ahead of the speaker; further, `add` waits (and so the LLM)
_S_PER_CHAR = 0.2  # length of a sentence whose audio is not all made yet, guessed from its characters
_SLACK = 160  # a sentence rendered to within 10 ms of its end counts whole (device rate conversion rounds)


@dataclass(slots=True)
class _Segment:
    text: str  # "" for audio that is not part of the reply (the apology)
    start: int  # position of its first sample on the reply's timeline
    samples: int = 0
    complete: bool = False


class Playout:
    """Owned by one turn; `pause`/`resume` are called by the assistant's event loop (synchronous)."""

    def __init__(self, port: AudioPort, *, held: bool = False):
        """`held`: a reply prepared before the user's turn was sure to be over; nothing of it reaches
        the speaker before `release`."""
        self._port = port
        self._released = asyncio.Event()
        if not held:
            self._released.set()
        self._segments: list[_Segment] = []
        self._chunks: list[np.ndarray] = []
        self._starts: list[int] = []  # timeline position of each chunk
        self._total = 0  # samples added
        self._sent = 0  # timeline position handed to the port so far
        self._origin: tuple[int, int] | None = None  # (port.rendered, timeline position) when feeding began
        self._held = 0  # heard position, frozen while paused or stopped
        self._held_at = 0.0  # when it froze (monotonic)
        self._paused = False
        self._ducked = False
        self._stopped = False
        self._feeder: asyncio.Task | None = None
        self._changed = asyncio.Event()

    # -- the turn's side ------------------------------------------------------------------

    def begin(self, text: str) -> None:
        """A new sentence; its audio follows through `add`, then `end_sentence` once it is all there
        (a sentence whose synthesis failed part-way stays open: its length is then estimated)."""
        self._segments.append(_Segment(text, self._total))

    async def add(self, samples: np.ndarray) -> None:
        """Queue audio of the current sentence; waits while TTS is far ahead of the speaker."""
        if self._stopped or not len(samples):
            return
        if not self._segments:
            self.begin("")
        self._chunks.append(np.asarray(samples, dtype=np.float32))
        self._starts.append(self._total)
        self._total += len(samples)
        self._segments[-1].samples += len(samples)
        self._kick()
        while not self._stopped and self._total - self._sent > _AHEAD_S * SAMPLE_RATE:
            await self._wait_change()

    async def drain(self) -> None:
        """Return once all audio added so far was played (waits through a pause; ends on `stop`)."""
        while not self._stopped:
            if not self._paused and self._sent >= self._total and self._feeder is None:
                await self._port.wait_played()
                if not self._paused and self._sent >= self._total:
                    return
            else:
                await self._wait_change()

    async def released(self) -> None:
        """Return once the reply may be heard (at once, unless it was made `held`)."""
        await self._released.wait()

    # -- the event loop's side (never awaits) ---------------------------------------------

    def release(self) -> None:
        """The turn is sure: a held reply may play."""
        self._released.set()

    def duck(self, down: bool = True) -> None:
        """Turn the reply down by 15 dB (or back up): it goes on playing, and what plays counts as heard."""
        if down != self._ducked and not (down and (self._paused or self._stopped)):
            self._ducked = down
            self._port.duck(DUCK_GAIN if down else 1.0)

    def pause(self) -> float:
        """Silence the speaker now and hold the rest; returns seconds of this reply heard so far."""
        if not self._paused and not self._stopped:
            self._held, self._held_at = self.heard_samples(), time.monotonic()
            self._paused = True
            self._halt()
            self._sent, self._origin = self._held, None
            self.duck(False)  # nothing queued is left to hear at the lower level
        return self._held / SAMPLE_RATE

    def resume(self) -> None:
        """Play on from the first sample not heard."""
        if self._paused and not self._stopped:
            self._paused = False
            self._kick()

    def stop(self) -> None:
        """The turn is over: freeze what was heard and drop anything still queued."""
        if self._stopped:
            return
        if not self._paused:
            self._held, self._held_at = self.heard_samples(), time.monotonic()
        if self._feeder is not None or self._sent > self._held:
            self._halt()
        self.duck(False)  # the next reply starts at full level
        self._stopped = True
        self._changed.set()

    @property
    def samples(self) -> int:
        """Audio added so far, heard or not."""
        return self._total

    @property
    def paused(self) -> bool:
        return self._paused

    # -- what was heard -------------------------------------------------------------------

    def heard_samples(self) -> int:
        if self._paused or self._stopped or self._origin is None:
            return self._held
        rendered, at = self._origin
        return min(at + max(self._port.rendered - rendered, 0), self._sent)

    def heard_s(self) -> float:
        return self.heard_samples() / SAMPLE_RATE

    def text(self) -> str:
        """The reply as made (every sentence begun), heard or not."""
        return "".join(s.text for s in self._segments)

    def heard_text(self) -> str:
        """Whole sentences heard, plus the heard share of one cut (or whose synthesis failed)."""
        heard, out = self.heard_samples(), []
        for seg in self._segments:
            if not seg.samples:  # TTS made no sound for it
                continue
            played = min(max(heard - seg.start, 0), seg.samples)
            if not played:
                break
            if seg.complete and played >= seg.samples - _SLACK:
                out.append(seg.text)
                continue
            length = seg.samples if seg.complete else max(seg.samples, len(seg.text) * _S_PER_CHAR * SAMPLE_RATE)
            out.append(seg.text[: int(len(seg.text) * played / length)])
            if played < seg.samples:
                break
        return "".join(out)

    def heard_text_since(self, t: float) -> str:
        """What the speaker played since monotonic time `t` (pauses not subtracted: a little more,
        never less), characters shared out over each sentence's samples."""
        if self._paused or self._stopped:
            end, now = self._held, self._held_at
        else:
            end, now = self.heard_samples(), time.monotonic()
        start = end - max(now - t, 0.0) * SAMPLE_RATE
        out = []
        for seg in self._segments:
            length = max(seg.samples, 1)
            lo, hi = max(start - seg.start, 0), min(end - seg.start, length)
            if hi > lo and seg.text:
                out.append(seg.text[int(len(seg.text) * lo / length): -(-len(seg.text) * int(hi) // length)])
        return "".join(out)

    # -- internals ------------------------------------------------------------------------

    def end_sentence(self) -> None:
        """The current sentence's audio is all there (its length is known, not guessed)."""
        if self._segments:
            self._segments[-1].complete = True

    def _kick(self) -> None:
        if self._feeder is None and not self._paused and not self._stopped and self._sent < self._total:
            if self._origin is None:
                self._origin = (self._port.rendered, self._sent)
            self._feeder = asyncio.get_running_loop().create_task(self._feed(), name="playout")
        self._changed.set()

    def _halt(self) -> None:
        """Stop feeding and drop what the port has not rendered; the feeder never resumes a play()."""
        if self._feeder is not None:
            self._feeder.cancel()
            self._feeder = None
        self._port.clear()
        self._changed.set()

    async def _feed(self) -> None:
        me = asyncio.current_task()
        try:
            while self._sent < self._total:
                i = bisect.bisect_right(self._starts, self._sent) - 1
                chunk = self._chunks[i][self._sent - self._starts[i]:]
                await self._port.play(chunk)
                self._sent = self._starts[i] + len(self._chunks[i])
                self._changed.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("playback failed; the rest of this reply is dropped")
            self._sent = self._total
        finally:
            if self._feeder is me:
                self._feeder = None
            self._changed.set()

    async def _wait_change(self) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):  # belt and braces: re-check state at least once a second
                await self._changed.wait()
