"""Which echo path the cancellers are set for, with hysteresis: jitter and slow drift never restart them.

The delay estimator (GCC-PHAT, every 0.5 s of audible playback) wobbles by milliseconds on a real
sound server, and a speaker whose clock the timestamps do not show slips 0.3 ms a second at 300
ppm. Re-setting the cancellers for each such change (as a 2 ms threshold did: re-measured every
1-5 s in a PulseAudio room) keeps restarting the linear barge-in canceller, which is blind until it
has relearnt the path. So the path they are set for changes only when two estimates in a row agree
on one more than `MOVED_S` away: a device switched, a stream reopened, or a drift that has built up
over a minute or more (then the cancellers start afresh at the next quiet moment, see `frontend`).

Following such a drift continuously (the reference read along a line fitted to the estimates) was
measured and left out: it brought the linear canceller's leak from -2 dB back to -13 dB at 300 ppm
hidden drift, but the double-talk detector, no longer blind, then paused replies for nothing 5-17
times in 105 s of reply where it had paused them 0-2 times (bench/echo_matrix.py).
"""

from __future__ import annotations

MOVED_S = 0.02  # an estimate this far from the path the cancellers are set for may be a new path...
_AGREE_S = 0.005  # ...once the next estimate is this close to it


class EchoPath:
    """`update(estimate)` per delay estimate; True when the cancellers should be set for `path_s`."""

    def __init__(self) -> None:
        self.path_s: float | None = None
        self._candidate: float | None = None

    def update(self, estimate_s: float) -> bool:
        if self.path_s is not None and abs(estimate_s - self.path_s) <= MOVED_S:
            self._candidate = None
            return False
        if self.path_s is None or (self._candidate is not None and abs(estimate_s - self._candidate) <= _AGREE_S):
            self.path_s, self._candidate = estimate_s, None
            return True
        self._candidate = estimate_s
        return False
