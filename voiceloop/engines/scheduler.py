"""One scheduler per loaded engine, shared by every way in (the dialogue, the HTTP API, Wyoming).

A model is loaded once and runs one inference at a time on its own worker thread. Jobs wait in a
priority queue: the spoken dialogue goes first, so the person at the desk never waits behind an
upload for more than the one inference already running. Long work (a 10-minute upload) must be
submitted segment by segment for that bound to hold, and `hold()` (called when the user starts
speaking) starts no new service job until the utterance's own job arrives, so the turn waits at
most for the remainder of the segment already running while the user talks. Service jobs beyond `max_waiting` are
refused with `EngineBusy`, which the ways in turn into 503 + Retry-After or a protocol error; work
cut into many jobs asks `check_room()` once up front and then submits them `admitted`, so it is
never refused half-way (its own bound, `servicejobs.Admission`, keeps the queue bounded).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import functools
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Priority(enum.IntEnum):
    DIALOGUE = 0  # the person at the desk
    SERVICE = 1  # HTTP API, web console, Wyoming


class EngineBusy(Exception):
    """Too many service jobs are already waiting; try again after `retry_after_s`."""

    def __init__(self, engine: str, waiting: int, retry_after_s: int, why: str = ""):
        super().__init__(why or f"the {engine} engine is busy ({waiting} jobs waiting); retry in {retry_after_s} s")
        self.engine = engine
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    name: str
    running: bool
    waiting_dialogue: int
    waiting_service: int
    jobs_done: int
    busy_s: float


class EngineScheduler:
    """Runs blocking calls on one worker thread, highest priority first, FIFO within a priority.

    The slot is released when the worker thread finishes, not when the awaiting task is
    cancelled: a cancelled caller (barge-in) returns at once, but the next job cannot start
    until the inference in flight has really ended, so two inferences never overlap.
    """

    def __init__(self, name: str, max_waiting: int = 8, retry_after_s: int = 5):
        self.name = name
        self._max_waiting = max_waiting
        self._retry_after_s = retry_after_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-engine")
        self._heap: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._running = False
        self._done = 0
        self._busy_s = 0.0
        self._hold: asyncio.TimerHandle | None = None  # set while the dialogue holds service jobs back

    async def run(self, fn: Callable[..., T], *args, priority: Priority = Priority.SERVICE,
                  admitted: bool = False, **kwargs) -> T:
        """`admitted`: the job belongs to work already let in under a bound of its own (an upload's
        later segments), so it waits its turn instead of being refused half-way."""
        await self._acquire(priority, admitted)
        loop = asyncio.get_running_loop()
        started = time.monotonic()

        def finished(_: concurrent.futures.Future) -> None:
            try:
                loop.call_soon_threadsafe(self._release, time.monotonic() - started)
            except RuntimeError:
                pass  # the loop closed while the job ran (shutdown): nobody is left waiting

        try:
            cfut = self._pool.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._release(0.0)
            raise
        cfut.add_done_callback(finished)
        return await asyncio.wrap_future(cfut)

    def hold(self, for_s: float) -> None:
        """Start no service job until a dialogue job arrives, `unhold()`, or `for_s` seconds pass."""
        if self._hold is not None:
            self._hold.cancel()
        self._hold = asyncio.get_running_loop().call_later(for_s, self.unhold)

    def unhold(self) -> None:
        """Let waiting service jobs start again (the user's sound was discarded, or the hold expired)."""
        self._clear_hold()
        if not self._running:
            self._release(0.0)

    def _clear_hold(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None

    def check_room(self) -> None:
        """Raise `EngineBusy` now if a new service job would be refused: before work that would be
        thrown away by a refusal later (decoding an upload)."""
        waiting = self._waiting(Priority.SERVICE)
        if waiting >= self._max_waiting:
            raise EngineBusy(self.name, waiting, self._retry_after_s)

    def _waiting(self, priority: Priority) -> int:
        return sum(1 for p, _, f in self._heap if p == priority and not f.done())

    def stats(self) -> SchedulerStats:
        waiting = [p for p, _, f in self._heap if not f.done()]
        return SchedulerStats(self.name, self._running, waiting.count(Priority.DIALOGUE),
                              waiting.count(Priority.SERVICE), self._done, self._busy_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _acquire(self, priority: Priority, admitted: bool = False) -> None:
        if priority == Priority.DIALOGUE:
            self._clear_hold()  # the utterance is here: it goes first, service jobs follow it
        if not self._running and (priority == Priority.DIALOGUE or self._hold is None):
            self._running = True
            return
        if priority != Priority.DIALOGUE and not admitted:
            self.check_room()
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (int(priority), next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(0.0)  # handed the slot just as we were cancelled: pass it on
            raise

    def _release(self, busy_s: float) -> None:
        if busy_s:
            self._done += 1
            self._busy_s += busy_s
        while self._heap:
            priority, _, fut = self._heap[0]
            if fut.done():
                heapq.heappop(self._heap)
                continue
            if priority != Priority.DIALOGUE and self._hold is not None:
                break  # held back for the user who is speaking; `unhold` or their job restarts it
            heapq.heappop(self._heap)
            self._running = True
            fut.set_result(None)
            return
        self._running = False
