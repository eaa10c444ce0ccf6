"""What the ear tells the dialogue: the speech events the endpointer emits and the front end passes
on, on the capture clock. The front end adds one thing: an `Utterance` (with its samples) in place
of each `SpeechEnded`.

Order, for every stream: `SpeechPossible` (only while the speaker plays) is followed by one
`SpeechStarted` or one `SpeechRejected`; every `SpeechStarted` by one `SpeechEnded`/`Utterance` or
one `SpeechDiscarded` with the same `start_t`.
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
    """The sound announced by the last `SpeechPossible` stopped before it could be speech: play on."""

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


EndpointEvent = SpeechPossible | SpeechRejected | SpeechStarted | SpeechEnded | SpeechDiscarded
FrontEndEvent = SpeechPossible | SpeechRejected | SpeechStarted | Utterance | SpeechDiscarded
