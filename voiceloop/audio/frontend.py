"""The audio front end: device frames in, speech events out (echo cancelled, endpointed).

    AudioPort.frames()  --Rendered-->  EchoCanceller.render
                        --Captured-->  EchoCanceller.capture -> SpeechDetector -> Endpointer
                                                         \\-> pre-roll ring -> Utterance samples

Two layers, so the same code serves the daemon, `voiceloop listen`, tests and the benchmark:
- `FrontEnd.push(item) -> list[FrontEndEvent]`: synchronous and deterministic, no I/O.
- `frontend_events(frames, front)`: the async transform over an `AudioPort.frames()` stream.

The per-frame work runs inline on the event loop on purpose: measured on this 2-core box it is
~0.1-0.2 ms per 10 ms frame (AEC3 ~0.06, silero ~0.03, the rest numpy), far below what a thread
hop would cost, and inline keeps render/capture order exact. See bench/frontend.py.

Cold start: an echo canceller that has never heard the speaker has not learnt the room yet, and
its residual echo (played 6 dB over the user) would read as speech. Until the speaker has played
`EchoCanceller.converge_s` of audible audio, frames captured while it plays count as non-speech,
so the very first seconds of the first reply after start-up cannot be barged into.

Utterance audio is the echo-cancelled signal from `preroll_ms` before the detected start (so
the first syllable's soft onset is kept) to `_TAIL_S` after the detected end (the last syllable's
decay, which ASR needs).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.aec import EchoCanceller, create_echo_canceller
from voiceloop.audio.bargein import BargeInDetector
from voiceloop.audio.endpoint import Endpointer, SpeechOnset, UtteranceDiscarded, UtteranceEnd
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.vad import SpeechDetector, create_speech_detector
from voiceloop.config import Config

log = logging.getLogger(__name__)

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_TAIL_S = 0.2
_AUDIBLE = 10 ** (-60 / 20)  # render frames quieter than -60 dBFS teach the canceller nothing
_RENDER_ACTIVE_S = 0.3  # echo of a frame keeps arriving for about this long (delay + reverb)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The user started speaking (`t` = start of speech, on the capture clock). Barge-in signal."""

    t: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """One finished utterance: echo-cancelled 16 kHz mono float32 including pre-roll."""

    samples: np.ndarray
    start_t: float
    end_t: float


@dataclass(frozen=True, slots=True)
class SpeechDiscarded:
    """The speech announced by the last `SpeechStarted` was too short to be an utterance."""

    start_t: float
    end_t: float


FrontEndEvent = SpeechStarted | Utterance | SpeechDiscarded


class FrontEnd:
    """Echo cancellation, speech detection and endpointing for one capture stream.

    Engines come from `cfg` unless given (tests and the benchmark pass their own).
    """

    def __init__(self, cfg: Config, *, echo_canceller: EchoCanceller | None = None,
                 detector: SpeechDetector | None = None):
        self._aec = echo_canceller or create_echo_canceller(cfg.aec)
        self._vad = detector or create_speech_detector(cfg.vad)
        self._endpointer = Endpointer(cfg.vad, self._vad.hangover_s, self._vad.onset_lag_s)
        self._barge = create_barge_in_detector(cfg)
        self._preroll_s = cfg.vad.preroll_ms / 1000
        ring_frames = int((self._preroll_s + cfg.vad.start_ms / 1000) / _FRAME_S) + 2
        self._ring: deque[Captured] = deque(maxlen=ring_frames)
        self._utterance: list[Captured] | None = None
        self._t0: float | None = None
        self._heard_s = 0.0  # audible playback the canceller has learnt from so far
        self._since_render_s = float("inf")
        self.last_probability = 0.0

    def push(self, item: Captured | Rendered) -> list[FrontEndEvent]:
        """Feed one frame from `AudioPort.frames()`; returns the events it completed."""
        if isinstance(item, Rendered):
            self._aec.render(item.samples)
            if self._barge:
                self._barge.render(item.samples)
            if np.max(np.abs(item.samples)) > _AUDIBLE:
                self._heard_s += _FRAME_S
                self._since_render_s = 0.0
            return []
        if not isinstance(item, Captured):
            raise TypeError(f"FrontEnd.push: expected Captured or Rendered, got {type(item).__name__}")
        if self._t0 is None:
            self._t0 = item.t
        clean = self._aec.capture(item.samples)
        barge = self._barge.capture(item.samples) if self._barge else None
        self._since_render_s += _FRAME_S
        playing = self._since_render_s < _RENDER_ACTIVE_S
        self.last_probability = main = self._vad.probability(clean)
        if playing and self._heard_s < self._aec.converge_s:
            self.last_probability = 0.0
        elif playing and barge:
            self.last_probability = max(self.last_probability, barge.probability)
        kept = Captured(barge.linear if playing and barge else clean, item.t)
        self._ring.append(kept)
        if self._utterance is not None:
            self._utterance.append(kept)
        events = self._handle(self._endpointer.step(_FRAME_S, self.last_probability))
        if playing and any(isinstance(ev, SpeechStarted) for ev in events):
            log.info("speech onset while the speaker plays: speech p=%.2f after echo cancellation, "
                     "p=%.2f from the double-talk detector (leak %.0f dB)", main,
                     barge.probability if barge else 0.0, self._barge.leak_db if self._barge else 0.0)
        return events

    def finish(self) -> list[FrontEndEvent]:
        """End of stream: emit the utterance in progress, if any."""
        return self._handle(self._endpointer.finish())

    def _handle(self, events: list) -> list[FrontEndEvent]:
        out: list[FrontEndEvent] = []
        t0 = self._t0 or 0.0
        for ev in events:
            if isinstance(ev, SpeechOnset):
                self._utterance = list(self._ring)
                out.append(SpeechStarted(t0 + ev.t))
            elif isinstance(ev, UtteranceEnd):
                out.append(self._cut(t0 + ev.start_t, t0 + ev.end_t))
            elif isinstance(ev, UtteranceDiscarded):
                self._utterance = None
                out.append(SpeechDiscarded(t0 + ev.start_t, t0 + ev.end_t))
        return out

    def _cut(self, start_t: float, end_t: float) -> Utterance:
        frames = self._utterance or []
        self._utterance = None
        lo, hi = start_t - self._preroll_s - 1e-6, end_t + _TAIL_S - 1e-6
        kept = [f.samples for f in frames if lo <= f.t < hi]
        samples = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)
        return Utterance(samples, start_t, end_t)


def create_barge_in_detector(cfg: Config) -> BargeInDetector | None:
    """The double-talk detector beside the echo canceller, if configured and there is echo to cancel."""
    if not cfg.aec.double_talk_detector or cfg.aec.engine == "none":
        return None
    return BargeInDetector(create_speech_detector(cfg.vad), cfg.aec.linear_tail_ms, cfg.aec.double_talk_margin_db)


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
