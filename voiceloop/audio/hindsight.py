"""Hindsight: the frames heard while the echo cancellers were still learning, gone over again.

Until the cancellers have learnt the echo path (the first seconds of the first reply after
start-up, and of a reply whose path just moved), their output holds echo that would read as the
user, so the front end takes those frames as non-speech. A user who talks then would be lost. So
the frames are kept (mic samples and where their reference is), with the endpointer and pre-roll
as they were before the first of them; once the path is learnt, a fresh AEC3 learns it from all
of them, then, after a moment of silence, cancels them from the first, and the front end replays
its output through the endpointer. The user is heard late (a barge-in when the path is learnt,
~2-3.5 s into the reply) but whole; echo alone, cancelled, gives nothing. The going-over is done a
few frames at a time, beside the frames still arriving, which the front end holds meanwhile and
steps after.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from voiceloop.audio.aec import create_echo_canceller
from voiceloop.audio.bargein import BargeInDetector
from voiceloop.audio.coherence import explained_share
from voiceloop.audio.endpoint import Endpointer
from voiceloop.audio.frames import FRAME_SAMPLES
from voiceloop.audio.port import Captured
from voiceloop.audio.vad import SpeechDetector, create_speech_detector
from voiceloop.config import AecConfig, VadConfig

log = logging.getLogger(__name__)

MAX_FRAMES = 800  # kept at most (8 s); a longer wait drops the oldest second (`_MARK_FRAMES`)
_MARK_FRAMES = 100  # every second, where the kept frames could be cut back to (the state before it)
_SETTLE_FRAMES = 30  # the first frames, before the filter has the reference it spans, count as non-speech
_GAP_FRAMES = 50  # silence between the learning pass and the cancelling pass
_CLIPPED = 0.99  # a mic frame this loud has clipped...
_CLIPPED_FRAMES = 30  # ...and the frames up to 300 ms after it are not trusted
_SPEECH = 0.5  # a frame's speech probability from which it counts toward a stretch of speech
_RUN_GAP = 30  # frames between two such stretches that still join them
_RUN_CONTEXT = 20  # frames before a stretch that its echo test takes in
_RUN_MIN, _RUN_MAX = 60, 150  # frames the echo test takes in, at least and at most
_SHARE_SEGMENT = 4096  # 256 ms: echo up to ~100 ms off the hint still falls in its reference's segment
_SHIFTS_MS = (-80, -40, 0, 40, 80, 120)  # where the echo is looked for, around the delay hint
_ECHO_SHARE = 0.5  # more of a stretch's energy than this explained by the reference: the echo
# ...when judging again speech the live path heard (`check`): a user under an echo 6 dB louder, on a
# path that wanders 1 ms a second, still leaves 0.56-0.58 of the stretch explained; the echo alone 0.84-0.94
_CHECK_ECHO_SHARE = 0.7


def _speech_runs(probabilities: list[float]) -> list[tuple[int, int]]:
    """[start, end) of the stretches of frames that read as speech, gaps of up to `_RUN_GAP` joined."""
    runs: list[tuple[int, int]] = []
    for k, p in enumerate(probabilities):
        if p < _SPEECH:
            continue
        if runs and k - runs[-1][1] <= _RUN_GAP:
            runs[-1] = (runs[-1][0], k + 1)
        else:
            runs.append((k, k + 1))
    return runs


def _delayed(x: np.ndarray, lag: int) -> np.ndarray:
    """`x` `lag` samples later (earlier if negative), zero-filled, same length."""
    if lag >= 0:
        return np.concatenate([np.zeros(min(lag, x.size)), x[:max(x.size - lag, 0)]])
    return np.concatenate([x[-lag:], np.zeros(min(-lag, x.size))])


def _without_echo(frames: list[tuple[Captured, float]], refs: list[np.ndarray],
                  hint_ms: int, echo_share: float = _ECHO_SHARE) -> list[tuple[Captured, float]]:
    """Speech found by the fresh canceller, less what is its echo after all. A path that jumped
    while the frames were kept (an underrun a sound server papers over, timestamps that jittered)
    leaves the canceller, which learnt one path from all of them, off it for part of them, and its
    output there is the echo misaligned, which reads as speech. That output is a linear function
    of what was played, the user's voice is not: a stretch whose output is mostly explained by the
    reference, at the delay hint or up to `_SHIFTS_MS` off it, is the echo."""
    out = np.concatenate([item.samples for item, _ in frames]).astype(np.float64)
    ref = np.concatenate(refs).astype(np.float64)
    probabilities = [p for _, p in frames]
    for start, end in _speech_runs(probabilities):
        lo = max(0, min(start - _RUN_CONTEXT, end - _RUN_MIN))
        hi = min(len(frames), max(end, lo + _RUN_MIN), start + _RUN_MAX) * FRAME_SAMPLES
        lo *= FRAME_SAMPLES
        share = 0.0
        for shift_ms in _SHIFTS_MS:
            past = _delayed(ref, (hint_ms + shift_ms) * FRAME_SAMPLES // 10)
            share = max(share, explained_share(out[lo:hi], past[lo:hi], _SHARE_SEGMENT))
        if share > echo_share:
            log.info("hindsight: %.1f s that read as speech are the echo off its path (%.2f of it explained by "
                     "what was played)", (end - start) * FRAME_SAMPLES / 16000, share)
            probabilities[start:end] = [0.0] * (end - start)
        else:
            log.debug("hindsight: speech at frames %d-%d, %.2f of it explained by what was played", start, end, share)
    return [(item, p) for (item, _), p in zip(frames, probabilities)]


@dataclass(slots=True)
class Replay:
    """What the front end resumes from: the endpointer and pre-roll as they were before the kept
    frames, and each frame as the fresh canceller cleaned it, with its speech probability."""

    endpointer: Endpointer | None
    ring: deque[Captured] | None
    frames: list[tuple[Captured, float]] = field(default_factory=list)
    peak: float = 0.0


@dataclass(slots=True)
class _Kept:
    endpointer: Endpointer | None
    ring: deque[Captured] | None
    frames: list[tuple[Captured, float]] = field(default_factory=list)  # (mic frame, its reference position)
    marks: deque[tuple[int, Endpointer, deque[Captured]]] = field(default_factory=deque)  # (frame, state before it)

    def slid(self) -> _Kept | None:
        """The kept frames from the first mark on, with the state before it; None without a mark."""
        if not self.marks:
            return None
        cut, endpointer, ring = self.marks.popleft()
        marks = deque((k - cut, e, r) for k, e, r in self.marks)
        return _Kept(endpointer, ring, self.frames[cut:], marks)


def _state(endpointer: Endpointer, ring: deque[Captured]) -> tuple[Endpointer, deque[Captured]]:
    """The endpointer and pre-roll as they are now, to replay from."""
    return copy.deepcopy(endpointer), deque(ring, maxlen=ring.maxlen)


class Hindsight:
    def __init__(self, aec: AecConfig, vad: VadConfig):
        self._aec_cfg = aec
        self._vad_cfg = vad
        self._detectors: dict[str, tuple[SpeechDetector, SpeechDetector]] = {}  # per use, made on first use
        self._kept: _Kept | None = None

    @property
    def pending(self) -> bool:
        return self._kept is not None

    def keep(self, item: Captured, pos: float, endpointer: Endpointer, ring: deque[Captured], idle: bool) -> None:
        """One frame the cancellers cannot judge yet, with the state before it. A first frame is
        kept only from a quiet front end (`idle`), so that replaying from it can never repeat an
        event already sent; so is a mark. Full, the oldest second goes: an echo too faint to
        measure (headphones) is trusted only after 8 s of reply, and starting over from the newest
        frame instead lost every word said in the reply's first seconds."""
        kept = self._kept
        if kept is not None and len(kept.frames) >= MAX_FRAMES:
            kept = self._kept = kept.slid()
        if kept is None:
            if not idle:
                return
            kept = self._kept = _Kept(*_state(endpointer, ring))
        elif idle and len(kept.frames) % _MARK_FRAMES == 0:
            kept.marks.append((len(kept.frames), *_state(endpointer, ring)))
        kept.frames.append((item, pos))

    def start(self, reference: Callable[[float], np.ndarray], hint_ms: int | None) -> Iterator[Replay | None]:
        """The going-over, a frame at a time: each `next()` does one frame's work (~0.5 ms) and
        gives None, the last gives the `Replay`. A few seconds of audio are 0.3-0.6 s of work, far
        too long to hold the event loop (and the speaker) at once, so the front end does a few
        frames of it per frame it captures: deterministic, and the loop stays free. `reference(pos)`
        reads a frame's reference as the cancellers see it now, so all are read here, at once."""
        kept, self._kept = self._kept, None
        refs = [reference(pos) for _, pos in kept.frames]
        return self._replay(kept, refs, hint_ms, self._pair("start"))

    def check(self, frames: list[tuple[Captured, float]], reference: Callable[[float], np.ndarray],
              hint_ms: int | None) -> Recheck:
        """The same going-over for speech the live path heard over the speaker from the main canceller
        alone, while the double-talk detector could not tell (it had not learnt the room): a canceller
        learns from `frames` (the seconds before the onset) and from the speech as it goes on, then
        judges it again (`Recheck`). Runs beside `start`'s, with speech detectors of its own."""
        recheck = Recheck(_Judge(self._aec_cfg, self._pair("check"), hint_ms))
        for item, pos in frames:
            recheck.add(item, reference(pos))
        return recheck

    def _pair(self, use: str) -> tuple[SpeechDetector, SpeechDetector]:
        if use not in self._detectors:
            self._detectors[use] = (create_speech_detector(self._vad_cfg), create_speech_detector(self._vad_cfg))
        return self._detectors[use]

    def _replay(self, kept: _Kept, refs: list[np.ndarray], hint_ms: int | None,
                detectors: tuple[SpeechDetector, SpeechDetector]) -> Iterator[Replay | None]:
        judge = _Judge(self._aec_cfg, detectors, hint_ms)
        frames = [(item, ref) for (item, _), ref in zip(kept.frames, refs)]
        for item, ref in frames:  # learn the path from all of them...
            judge.learn(item.samples, ref)
            yield None
        yield from judge.cancel(frames, Replay(kept.endpointer, kept.ring), _ECHO_SHARE)  # ...then cancel them


class Recheck:
    """Speech in doubt, judged again (`audio.doubt`): its canceller learns from each frame as the
    live path hands it over (the backlog a few at a time), so that a verdict only has the speech's
    own frames left to cancel again (`judge`), a fraction of a second of work, not seconds."""

    def __init__(self, judge: _Judge):
        self._judge = judge
        self._frames: list[tuple[Captured, np.ndarray]] = []  # (mic frame, its reference)
        self._learnt = 0

    def add(self, item: Captured, ref: np.ndarray) -> None:
        self._frames.append((item, ref))

    def learn(self, frames: int) -> None:
        """Up to `frames` frames of the backlog learnt."""
        for item, ref in self._frames[self._learnt:self._learnt + frames]:
            self._judge.learn(item.samples, ref)
        self._learnt = min(len(self._frames), self._learnt + frames)

    def judge(self, from_t: float, to_t: float) -> Iterator[Replay | None]:
        """The rest learnt (frames added meanwhile too), then the frames from `from_t` to `to_t`
        cancelled again: a frame of work a `next()`, the `Replay` (no endpointer) last."""
        while self._learnt < len(self._frames):
            item, ref = self._frames[self._learnt]
            self._judge.learn(item.samples, ref)
            self._learnt += 1
            yield None
        yield from self._judge.cancel([f for f in self._frames if from_t <= f[0].t < to_t], Replay(None, None),
                                      _CHECK_ECHO_SHARE)


class _Judge:
    """A fresh AEC3 and barge-in canceller that learn a path, then cancel frames again with it."""

    def __init__(self, aec: AecConfig, detectors: tuple[SpeechDetector, SpeechDetector], hint_ms: int | None):
        self._vad, barge_vad = detectors
        self._aec = create_echo_canceller(aec)
        if hint_ms is not None:
            self._aec.set_delay_hint_ms(hint_ms)
        self._hint_ms = hint_ms or 0
        barge_vad.reset()
        self._barge = BargeInDetector(barge_vad, aec.linear_tail_ms, aec.double_talk_margin_db)

    def learn(self, mic: np.ndarray, ref: np.ndarray) -> None:
        self._aec.render(ref)
        self._aec.capture(mic)
        self._barge.render(ref)
        self._barge.capture(mic)

    def cancel(self, frames: list[tuple[Captured, np.ndarray]], out: Replay,
               echo_share: float) -> Iterator[Replay | None]:
        """After a moment of silence, `frames` cancelled from the first into `out`, speech that is
        the echo after all taken out (`_without_echo`)."""
        silence = np.zeros(FRAME_SAMPLES, np.float32)
        for _ in range(_GAP_FRAMES):
            self.learn(silence, silence)
            yield None
        self._vad.reset()
        trusted = _SETTLE_FRAMES
        for k, (item, ref) in enumerate(frames):
            self._aec.render(ref)
            self._barge.render(ref)
            frame = self._barge.capture(item.samples)
            probability = max(self._vad.probability(self._aec.capture(item.samples)), frame.probability)
            if np.max(np.abs(item.samples)) >= _CLIPPED:
                trusted = k + _CLIPPED_FRAMES  # clipped echo leaves a residue no canceller models
            out.frames.append((Captured(frame.linear, item.t), probability if k >= trusted else 0.0))
            yield None
        out.frames = _without_echo(out.frames, [ref for _, ref in frames], self._hint_ms, echo_share)
        out.peak = max((p for _, p in out.frames), default=0.0)
        yield out


def advance(work: Iterator[Replay | None], frames: int) -> Replay | None:
    """Up to `frames` frames of a going-over's work; its `Replay` if it finished."""
    for _ in range(frames):
        if (replay := next(work)) is not None:
            return replay
    return None
