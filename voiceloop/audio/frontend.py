"""The audio front end: device frames in, speech events out (echo cancelled, endpointed).

    AudioPort.frames()  --Rendered-->  EchoPath.render
                        --Captured-->  EchoPath.capture/cancel -> SpeechDetector -> Endpointer
                                                              \\-> pre-roll ring -> Utterance samples

Two layers, so the same code serves the daemon, `voiceloop listen`, tests and the benchmark:
- `FrontEnd.push(item) -> list[FrontEndEvent]`: synchronous and deterministic, no I/O.
- `frontend_events(frames, front)`: the async transform over an `AudioPort.frames()` stream.

The per-frame work runs inline on the event loop on purpose: measured on this 2-core box it is
~0.1-0.2 ms per 10 ms frame (AEC3 ~0.06, silero ~0.03, the rest numpy), far below what a thread
hop would cost, and inline keeps render/capture order exact. See bench/frontend.py.

Echo path: `echopath.EchoPath` pairs every mic frame with what the speaker played, measures the
speaker-to-mic delay and cancels the echo; while echo can arrive the barge-in detector's verdict
counts too.

Cold start: an echo canceller that has never heard the speaker has not learnt the room yet, and
its residual echo (played 6 dB over the user) would read as speech. Until the echo path trusts
its cancellers (`Cancelled.trusted`), frames captured while echo can arrive count as non-speech:
~2 s of the first reply after start-up with a desk speaker, ~3.5 s with a slow one (the delay is
measured after ~1.5 s of reply, then the fresh cancellers learn the path). Those frames are kept,
and once the path is learnt they are gone over again (`audio.hindsight`), so a user who spoke then
is heard late, but whole, not lost.
Speech the main canceller alone hears over the speaker while the double-talk detector cannot tell
yet (it has not learnt the room, or relearns a path that moved) may be echo that canceller left:
it turns the reply down, but its onset waits for a fresh canceller, learning the path from the 3 s
before it, to hear it too (`audio.doubt`).

Utterance audio is the echo-cancelled signal from `preroll_ms` before the detected start (so
the first syllable's soft onset is kept) to `_TAIL_S` after the detected end (the last syllable's
decay, which ASR needs): over the speaker the linear canceller's output, which keeps the user at
full level, while it leaves the echo well down, AEC3's otherwise (`_echo_leak_db`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import numpy as np

from voiceloop.audio.aec import EchoCanceller
from voiceloop.audio.doubt import CONTEXT_S as _DOUBT_CONTEXT_S
from voiceloop.audio.doubt import DoubtGate
from voiceloop.audio.echopath import Cancelled, EchoPath
from voiceloop.audio.endpoint import Endpointer
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.hindsight import Hindsight, Recheck, Replay, advance
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.speech import (
    EndpointEvent,
    FrontEndEvent,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechPossible,
    SpeechStarted,
    Tentative,
    Utterance,
)
from voiceloop.audio.vad import SpeechDetector, create_speech_detector
from voiceloop.config import Config

log = logging.getLogger(__name__)

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_TAIL_S = 0.2
_HINDSIGHT_FRAMES = 8  # hindsight's frames of work per frame captured (~4 ms per 10 ms while it lasts)
_LINEAR_ASR_LEAK_DB = -5.0  # the linear canceller's output over AEC3's while it leaves the echo this far down
_FOLLOWED_LEAK_DB = 0.0  # ...and follows the path at all (wandering, it leaves the echo at -1..+7 dB)
_LEAK_LAG_FRAMES = 50  # the leak 0.5 s before a speech candidate: the user's voice has not raised it yet


@dataclass(slots=True)
class _CatchUp:
    """Hindsight at work, a few frames per frame captured, while the live path goes on: the frames
    it steps meanwhile (to step again after the replay) and the events it sent."""

    work: Iterator[Replay | None]
    held: list[tuple[Captured, float, bool]] = field(default_factory=list)  # (frame, probability, playing)
    sent: list[FrontEndEvent] = field(default_factory=list)

    def advance(self, frames: int) -> Replay | None:
        return advance(self.work, frames)


class FrontEnd:
    """Echo cancellation, speech detection and endpointing for one capture stream.

    Engines come from `cfg` unless given (tests and the benchmark pass their own).
    """

    def __init__(self, cfg: Config, *, echo_canceller: EchoCanceller | None = None,
                 detector: SpeechDetector | None = None):
        self._path = EchoPath(cfg, echo_canceller)
        self._vad = detector or create_speech_detector(cfg.vad)
        self._vad_cfg = cfg.vad
        self._endpointer = self._new_endpointer(0.0)
        self._hindsight = Hindsight(cfg.aec, cfg.vad) if self._path.aec_cfg is not None else None
        self._catch_up: _CatchUp | None = None  # hindsight at work: the frames that arrive meanwhile
        self._recent: deque[tuple[Captured, float]] = deque(maxlen=round(_DOUBT_CONTEXT_S / _FRAME_S))
        self._doubt = DoubtGate(cfg.vad)  # speech over the speaker that may be the echo (`audio.doubt`)
        self._preroll_s = cfg.vad.preroll_ms / 1000
        ring_frames = int((self._preroll_s + cfg.vad.start_ms / 1000) / _FRAME_S) + 2
        self._ring: deque[Captured] = deque(maxlen=ring_frames)
        self._utterance: list[Captured] | None = None
        self._started = False
        self._leaks: deque[float] = deque(maxlen=_LEAK_LAG_FRAMES)  # the barge-in canceller's, while nobody talks
        self.last_probability = 0.0

    @property
    def echo_delay_s(self) -> float | None:
        """The measured speaker-to-microphone delay, None until the speaker has played enough."""
        return self._path.delay_s

    def push(self, item: Captured | Rendered) -> list[FrontEndEvent]:
        """Feed one frame from `AudioPort.frames()`; returns the events it completed."""
        if isinstance(item, Rendered):
            self._path.render(item)
            return []
        if not isinstance(item, Captured):
            raise TypeError(f"FrontEnd.push: expected Captured or Rendered, got {type(item).__name__}")
        events: list[FrontEndEvent] = []
        for frame, pos in self._path.capture(item):
            events += self._process(frame, pos)
        return events

    def _new_endpointer(self, origin: float) -> Endpointer:
        return Endpointer(self._vad_cfg, self._vad.hangover_s, self._vad.onset_lag_s, origin)

    @property
    def _quiet(self) -> bool:
        """No sound is being weighed as speech and no utterance is open: nobody talks."""
        return self._endpointer.idle and self._utterance is None

    def _cancel(self, item: Captured, pos: float) -> Cancelled:
        return self._path.cancel(item, pos, quiet=self._quiet)

    def _process(self, item: Captured, pos: float) -> list[FrontEndEvent]:
        if not self._started:  # the endpointer's clock starts at the first frame's capture time
            self._started, self._endpointer = True, self._new_endpointer(item.t)
        cancelled = self._cancel(item, pos)
        clean, barge, playing = cancelled.clean, cancelled.barge, cancelled.playing
        if self._hindsight is not None:
            self._recent.append((item, pos))
        if self._doubt.busy:
            self._doubt.feed(item, self._path.reference(pos))
        self.last_probability = main = self._vad.probability(clean)
        if playing and not cancelled.trusted:
            self.last_probability = 0.0
            if self._hindsight is not None and self._catch_up is None:
                self._hindsight.keep(item, pos, self._endpointer, self._ring, idle=self._quiet)
        else:
            if self._hindsight is not None and self._hindsight.pending and self._catch_up is None:
                self._catch_up = _CatchUp(self._hindsight.start(self._path.reference, self._path.hint_ms))
            if playing and barge:
                self.last_probability = max(self.last_probability, barge.probability)
        leak_db = self._echo_leak_db()
        linear = playing and barge is not None and leak_db < _LINEAR_ASR_LEAK_DB
        kept = Captured(barge.linear if linear else clean, item.t)
        events = self._step(kept, self.last_probability, playing)
        if playing and any(isinstance(ev, SpeechStarted) for ev in events):
            log.info("speech onset while the speaker plays: speech p=%.2f after echo cancellation, "
                     "p=%.2f from the double-talk detector (leak %.0f dB, %.0f dB before the speech); "
                     "recognised from the %s canceller's output", main, barge.probability if barge else 0.0,
                     self._path.leak_db, leak_db, "linear" if linear else "main")
        double_talk = bool(barge and barge.double_talk)
        doubtful = playing and self._hindsight is not None and self._path.double_talk_blind and not double_talk
        events = self._doubt.step(events, item.t, self._recheck if doubtful else None, double_talk,
                                  followed=leak_db < _FOLLOWED_LEAK_DB)
        if self._catch_up is not None:
            self._catch_up.held.append((kept, self.last_probability, playing))
            self._catch_up.sent += events
            replay = self._catch_up.advance(_HINDSIGHT_FRAMES)
            if replay is not None:
                events += self._caught_up(replay)
        return events

    def _echo_leak_db(self) -> float:
        """What the linear canceller leaves of the echo, as measured before any speech now weighed.

        Over the speaker ASR hears the linear canceller's output, which keeps the user at full level
        where AEC3's suppressor takes 12-18 dB off (and chops) a voice over the echo; but that
        output keeps the echo's residue too, and a canceller that has not converged (a path that
        drifts faster than it follows) leaves the echo as loud as the user: ASR would hear both
        voices. Its leak is read while nobody talks, since a voice it cannot tell raises it: each
        call, once a frame, records this frame's reading then, and gives the one from 0.5 s before."""
        if self._quiet:
            self._leaks.append(self._path.leak_db)
        return self._leaks[0] if self._leaks else 0.0

    def _step(self, kept: Captured, probability: float, playing: bool) -> list[FrontEndEvent]:
        """One processed frame into the pre-roll, the utterance in progress and the endpointer."""
        self._ring.append(kept)
        if self._utterance is not None:
            self._utterance.append(kept)
        return self._handle(self._endpointer.step(_FRAME_S, probability, playing))

    def _caught_up(self, replay: Replay) -> list[FrontEndEvent]:
        """Hindsight is done: from the endpointer and pre-roll as they were before the frames taken
        as non-speech while the path was learnt, step its cleaned frames, then those the live path
        stepped meanwhile. Speech found there takes over from the live path, less the onset events
        the live path already sent for the same speech; none found, or a live utterance already
        whole, and the live path stands (`audio.hindsight`)."""
        catch_up, self._catch_up = self._catch_up, None
        live = (self._endpointer, self._ring, self._utterance)
        self._endpointer, self._ring, self._utterance = replay.endpointer, replay.ring, None
        events: list[FrontEndEvent] = []
        for kept, probability in replay.frames:
            events += self._step(kept, probability, playing=True)
        found = any(isinstance(ev, SpeechStarted) for ev in events)
        for kept, probability, playing in catch_up.held:
            events += self._step(kept, probability, playing)
        if not found or self._doubt.final or any(isinstance(ev, Utterance | SpeechDiscarded)
                                                         for ev in catch_up.sent):
            self._endpointer, self._ring, self._utterance = live
            return []
        log.info("speech onset while the speaker plays, found going back over the %.1f s played while the "
                 "cancellers learnt the echo path: speech p=%.2f after a fresh echo canceller",
                 len(replay.frames) * _FRAME_S, replay.peak)
        self._doubt.clear()  # the speech it takes over with was judged by the canceller that learnt the path
        told = {type(ev) for ev in catch_up.sent}
        while events and isinstance(events[0], SpeechPossible | SpeechStarted) and type(events[0]) in told:
            events.pop(0)  # the live path has said so already
        return events

    def finish(self) -> list[FrontEndEvent]:
        """End of stream: emit the utterance in progress, if any."""
        events = self._caught_up(self._catch_up.advance(1 << 30)) if self._catch_up is not None else []
        for frame, pos in self._path.flush():
            events += self._process(frame, pos)
        now = self._recent[-1][0].t if self._recent else 0.0
        events += self._doubt.step(self._handle(self._endpointer.finish()), now, None, False)
        return events + self._doubt.finish()

    def _recheck(self) -> Recheck:
        """A doubt's canceller, learning from the seconds before its first sign."""
        return self._hindsight.check(list(self._recent), self._path.reference, self._path.hint_ms)

    def _handle(self, events: list[EndpointEvent]) -> list[FrontEndEvent]:
        """The endpointer's events, passed on; its `SpeechEnded` as the `Utterance` it closes, its
        `SpeechPaused` as the `Tentative` utterance so far."""
        out: list[FrontEndEvent] = []
        for ev in events:
            if isinstance(ev, SpeechStarted):
                self._utterance = list(self._ring)
            elif isinstance(ev, SpeechDiscarded):
                self._utterance = None
            if isinstance(ev, SpeechEnded):
                out.append(Utterance(self._samples(ev.start_t, ev.end_t), ev.start_t, ev.end_t))
                self._utterance = None
            elif isinstance(ev, SpeechPaused):
                out.append(Tentative(self._samples(ev.start_t, ev.end_t), ev.start_t, ev.end_t))
            else:
                out.append(ev)
        return out

    def _samples(self, start_t: float, end_t: float) -> np.ndarray:
        """The utterance's audio: `preroll_ms` before its start to `_TAIL_S` after its end."""
        lo, hi = start_t - self._preroll_s - 1e-6, end_t + _TAIL_S - 1e-6
        kept = [f.samples for f in self._utterance or [] if lo <= f.t < hi]
        return np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)


async def frontend_events(frames: AsyncIterator[Captured | Rendered],
                          front: FrontEnd) -> AsyncIterator[FrontEndEvent]:
    """The async transform: `async for ev in frontend_events(port.frames(), FrontEnd(cfg))`.

    Runs until `frames` ends, then flushes an utterance in progress. The caller owns `frames`
    (and closes the port); cancelling the consumer cancels this generator with it.
    """
    async for item in frames:
        for event in front.push(item):
            yield event
    for event in front.finish():
        yield event
