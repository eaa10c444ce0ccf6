"""Bounds for the work the HTTP API and Wyoming bring in, so that it never stalls the dialogue.

- `DecodePool`: uploads and Wyoming streams are decoded and cut at pauses on a few threads of their
  own (`api.decode_workers`), not on Python's default pool, whose threads the dialogue needs for
  Edge's MP3 decoding: six long uploads there stopped the spoken replies. At most
  `api.max_transcriptions` such jobs are in progress at once; one more is refused (503 + Retry-After,
  or Wyoming's `busy`) before any of it is decoded, not after.
- `ServiceVoice`: text-to-speech for the API and Wyoming, at most `api.max_syntheses` at once, on
  the dialogue's engines at service priority and with fallback state of its own, so an API caller
  neither delays the dialogue's next sentence by more than one clause nor switches its voice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import TypeVar

from voiceloop.engines.scheduler import EngineBusy
from voiceloop.tts.base import Synthesizer, for_service

T = TypeVar("T")
RETRY_AFTER_S = 5


class Ticket:
    """One admitted job; `release` (idempotent) gives its place back."""

    def __init__(self, admission: Admission):
        self._admission = admission

    def release(self) -> None:
        if self._admission is not None:
            self._admission.used -= 1
            self._admission = None

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    __del__ = release  # a streamed answer whose body never started (client gone) still gives its place back


class Admission:
    """At most `limit` jobs in progress; the event loop's only (no lock)."""

    def __init__(self, what: str, limit: int, key: str):
        self.what, self.limit, self.key = what, limit, key
        self.used = 0

    def take(self) -> Ticket:
        if self.used >= self.limit:
            raise EngineBusy(self.what, self.used, RETRY_AFTER_S,
                             f"busy: {self.used} {self.what} already in progress ({self.key}); "
                             f"retry in {RETRY_AFTER_S} s")
        self.used += 1
        return Ticket(self)


class DecodePool:
    """Threads that decode and segment uploads and Wyoming streams, and the bound on such jobs."""

    def __init__(self, workers: int = 2, max_jobs: int = 4):
        self.workers = workers
        self.admission = Admission("transcriptions", max_jobs, "api.max_transcriptions")
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="decode")

    def admit(self) -> Ticket:
        """A place for one job, or `EngineBusy` at once (nothing decoded yet)."""
        return self.admission.take()

    async def run(self, fn: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ServiceVoice:
    """The dialogue's voice chain as API and Wyoming callers get it: same engines, service priority,
    own Edge-down state; `admit()` before speaking."""

    def __init__(self, dialogue_voice: Synthesizer, max_jobs: int = 2):
        self.tts = for_service(dialogue_voice)
        self.admission = Admission("syntheses", max_jobs, "api.max_syntheses")

    def admit(self) -> Ticket:
        return self.admission.take()

