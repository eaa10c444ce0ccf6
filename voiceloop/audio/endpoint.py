"""Endpointing as a pure state machine: (frame duration, speech probability) in, events out.

No clock, no audio, no I/O: time is the sum of the frame durations fed so far (reported from
`origin`, the capture time of the first frame), so the same sequence of probabilities always
gives the same events, and tests need no audio at all. Its events are the front end's
(`audio.speech`).

The contract, for every stream:
- `SpeechStarted(t)` is emitted once `start_ms` of uninterrupted speech has been seen; `t` is when
  that speech began, less the detector's known `onset_lag_s` (so the onset is reported at least
  `start_ms` after `t`). It is the barge-in signal.
- Every `SpeechStarted` is followed by exactly one `SpeechEnded` or `SpeechDiscarded` with the
  same `start_t`. `end_t` is the end of the last speech frame less the detector's known
  `hangover_s` (never before `start_t`), reported `end_silence_ms` after `end_t`: the silence is
  counted from when the user actually stopped, not from when the detector let go.
- `SpeechPossible(t)` comes earlier, once `pause_ms` (< `start_ms`) of speech has been seen (with
  silero's 32 ms windows: the first window that reads as speech). It is followed by exactly one
  `SpeechStarted` (the sound went on to `start_ms`, perhaps after a dip shorter than `_DOUBT_S`:
  silero lets a soft onset flicker for a window) or one `SpeechRejected(t)` (it stopped for
  `_DOUBT_S`, or `_DOUBT_TOLD_S` once announced). A playing reply is turned down on it and back
  up on the rejection, so the speaker yields at the first sign of the user while a blip costs the
  reply a dip of ~0.25 s. Only a
  frame stepped with `playing` announces one (nothing else gains from an early sign); onset
  timing is the same either way.
- `SpeechPaused(start_t, end_t)` once the speech has been silent for `speculate_ms` (shorter than
  `end_silence_ms`, and only for speech long enough to be an utterance): the utterance may be over,
  with exactly that `end_t` if nothing more is heard. `SpeechResumed` if speech comes back first.
  The dialogue prepares its reply on the pause and plays it only on the end.
- Speech shorter than `min_utterance_ms` (a cough, a door) ends as `SpeechDiscarded`, so a
  consumer that stopped playback on the onset knows no utterance is coming.
- Speech longer than `max_utterance_s` is cut into a `SpeechEnded` there; if speech goes on, a
  new `SpeechStarted` starts at the cut.

Hysteresis: a frame starts speech at `threshold`, and keeps it going down to `threshold - 0.15`
(silero's own recommendation), so a probability wobbling around the threshold does not chop a
sentence into pieces.
"""

from __future__ import annotations

from enum import Enum

from voiceloop.audio.speech import (
    EndpointEvent,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechPossible,
    SpeechRejected,
    SpeechResumed,
    SpeechStarted,
)
from voiceloop.config import VadConfig

_HYSTERESIS = 0.15
_DOUBT_S = 0.07  # a possible onset's sound may stop this long (two silero windows) and still go on
# ... and this long once a playing reply was turned down for it: the dip reaches the microphone only
# through the output buffer and the echo path, so quiet heard sooner is still the loud reply's echo
# masking the user, and taking the dip back then made a soft onset flicker (down, up, down, ...).
_DOUBT_TOLD_S = 0.2


class _State(Enum):
    SILENCE = "silence"
    ONSET = "onset"  # speech seen, not yet long enough to count
    DOUBT = "doubt"  # a possible onset's sound stopped: rejected unless it comes back within _DOUBT_S
    SPEECH = "speech"


class Endpointer:
    def __init__(self, cfg: VadConfig, hangover_s: float = 0.0, onset_lag_s: float = 0.0, origin: float = 0.0):
        if hangover_s < 0 or onset_lag_s < 0:
            raise ValueError(f"hangover_s={hangover_s}, onset_lag_s={onset_lag_s}: expected >= 0 seconds")
        self._hangover_s = hangover_s
        self._onset_lag_s = onset_lag_s
        self._on = cfg.threshold
        self._off = max(cfg.threshold - _HYSTERESIS, 0.01)
        self._start_s = cfg.start_ms / 1000
        self._pause_s = cfg.pause_ms / 1000 if cfg.pause_ms < cfg.start_ms else None  # None: the onset pauses
        self._possible: float | None = None  # t of a possible onset, awaiting its onset or rejection
        self._told = False  # ... and a SpeechPossible for it is out
        self._origin = origin
        self._end_silence_s = cfg.end_silence_ms / 1000
        self._speculate_s = cfg.speculate_ms / 1000 if 0 < cfg.speculate_ms < cfg.end_silence_ms else None
        self._paused = False  # a SpeechPaused is out for the speech in progress
        self._min_s = cfg.min_utterance_ms / 1000
        self._max_s = cfg.max_utterance_s
        self._t = 0.0
        self._state = _State.SILENCE
        self._start_t = 0.0
        self._last_speech_end = 0.0

    @property
    def in_speech(self) -> bool:
        """True between a `SpeechStarted` and its end event."""
        return self._state is _State.SPEECH

    @property
    def idle(self) -> bool:
        """Silence: no sound is being weighed as a possible start of speech."""
        return self._state is _State.SILENCE

    def step(self, frame_s: float, speech_prob: float, playing: bool = True) -> list[EndpointEvent]:
        """Advance by one frame of `frame_s` seconds with the detector's speech probability;
        `playing`: the speaker plays a reply the first sign of speech should pause."""
        if frame_s <= 0:
            raise ValueError(f"frame_s={frame_s}: frames must have a positive duration")
        frame_start, self._t = self._t, self._t + frame_s
        if self._state is _State.SPEECH:
            return self._in_speech(speech_prob >= self._off)
        if speech_prob < self._on:
            return self._quiet()
        if self._state is not _State.ONSET:
            self._state, self._start_t = _State.ONSET, max(frame_start - self._onset_lag_s, 0.0)
        self._last_speech_end = self._t
        events: list[EndpointEvent] = []
        heard_s = self._t - self._start_t - self._onset_lag_s + 1e-9
        if self._pause_s is not None and self._possible is None and heard_s >= self._pause_s:
            self._possible, self._told = self._start_t, playing
            if playing:
                events.append(SpeechPossible(self._origin + self._start_t))
        if heard_s >= self._start_s:
            self._state, self._possible, self._told = _State.SPEECH, None, False
            events.append(SpeechStarted(self._origin + self._start_t))
        return events

    def _quiet(self) -> list[EndpointEvent]:
        """A non-speech frame outside speech: a possible onset is doubted, then rejected."""
        if self._possible is None:
            self._state = _State.SILENCE
            return []
        self._state = _State.DOUBT
        doubt_s = _DOUBT_TOLD_S if self._told else _DOUBT_S
        return self._reject() if self._t - self._last_speech_end >= doubt_s - 1e-9 else []

    def _reject(self) -> list[EndpointEvent]:
        t, told, self._possible, self._told, self._state = self._possible, self._told, None, False, _State.SILENCE
        return [SpeechRejected(self._origin + t)] if t is not None and told else []

    def finish(self) -> list[EndpointEvent]:
        """End of stream: close an utterance in progress as if silence had followed."""
        if self._state is not _State.SPEECH:
            return self._reject()
        return [self._close(self._last_speech_end - self._hangover_s)]

    def _in_speech(self, is_speech: bool) -> list[EndpointEvent]:
        if is_speech:
            self._last_speech_end = self._t
            events: list[EndpointEvent] = []
            if self._paused:
                self._paused = False
                events.append(SpeechResumed(self._origin + self._start_t))
            if self._t - self._start_t >= self._max_s - 1e-9:
                events.append(SpeechEnded(self._origin + self._start_t, self._origin + self._t))
                self._start_t = self._t
                events.append(SpeechStarted(self._origin + self._t))
            return events
        end_t = self._last_speech_end - self._hangover_s
        silent_s = self._t - end_t
        if silent_s >= self._end_silence_s - 1e-9:
            return [self._close(end_t)]
        if (self._speculate_s is not None and not self._paused and silent_s >= self._speculate_s - 1e-9
                and end_t - self._start_t >= self._min_s - 1e-9):
            self._paused = True
            return [SpeechPaused(self._origin + self._start_t, self._origin + max(end_t, self._start_t))]
        return []

    def _close(self, end_t: float) -> EndpointEvent:
        self._state, self._paused = _State.SILENCE, False
        end_t = max(end_t, self._start_t)
        short = end_t - self._start_t < self._min_s - 1e-9
        start_t, end_t = self._origin + self._start_t, self._origin + end_t
        return SpeechDiscarded(start_t, end_t) if short else SpeechEnded(start_t, end_t)
