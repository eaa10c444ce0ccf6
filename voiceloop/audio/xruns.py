"""Counting PortAudio overflows and underflows, and saying so at WARNING without flooding the log.

An overflow (the microphone's buffer filled before it was read) loses captured audio; an
underflow (the speaker ran dry) plays a gap. Either one now and then is harmless, but a steady
stream of them means a loaded box or a too-small `audio.block_ms` / `audio.latency`, and echo
cancellation and recognition suffer: worth one line a minute, never one line per block.
"""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("voiceloop.audio.devices")

KINDS = ("input overflow", "input underflow", "output underflow", "output overflow")


class XrunReport:
    """Counts xruns by kind; logs the first at once, then at most one summary per `interval_s`."""

    def __init__(self, interval_s: float = 60.0):
        self._interval_s = interval_s
        self._pending: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self._last_log: float | None = None

    def add(self, kind: str, now: float) -> None:
        """Count one xrun of `kind` (one of `KINDS`) seen at `now` (monotonic seconds)."""
        self._pending[kind] += 1
        self.totals[kind] += 1
        self.tick(now)

    def tick(self, now: float) -> None:
        """Log what was counted since the last line, if any and if the last line is old enough.

        Called on every xrun and periodically, so a burst's tail is reported once things go quiet.
        """
        if not self._pending or (self._last_log is not None and now - self._last_log < self._interval_s):
            return
        since = "" if self._last_log is None else f" in the last {now - self._last_log:.0f} s"
        counts = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(self._pending.items()))
        total = sum(self.totals.values())
        log.warning("audio xruns%s: %s (%d since start); if they keep coming, raise audio.block_ms or set "
                    "audio.latency: high", since, counts, total)
        self._pending.clear()
        self._last_log = now
