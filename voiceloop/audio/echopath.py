"""Which echo path the cancellers are set for, and how they take a change of it.

The delay estimator (GCC-PHAT, every 0.5 s of audible playback) wobbles by a millisecond or two,
a speaker whose clock the timestamps do not show slips 0.3 ms a second at 300 ppm, and a sound
server that drops or repeats a block moves the echo by its length at once. Three cases:
- within `JITTER_S` of the path: nothing happens (the adaptive filters follow that by themselves);
- a shift, confirmed by the next estimate (within `_AGREE_S` of it), up to `MOVED_S`: the path is
  updated and the linear barge-in canceller relearns how much echo it leaves (its filter follows a
  few milliseconds, but until it has, its residue must not be taken for the user); AEC3 gets a
  new delay hint;
- further, confirmed the same way: a new path (another device, a reopened stream), for which the
  front end re-aligns the reference and starts the cancellers afresh.
Restarting the linear canceller for every 2 ms change (as before) kept it blind most of the time
in a PulseAudio room, and a barge-in then went unheard; never telling it about a 20 ms jump (a
dropped block) left it taking its own misadjusted residue for the user.
"""

from __future__ import annotations

import enum

JITTER_S = 0.003  # estimates this close to the path are the same path
MOVED_S = 0.02  # further than this: a new path rather than a shift of this one
_AGREE_S = 0.002  # a change counts once the next estimate is this close to it


class PathChange(enum.Enum):
    SAME = "same"
    SHIFTED = "shifted"
    NEW = "new"


class EchoPath:
    """`update(estimate)` per delay estimate; `path_s` is the path the cancellers are set for."""

    def __init__(self) -> None:
        self.path_s: float | None = None
        self._candidate: float | None = None

    def update(self, estimate_s: float) -> PathChange:
        if self.path_s is None:
            self.path_s = estimate_s
            return PathChange.NEW
        if abs(estimate_s - self.path_s) <= JITTER_S:
            self._candidate = None
            return PathChange.SAME
        if self._candidate is None or abs(estimate_s - self._candidate) > _AGREE_S:
            self._candidate = estimate_s
            return PathChange.SAME
        change = PathChange.NEW if abs(estimate_s - self.path_s) > MOVED_S else PathChange.SHIFTED
        self.path_s, self._candidate = estimate_s, None
        return change
