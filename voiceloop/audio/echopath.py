"""The echo path: what the speaker played, paired with the mic and cancelled, and what is known of
the way from one to the other.

Every mic frame is paired with the speaker samples that were playing when it was
captured (`align.ReferenceAligner`, by the converters' timestamps, so two drifting clocks never
pull the pairing apart), and the speaker-to-mic delay is measured while the speaker plays
(`echodelay.EchoDelayEstimator`, GCC-PHAT, up to 0.6 s). Once known, the reference the cancellers
see is held back by that delay less `_ALIGNED_DELAY_S` when it is longer than they handle as they
are, so a 0.5 s Bluetooth speaker looks like a short desk path to both AEC3 and the linear
barge-in canceller; the "speaker audible" window
follows the measured delay too. The estimate is logged when known and whenever it changes. A new
hold-back starts fresh cancellers: at once when the echo is beyond their reach as they are (the
first measurement of a slow speaker, mid-reply, and again once that reply is over: AEC3 then
beside the one in use until it has learnt the path), otherwise once no echo is arriving (never
under a reply they are cancelling).

Cold start: a canceller that has not learnt the path yet leaves echo that would read as speech, so
a frame is `trusted` only once the delay is known and the speaker has then played
`EchoCanceller.converge_s` of audible audio (`audio.hindsight` goes back over those that were not).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.aec import EchoCanceller, create_echo_canceller
from voiceloop.audio.align import ReferenceAligner
from voiceloop.audio.bargein import BargeInDetector, BargeInFrame
from voiceloop.audio.echodelay import MAX_DELAY_S, EchoDelayEstimator
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.vad import create_speech_detector
from voiceloop.config import Config

log = logging.getLogger("voiceloop.audio.frontend")  # one log for what the front end hears and why

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_AUDIBLE = 10 ** (-60 / 20)  # render frames quieter than -60 dBFS teach the canceller nothing
_REVERB_S = 0.3  # echo of a frame keeps arriving this long after its direct path (RT60 up to ~0.5 s)
_DELAY_SLACK_S = 0.05  # timestamp jitter and estimation error around the measured delay
_AEC_HEADROOM_S = 0.02  # the reference reaches the cancellers this far ahead of its echo, until the delay is measured
_NATIVE_DELAY_S = 0.2  # residual delays up to this the cancellers handle as they are (AEC3: 0-150 ms + headroom)
_ALIGNED_DELAY_S = 0.06  # a longer path is held back to leave them this much
_RELAG_S = 0.005  # a measured delay that moves less than this leaves the cancellers alone
_UNMEASURED_S = 8.0  # audible playback after which an echo too faint to measure is taken as no echo


@dataclass(frozen=True, slots=True)
class Cancelled:
    """One mic frame through the echo path: AEC3's output, the barge-in detector's verdict (while
    echo can arrive), whether it can (`playing`), and whether the cancellers know the path yet."""

    clean: np.ndarray
    barge: BargeInFrame | None
    playing: bool
    trusted: bool


def create_barge_in_detector(cfg: Config) -> BargeInDetector | None:
    """The double-talk detector beside the echo canceller, if configured and there is echo to cancel."""
    if not cfg.aec.double_talk_detector or cfg.aec.engine == "none":
        return None
    return BargeInDetector(create_speech_detector(cfg.vad), cfg.aec.linear_tail_ms, cfg.aec.double_talk_margin_db)


class EchoPath:
    """`render` every played frame, `capture` every mic frame, `cancel` each frame `capture` gives.

    The echo canceller comes from `cfg` unless given (tests and the benchmark pass their own);
    a given one is told of a moved path, never replaced.
    """

    def __init__(self, cfg: Config, echo_canceller: EchoCanceller | None = None):
        self._aec = echo_canceller or create_echo_canceller(cfg.aec)
        self.aec_cfg = None if echo_canceller else cfg.aec  # a fresh engine learns a moved echo path fastest
        self._barge = create_barge_in_detector(cfg)
        self._barge_awake = False  # it runs while echo can arrive, and one frame after
        self._align = ReferenceAligner()
        self._delay = EchoDelayEstimator()
        self._lag = 0  # samples the cancellers' reference is held back (measured delay less headroom)
        self._pending: tuple[int, int] | None = None  # (lag, AEC delay hint) waiting for a quiet moment
        self._relearn = False  # realigned under a reply: start afresh again once quiet
        self._successor: EchoCanceller | None = None  # ... a fresh AEC3 learning beside the one in use
        self._successor_from_s = 0.0  # `_heard_s` when it started
        self.hint_ms: int | None = None  # the echo delay the cancellers were last told, ms
        self._set_lag(-int(_AEC_HEADROOM_S * SAMPLE_RATE))  # until measured: as if the echo came at once
        self._heard_s = 0.0  # audible playback the canceller has learnt from since the lag was set
        self._since_render_s = float("inf")  # since the last audible reference frame (as the cancellers see it)

    @property
    def delay_s(self) -> float | None:
        """The measured speaker-to-microphone delay, None until the speaker has played enough."""
        return self._delay.delay_s

    @property
    def drift_ppm(self) -> float:
        """Speaker clock against mic clock as the timestamps show it (0 until known)."""
        return self._align.drift_ppm

    @property
    def leak_db(self) -> float:
        """The barge-in canceller's residual echo against the mic (0 without one)."""
        return self._barge.leak_db if self._barge else 0.0

    @property
    def double_talk_blind(self) -> bool:
        """There is a double-talk detector, and it cannot tell the user from the echo yet."""
        return self._barge is not None and self._barge.blind

    def render(self, item: Rendered) -> None:
        self._align.render(item)

    def capture(self, item: Captured) -> list[tuple[Captured, float]]:
        """The mic frames ready to cancel, each with where its reference is (`align.ReferenceAligner`)."""
        return self._align.capture(item)

    def flush(self) -> list[tuple[Captured, float]]:
        return self._align.flush()

    def reference(self, pos: float) -> np.ndarray:
        """The reference the cancellers get for the mic frame at `pos`, as they are set now."""
        return self._align.read(pos - self._lag)

    def _trusted(self) -> bool:
        """Known path, learnt. A move waiting for a quiet moment (`_pending`) is within the cancellers'
        reach as they are, so it leaves them trusted: on a speaker whose clock drifts, one such move
        came with nearly every reply, and a whole reply untrusted lost a barge-in in it (the frames
        outlasted what hindsight keeps; `bench/room_dialogue.py`, drift cell)."""
        measured = self._delay.delay_s is not None or self._heard_s >= _UNMEASURED_S or not self._aec.converge_s
        return measured and self._heard_s >= self._aec.converge_s

    def _echo_window_s(self) -> float:
        """How long after a reference frame its echo may still reach the mic."""
        delay = MAX_DELAY_S if self._delay.delay_s is None else self._delay.delay_s
        return delay - self._lag / SAMPLE_RATE + _DELAY_SLACK_S + _REVERB_S

    def _set_delay(self, delay_s: float) -> None:
        """A new measurement. A move of less than `_RELAG_S` in the hold-back only updates AEC3's
        hint: the linear canceller sees the reference as before and follows the path by itself. It
        used to start over then, but a move is measured ~3 s after it happened, when the filter has
        followed it (a 10 ms jump: leak back to -18 dB in 2.5 s), so starting over left the
        double-talk detector blind for seconds more with AEC3 alone, whose output held a user who
        spoke then under p 0.1: not heard at all (the simulated room; `test_echo_path.py`)."""
        if delay_s + _AEC_HEADROOM_S <= _NATIVE_DELAY_S:
            lag = -int(_AEC_HEADROOM_S * SAMPLE_RATE)  # as from the start: nothing to relearn
        else:
            lag = round((delay_s - _ALIGNED_DELAY_S) * SAMPLE_RATE)
        log.info("echo path: speaker to microphone %.0f ms (GCC-PHAT peak %.0fx), cancellers' reference held "
                 "back %.0f ms; clocks %+.0f ppm apart", delay_s * 1000, self._delay.peak_ratio, lag / 16,
                 self._align.drift_ppm)
        hint_ms = round((delay_s - lag / SAMPLE_RATE) * 1000)
        if abs(lag - self._lag) < _RELAG_S * SAMPLE_RATE:
            for aec in (self._aec, self._successor):
                if aec is not None:
                    aec.set_delay_hint_ms(hint_ms)
            self.hint_ms = hint_ms
            self._pending = None
            return
        self._pending = (lag, hint_ms)
        if not 0.0 <= delay_s - self._lag / SAMPLE_RATE <= _NATIVE_DELAY_S:
            self._realign()  # out of the cancellers' reach as they are: nothing to lose by starting over now
        # else within reach: moved once no echo is arriving, never under a reply they are cancelling

    def _realign(self) -> None:
        """Hold the reference back by the new lag, with cancellers that start learning afresh.

        Under a reply (a slow speaker's first measurement) they start from its middle, with the
        echo of what was played before their first frame already on its way: good enough to hear a
        barge-in in the rest of that reply, but the linear barge-in canceller can stay off the path
        long after (with the clocks' drift not yet known; bench/drift.py at 3000 ppm: leak -4 dB
        20 s later, against -15 dB within 3 s from a quiet start), and AEC3 too (less so, but it
        follows drift the timestamps hide worse). So both start afresh again once no echo is
        arriving; AEC3 beside the one in use until it has learnt the path, since one started
        afresh alone left the next reply's first 2 s untrusted (a slow speaker's barge-in there
        was heard 0.29 s after the user's first sound, through hindsight; bench/echo_matrix.py)."""
        lag, hint_ms = self._pending
        self._pending = None
        self._set_lag(lag)
        self._fresh_cancellers(hint_ms)
        self._relearn = self._since_render_s < self._echo_window_s()

    def _fresh_cancellers(self, hint_ms: int) -> None:
        self._heard_s = 0.0  # the cancellers see a new echo path: learn it before trusting them
        self._successor = None
        if self.aec_cfg is not None:
            self._aec = create_echo_canceller(self.aec_cfg)
        self._aec.set_delay_hint_ms(hint_ms)
        self.hint_ms = hint_ms
        if self._barge:
            self._barge.reset()

    def _relearn_afresh(self) -> None:
        """After a realignment under a reply, once no echo is arriving: the linear canceller starts
        afresh, and so does AEC3, but beside the one in use, which stays in use (trusted) until the
        fresh one has learnt the path."""
        self._relearn = False
        if self._barge:
            self._barge.reset()
        if self.aec_cfg is not None:
            self._successor = create_echo_canceller(self.aec_cfg)
            self._successor.set_delay_hint_ms(self.hint_ms or 0)
            self._successor_from_s = self._heard_s

    def _succeed(self, ref: np.ndarray, mic: np.ndarray) -> None:
        """The fresh AEC3 hears the frame too, and takes over once it has learnt the path."""
        self._successor.render(ref)
        self._successor.capture(mic)
        if self._heard_s - self._successor_from_s >= self._successor.converge_s:
            self._aec, self._successor = self._successor, None

    def _set_lag(self, lag: int) -> None:
        """Hold the reference back by `lag` samples (negative: hand it over ahead of its echo)."""
        self._lag = lag
        self._align.lead = max(-lag, 0)

    def cancel(self, item: Captured, pos: float, quiet: bool = True) -> Cancelled:
        """Both cancellers on one mic frame with its time-aligned reference (`pos`, from `capture`);
        `quiet`: no sound in it is being weighed as speech (the double-talk detector learns its leak
        only then)."""
        if self._delay.push(self._align.read(pos), item.samples):
            self._set_delay(self._delay.delay_s)
        if self._pending and self._since_render_s >= self._echo_window_s():
            self._realign()
        if self._relearn and self._since_render_s >= self._echo_window_s():
            self._relearn_afresh()
        ref = self._align.read(pos - self._lag)
        self._aec.render(ref)
        clean = self._aec.capture(item.samples)
        self._since_render_s += _FRAME_S
        if np.max(np.abs(ref)) > _AUDIBLE:
            self._heard_s += _FRAME_S
            self._since_render_s = 0.0
        if self._successor is not None:
            self._succeed(ref, item.samples)
        playing = self._since_render_s < self._echo_window_s()
        barge = None
        if self._barge and (playing or self._barge_awake):
            self._barge.render(ref)
            barge = self._barge.capture(item.samples, learn=quiet)
        if self._barge and self._barge_awake and not playing:
            self._barge.sleep()  # no echo to tell the user from: it costs nothing while the speaker is idle
        self._barge_awake = playing
        return Cancelled(clean, barge, playing, self._trusted())
