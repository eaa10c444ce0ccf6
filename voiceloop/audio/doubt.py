"""Duck on doubt, stop on certainty: speech heard over the speaker that may be the echo.

Speech the main canceller (AEC3) alone hears over the speaker while the double-talk detector
cannot tell yet (it has not learnt the room: the first reply after start-up, a path that moved or
keeps moving) may be the echo AEC3 left: once, 1 s after a cold start on a busy PulseAudio server,
p 0.79 of it, recognised as words that matched nothing played; in the echo matrix's cells whose
path drifts hidden from the timestamps, 2-5 such onsets in 1.7 min of reply. So from its first sign
(`SpeechPossible`: the reply is turned down) a fresh canceller learns the path from the
`CONTEXT_S` before it and from the sound as it goes on (`Hindsight.check`), and the onset
(`SpeechStarted`, which stops the reply) and all that follows it wait for its verdict:
- `_EARLY_S` into the speech, the fresh canceller goes over it again: `_EARLY_SPEECH_S` of speech
  there, and the onset and what followed it go out (the reply stops). None proves nothing yet:
  AEC3's suppressor takes the first of a user's words under the echo too (half the barge-ins of
  the echo matrix's first replies had none at 0.4 s), so the reply stays turned down;
  where the linear canceller did not follow the path at all before the first sign, only at 1 s;
- when it ends (`Utterance`), it is judged again whole: speech found, the onset and the
  `Utterance` go out late; none, a `SpeechRejected` (the reply is back at full level) and nothing
  is recognised.
The double-talk detector hearing the user meanwhile ends the doubt at once. The echo costs a dip
instead of a gap and never a turn; a barge-in in the first reply stops the reply ~0.5-1 s later
than it would (it is turned down at once all the same). Judging again more often than twice
before the end was tried: over a long stretch of echo, some pass found speech in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.hindsight import Recheck, Replay, advance
from voiceloop.audio.port import Captured
from voiceloop.audio.speech import (
    FrontEndEvent,
    SpeechDiscarded,
    SpeechPossible,
    SpeechRejected,
    SpeechStarted,
    Utterance,
)
from voiceloop.config import VadConfig

log = logging.getLogger("voiceloop.audio.frontend")

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
CONTEXT_S = 3.0  # before the first sign, what the canceller that judges it again learns from
_LEAD_S = 0.6  # before the onset, where it cancels again from (speech detector settling, echo test context)
_EARLY_S = (0.4, 1.0)  # into the speech, the early verdicts...
_EARLY_SPEECH_S = 0.2  # ...each on at least this much speech heard by the fresh canceller
_TAIL_S = 0.2  # after an utterance's end, the last frames judged with it
_WORK = 16  # frames of work per frame captured while a doubt is open (~8 ms per 10 ms)


@dataclass(slots=True)
class _Doubt:
    recheck: Recheck
    onset: SpeechStarted | None = None  # withheld with what followed it, until the verdict
    withheld: list[FrontEndEvent] = field(default_factory=list)
    early: int = 0  # early verdicts given or skipped (none of them speech: the final one decides)
    judging: Iterator[Replay | None] | None = None
    utterance: Utterance | None = None  # the final verdict's
    after: list[FrontEndEvent] = field(default_factory=list)  # events after the utterance, held meanwhile
    frames: int = 0  # frames captured since the first sign


class DoubtGate:
    """The front end's events through the doubt, if one is open: `feed` it every frame captured
    meanwhile, then `step` that frame's events."""

    def __init__(self, vad: VadConfig):
        self._vad = vad
        self._doubt: _Doubt | None = None

    @property
    def busy(self) -> bool:
        return self._doubt is not None

    @property
    def final(self) -> bool:
        """An utterance is waiting for its verdict."""
        return self._doubt is not None and self._doubt.utterance is not None

    def clear(self) -> None:
        """Hindsight took over with speech it judged itself: nothing left in doubt."""
        self._doubt = None

    def feed(self, item: Captured, ref: np.ndarray) -> None:
        self._doubt.recheck.add(item, ref)

    def step(self, events: list[FrontEndEvent], now: float, doubtful: Callable[[], Recheck] | None,
             double_talk: bool, followed: bool = True) -> list[FrontEndEvent]:
        """This frame's events, less what waits for a verdict, plus what a verdict let out.
        `doubtful` opens a doubt on a first sign (None: the double-talk detector can tell);
        `double_talk`: it hears the user now; `followed`: the linear canceller followed the echo
        path until now. When it did not (a path that moves faster than cancellers learn it), the
        fresh canceller follows it no better, and 0.4 s of speech is too little to tell its echo
        from the user by how much of it is a function of what was played (on a path wandering 1 ms
        a second the echo alone read 0.57 explained, a user under it 0.45-0.62, and the echo stopped
        the reply): the first early verdict is skipped."""
        out: list[FrontEndEvent] = []
        d = self._doubt
        if d is not None and double_talk and d.utterance is None:
            out += self._released(d)
            d = self._doubt = None
        for ev in events:
            if d is None and isinstance(ev, SpeechPossible | SpeechStarted) and doubtful is not None:
                # (an onset whose first sign was not in doubt yet, too)
                d = self._doubt = _Doubt(doubtful(), early=0 if followed else 1)
            if d is None:
                out.append(ev)
            else:
                out += self._take(d, ev)
                d = self._doubt
        if d is not None:
            d.frames += 1
            out += self._work(d, now, any(isinstance(ev, SpeechPossible | SpeechStarted) for ev in d.after))
        return out

    def finish(self) -> list[FrontEndEvent]:
        """End of stream: any verdict in progress given at once."""
        d = self._doubt
        if d is None:
            return []
        if d.utterance is None:
            return self._released(d)
        return self._work(d, 0.0, hurry=True)

    def _take(self, d: _Doubt, ev: FrontEndEvent) -> list[FrontEndEvent]:
        if d.utterance is not None:
            d.after.append(ev)
        elif d.onset is None:
            if isinstance(ev, SpeechStarted):
                d.onset = ev
                d.withheld.append(ev)
                return []
            if not isinstance(ev, SpeechPossible):
                self._doubt = None  # stopped short of speech (`SpeechRejected`): nothing to judge
            return [ev]
        elif isinstance(ev, Utterance):
            d.utterance, d.judging = ev, d.recheck.judge(ev.start_t - _LEAD_S, ev.end_t + _TAIL_S)
        elif isinstance(ev, SpeechDiscarded):
            self._doubt = None  # too short to be an utterance: the onset never counted
            return [SpeechRejected(ev.end_t)]
        else:
            d.withheld.append(ev)
        return []

    def _work(self, d: _Doubt, now: float, hurry: bool) -> list[FrontEndEvent]:
        if d.judging is None:
            if d.onset is not None and d.early < len(_EARLY_S) and now >= d.onset.t + _EARLY_S[d.early]:
                d.early += 1
                d.judging = d.recheck.judge(d.onset.t - _LEAD_S, now + _FRAME_S)
            else:
                d.recheck.learn(_WORK)
                return []
        replay = advance(d.judging, 1 << 30 if hurry else _WORK)
        if replay is None:
            return []
        d.judging = None
        if d.utterance is None:
            return self._early(d, replay, now)
        return self._final(d, replay)

    def _early(self, d: _Doubt, replay: Replay, now: float) -> list[FrontEndEvent]:
        p = self._speech(replay, d.onset.t, now + _FRAME_S, _EARLY_SPEECH_S)
        if p is None:
            return []  # not yet: AEC3's suppressor takes the first of a user's words under the echo too
        log.info("speech over the reply heard by the echo canceller alone (the double-talk detector had "
                 "not learnt the room): a canceller that learnt the path around it hears it too (p=%.2f; "
                 "the reply stops %.2f s after the first sign)", p, d.frames * _FRAME_S)
        return self._released(d)

    def _final(self, d: _Doubt, replay: Replay) -> list[FrontEndEvent]:
        self._doubt = None
        u = d.utterance
        p = self._speech(replay, u.start_t, u.end_t, self._vad.start_ms / 1000)
        if p is not None:
            log.info("speech over the reply heard by the echo canceller alone is the user's: a canceller that "
                     "learnt the path around it hears it in its %.1f s (p=%.2f; %.2f s after the first sign)",
                     u.end_t - u.start_t, p, d.frames * _FRAME_S)
            return [*d.withheld, u, *d.after]
        log.info("speech over the reply was the echo after all: a canceller that learnt the path around it hears "
                 "none in its %.1f s (the double-talk detector had not learnt the room; the reply was turned "
                 "down for %.2f s)", u.end_t - u.start_t, d.frames * _FRAME_S)
        return [SpeechRejected(u.end_t), *d.after]

    def _speech(self, replay: Replay, start_t: float, end_t: float, least_s: float) -> float | None:
        """The peak speech probability the fresh canceller found from `start_t` to `end_t`, if there
        is at least `least_s` of it; None if there is not."""
        speech = [p for f, p in replay.frames if start_t - _FRAME_S <= f.t < end_t and p >= self._vad.threshold]
        return max(speech) if len(speech) * _FRAME_S >= least_s else None

    def _released(self, d: _Doubt) -> list[FrontEndEvent]:
        self._doubt = None
        return d.withheld
