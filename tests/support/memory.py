"""How much resident memory a block of code adds to this process."""

from __future__ import annotations

import os
import threading


class PeakRss:
    """The process's resident memory, sampled every 10 ms while the block runs: growth in MB."""

    def __enter__(self) -> PeakRss:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.base = self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _watch(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20
