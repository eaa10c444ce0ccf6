"""What the ear tells the dialogue: the speech events the endpointer emits and the front end passes
on, on the capture clock. The front end adds the samples: an `Utterance` in place of each
`SpeechEnded`, a `Tentative` in place of each `SpeechPaused`.

Order, for every stream: `SpeechPossible` (only while the speaker plays) is followed by one
`SpeechStarted` or one `SpeechRejected`; every `SpeechStarted` by one `SpeechEnded`/`Utterance` or
one `SpeechDiscarded` with the same `start_t`. Between them (with `vad.speculate_ms` on),
`SpeechPaused`/`Tentative` and `SpeechResumed` alternate, a pause first; an end that follows a
pause without a resume has the pause's `end_t`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SpeechPossible:
    """While the speaker plays: the first sign of the user (`vad.pause_ms` of speech). Turn the reply down;
    one `SpeechStarted` (its `t` may be a little later) or one `SpeechRejected` follows."""

    t: float


@dataclass(frozen=True, slots=True)
class SpeechRejected:
    """The sound announced by the last `SpeechPossible` stopped before it could be speech, or was the
    reply's own echo after all (`audio.doubt`): play on."""

    t: float


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The user started speaking (`t` = start of speech, on the capture clock). Barge-in signal."""

    t: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """The speech announced by the last `SpeechStarted` ended (the endpointer's verdict; the front
    end hands on an `Utterance` instead)."""

    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """The speech announced by the last `SpeechStarted` has been silent for `vad.speculate_ms`: it may
    have ended (`end_t` as `SpeechEnded` would give it). One `SpeechResumed` or the end follows."""

    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """The speech paused after the last `SpeechPaused` went on: what was prepared for it is void."""

    start_t: float


@dataclass(frozen=True, slots=True)
class SpeechDiscarded:
    """The speech announced by the last `SpeechStarted` was too short to be an utterance."""

    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """One finished utterance: echo-cancelled 16 kHz mono float32 including pre-roll."""

    samples: np.ndarray
    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class Tentative:
    """The utterance so far, at a `SpeechPaused`: the same samples its `Utterance` will have if the
    speech does not go on (same `start_t` and `end_t`), so a reply prepared from it stands."""

    samples: np.ndarray
    start_t: float
    end_t: float


EndpointEvent = (SpeechPossible | SpeechRejected | SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded
                 | SpeechDiscarded)
FrontEndEvent = (SpeechPossible | SpeechRejected | SpeechStarted | Tentative | SpeechResumed | Utterance
                 | SpeechDiscarded)
