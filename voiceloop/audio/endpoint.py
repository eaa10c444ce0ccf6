"""Endpointing as a pure state machine: (frame duration, speech probability) in, events out.

No clock, no audio, no I/O: time is the sum of the frame durations fed so far, so the same
sequence of probabilities always gives the same events, and tests need no audio at all.

The contract, for every stream:
- `SpeechOnset(t)` is emitted once `start_ms` of uninterrupted speech has been seen; `t` is when
  that speech began, less the detector's known `onset_lag_s` (so the onset is reported at least
  `start_ms` after `t`). It is the barge-in signal.
- Every `SpeechOnset` is followed by exactly one `UtteranceEnd` or `UtteranceDiscarded` with the
  same `start_t`. `end_t` is the end of the last speech frame less the detector's known
  `hangover_s` (never before `start_t`), reported `end_silence_ms` after `end_t`: the silence is
  counted from when the user actually stopped, not from when the detector let go.
- Speech shorter than `min_utterance_ms` (a cough, a door) ends as `UtteranceDiscarded`, so a
  consumer that stopped playback on the onset knows no utterance is coming.
- Speech longer than `max_utterance_s` is cut into an `UtteranceEnd` there; if speech goes on, a
  new `SpeechOnset` starts at the cut.

Hysteresis: a frame starts speech at `threshold`, and keeps it going down to `threshold - 0.15`
(silero's own recommendation), so a probability wobbling around the threshold does not chop a
sentence into pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from voiceloop.config import VadConfig

_HYSTERESIS = 0.15


@dataclass(frozen=True, slots=True)
class SpeechOnset:
    t: float


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class UtteranceDiscarded:
    start_t: float
    end_t: float


EndpointEvent = SpeechOnset | UtteranceEnd | UtteranceDiscarded


class _State(Enum):
    SILENCE = "silence"
    ONSET = "onset"  # speech seen, not yet long enough to count
    SPEECH = "speech"


class Endpointer:
    def __init__(self, cfg: VadConfig, hangover_s: float = 0.0, onset_lag_s: float = 0.0):
        if hangover_s < 0 or onset_lag_s < 0:
            raise ValueError(f"hangover_s={hangover_s}, onset_lag_s={onset_lag_s}: expected >= 0 seconds")
        self._hangover_s = hangover_s
        self._onset_lag_s = onset_lag_s
        self._on = cfg.threshold
        self._off = max(cfg.threshold - _HYSTERESIS, 0.01)
        self._start_s = cfg.start_ms / 1000
        self._end_silence_s = cfg.end_silence_ms / 1000
        self._min_s = cfg.min_utterance_ms / 1000
        self._max_s = cfg.max_utterance_s
        self._t = 0.0
        self._state = _State.SILENCE
        self._start_t = 0.0
        self._last_speech_end = 0.0

    @property
    def in_speech(self) -> bool:
        """True between a `SpeechOnset` and its end event."""
        return self._state is _State.SPEECH

    def step(self, frame_s: float, speech_prob: float) -> list[EndpointEvent]:
        """Advance by one frame of `frame_s` seconds with the detector's speech probability."""
        if frame_s <= 0:
            raise ValueError(f"frame_s={frame_s}: frames must have a positive duration")
        frame_start, self._t = self._t, self._t + frame_s
        if self._state is _State.SPEECH:
            return self._in_speech(speech_prob >= self._off)
        if speech_prob < self._on:
            self._state = _State.SILENCE
            return []
        if self._state is _State.SILENCE:
            self._state, self._start_t = _State.ONSET, max(frame_start - self._onset_lag_s, 0.0)
        self._last_speech_end = self._t
        if self._t - self._start_t >= self._start_s + self._onset_lag_s - 1e-9:
            self._state = _State.SPEECH
            return [SpeechOnset(self._start_t)]
        return []

    def finish(self) -> list[EndpointEvent]:
        """End of stream: close an utterance in progress as if silence had followed."""
        if self._state is not _State.SPEECH:
            self._state = _State.SILENCE
            return []
        return [self._close(self._last_speech_end - self._hangover_s)]

    def _in_speech(self, is_speech: bool) -> list[EndpointEvent]:
        if is_speech:
            self._last_speech_end = self._t
            if self._t - self._start_t >= self._max_s - 1e-9:
                cut = UtteranceEnd(self._start_t, self._t)
                self._start_t = self._t
                return [cut, SpeechOnset(self._t)]
            return []
        if self._t - (self._last_speech_end - self._hangover_s) >= self._end_silence_s - 1e-9:
            return [self._close(self._last_speech_end - self._hangover_s)]
        return []

    def _close(self, end_t: float) -> EndpointEvent:
        self._state = _State.SILENCE
        end_t = max(end_t, self._start_t)
        if end_t - self._start_t < self._min_s - 1e-9:
            return UtteranceDiscarded(self._start_t, end_t)
        return UtteranceEnd(self._start_t, end_t)
