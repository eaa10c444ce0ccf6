"""Barge-in detection during playback: is the user talking over the assistant's own voice?

The main echo canceller (AEC3) keeps the echo out of everything the user's turns are built
from, but its suppressor also pushes the user 12-18 dB down while the speaker plays, and a VAD
on that hears the interruption ~1 s late. This detector listens to a second, linear-only echo
canceller (`linaec`), whose output keeps the user at full level, and answers two questions per
10 ms frame:

1. Is there speech? A second speech detector (same engine as the main one) on the linear output.
2. Is it the user's, not leftover echo? A linear canceller leaves 15-30 dB of residual echo,
   and that residue is speech too (the assistant's), so the speech detector alone would fire on
   it. The residue, though, stays a fixed fraction of what the mic hears (`leak`, the inverse of
   the canceller's ERLE, learnt while only the speaker talks), whereas the user's voice passes
   the canceller untouched. Double-talk = output/mic energy more than `double_talk_margin_db`
   over `leak`: the apparent ERLE collapses (the classic ERLE-drop double-talk detector). The
   mic energy is held with a reverberation-like release, because in the gaps between the
   assistant's words the residual trails the mic by the room's decay.
   The leak is learnt only while the front end weighs no sound as speech: a voice well under
   the echo passes the test in some frames only, and learnt from the others as if they were echo
   it raised the leak 15-20 dB within seconds of the user's words, until the test could not
   pass at all and the user was cut in two.

An echo path that moved (a block dropped or repeated by a sound server under load, clocks that
drift apart) fails the energy test too: the filter is off, so its output jumps although only the
speaker plays. What it leaves then is the echo misaligned, a linear function of the filter's own
echo estimate, whereas the user's voice has nothing to do with it. So before a frame counts as
double talk, the output of the last `_COHERENCE_FRAMES` is projected on the echo estimate, bin by
bin (magnitude-squared coherence): if more than `_ECHO_SHARE` of its energy is explained that way,
it is the echo, the leak relearns, and the filter catches up.

The barge-in probability is the speech probability while double-talk holds, else 0. The user
adds to the mic as much as to the output, so a real barge-in under echo leaves the output below
the mic; output at or above the mic means the filter itself is wrong (early in a reply, before
it has learnt the room) and is never taken as the user. Until the canceller removes more than
the margin the test cannot pass at all: it can only miss a barge-in then, never invent one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.coherence import explained_share
from voiceloop.audio.frames import FRAME_SAMPLES
from voiceloop.audio.linaec import LinearEchoCanceller
from voiceloop.audio.vad import SpeechDetector

_SMOOTH = 0.5  # frame energies: ~20 ms memory, quick enough for a syllable onset
_LEAK_RATE = 0.05  # leak learnt over ~20 frames of echo-only playback
_ECHO_FLOOR = 10 ** (-70 / 10)  # echo estimates below -70 dBFS: nothing to confuse the user with
_HOLD_FRAMES = 10  # double-talk holds 100 ms past its last frame, over gaps between syllables
_BLIND_FRAMES = 4  # after a clipped mic frame, until its distortion has left the smoothed energies
_EPS = 1e-12
_CEILING_DB = -1.0  # output at or over the mic: the filter adds echo (e.g. a new reply's first frames), not the user
_TAIL_DECAY = 10 ** (-1.0 / 10)  # 1 dB per frame: an echo's reverberant tail dies no faster (RT60 <= 0.6 s)
_COHERENCE_FRAMES = 8  # the output's last 80 ms, in 20 ms Hann segments a frame apart, is tested
_ECHO_SHARE = 0.5  # more of its energy than this explained by the echo estimate: the echo, not the user
_SEGMENT = 2 * FRAME_SAMPLES


@dataclass(frozen=True, slots=True)
class BargeInFrame:
    """One frame's verdict: the linear canceller's output and the barge-in speech probability."""

    linear: np.ndarray
    probability: float
    double_talk: bool


class BargeInDetector:
    """Linear echo canceller + energy-ratio double-talk test + speech detector on its output."""

    def __init__(self, detector: SpeechDetector, tail_ms: int = 300, margin_db: float = 10.0):
        self._tail_ms = tail_ms
        self._vad = detector
        self._margin_db = margin_db
        self.reset()

    def reset(self) -> None:
        """Forget the echo path (it changed): relearn the filter and the leak, which first blocks barge-in."""
        self._lin = LinearEchoCanceller(self._tail_ms)
        self._out_pow = self._echo_pow = self._mic_pow = 0.0
        self._mic_ref = 0.0  # mic energy with a reverberation-like release: what the residual may trail
        self._leak_db = 0.0  # residual echo / mic; 0 dB = "cancels nothing yet"
        self._hold = 0
        self._blind = 0
        self._outs: deque[np.ndarray] = deque(maxlen=_COHERENCE_FRAMES)
        self._echoes: deque[np.ndarray] = deque(maxlen=_COHERENCE_FRAMES)

    def sleep(self) -> None:
        """No echo will arrive until the speaker plays again: forget the reference history and the
        speech detector's state (the filter and the leak it learnt are kept), so the frames that are
        not fed meanwhile leave no trace."""
        self._lin.forget_reference()
        self._vad.reset()
        self._out_pow = self._echo_pow = self._mic_pow = self._mic_ref = 0.0
        self._hold = self._blind = 0
        self._outs.clear()
        self._echoes.clear()

    @property
    def leak_db(self) -> float:
        """What the linear canceller currently leaves of the echo, dB (more negative = better)."""
        return self._leak_db

    @property
    def blind(self) -> bool:
        """The canceller does not yet take out more than the margin: no frame can pass as double talk."""
        return self._leak_db + self._margin_db >= _CEILING_DB

    def render(self, frame: np.ndarray) -> None:
        self._lin.render(frame)

    def capture(self, frame: np.ndarray, learn: bool = True) -> BargeInFrame:
        """One mic frame; `learn` False while a voice may be in it (the front end weighs a sound as
        speech), so the leak is not learnt from the user."""
        result = self._lin.capture(frame)
        self._out_pow += _SMOOTH * (float(np.mean(result.out.astype(np.float64) ** 2)) - self._out_pow)
        self._echo_pow += _SMOOTH * (float(np.mean(result.echo.astype(np.float64) ** 2)) - self._echo_pow)
        self._mic_pow += _SMOOTH * (float(np.mean(frame.astype(np.float64) ** 2)) - self._mic_pow)
        self._mic_ref = max(self._mic_pow, self._mic_ref * _TAIL_DECAY)
        self._blind = _BLIND_FRAMES if result.clipped else max(self._blind - 1, 0)
        self._outs.append(result.out)
        self._echoes.append(result.echo)
        double_talk = self._double_talk(learn)
        probability = self._vad.probability(result.out)
        return BargeInFrame(result.out, probability if double_talk else 0.0, double_talk)

    def _double_talk(self, learn: bool) -> bool:
        if self._echo_pow < _ECHO_FLOOR:
            self._hold = 0
            return False  # no echo estimate: the main canceller's own output is reliable here
        if self._blind:
            self._hold = 0
            return False  # a clipped echo leaves a residue the leak does not predict: not evidence
        ratio_db = 10 * math.log10((self._out_pow + _EPS) / (self._mic_ref + _EPS))
        if self._leak_db + self._margin_db < ratio_db <= _CEILING_DB and self.echo_share() <= _ECHO_SHARE:
            self._hold = _HOLD_FRAMES
            return True
        if self._hold > 0:
            self._hold -= 1
            return True
        if learn:
            self._leak_db += _LEAK_RATE * (ratio_db - self._leak_db)
        return False

    def echo_share(self) -> float:
        """Share of the recent output's energy that is a linear function of the echo estimate."""
        if len(self._outs) < 2:
            return 0.0
        return explained_share(np.concatenate(self._outs).astype(np.float64),
                               np.concatenate(self._echoes).astype(np.float64), _SEGMENT)
