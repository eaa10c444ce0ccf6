"""Dynamic batching: service segments from every caller recognised together, one GPU batch at a time.

A GPU recognises 30 segments in little more time than one, but the HTTP API and Wyoming each send
one short segment at a time: a fleet of desk boxes sharing one `voiceloop serve` would get the
GPU's latency, not its throughput. Segments that arrive while the engine is busy, or within
`asr.batch_wait_ms` of each other when it is idle, go to the engine as one `transcribe_many` call
(its segments packed by duration, within `asr.batch_size_s`). Each call is one scheduler job at
service priority, so the dialogue still waits for at most the one job in flight. A batch that
fails is recognised again segment by segment, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import numpy as np

from voiceloop.asr.base import Transcript
from voiceloop.engines.scheduler import EngineScheduler, Priority

log = logging.getLogger("voiceloop.batcher")

MAX_SEGMENTS = 64  # segments in one call at most, however short


@dataclass(slots=True)
class _Waiting:
    samples: np.ndarray
    key: tuple[tuple[str, ...], bool]  # hotwords, timestamps: only segments alike share a call
    result: asyncio.Future = field(default=None)  # type: ignore[assignment]


class SegmentBatcher:
    """`transcribe` awaits one segment's transcript; a task of the batcher's own drains the queue."""

    def __init__(self, engine, jobs: EngineScheduler, batch_seconds: float, wait_s: float = 0.01):
        self._engine = engine
        self._jobs = jobs
        self._budget = int(batch_seconds * 16000)
        self._wait_s = wait_s
        self._waiting: list[_Waiting] = []
        self._drain: asyncio.Task | None = None
        self.calls = 0  # engine calls made, and segments in them (for /metrics and the tests)
        self.segments = 0

    async def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (),
                         timestamps: bool = True) -> Transcript:
        item = _Waiting(samples, (tuple(hotwords), timestamps), asyncio.get_running_loop().create_future())
        self._waiting.append(item)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run(), name="asr-batcher")
        return await item.result  # cancelled: the drain skips it, or drops its result

    def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
        for item in self._waiting:
            item.result.cancel()
        self._waiting.clear()

    async def _run(self) -> None:
        while self._waiting:
            await asyncio.sleep(self._wait_s)  # callers arriving together join this call
            batch = self._take()
            if batch:
                await self._recognise(batch)

    def _take(self) -> list[_Waiting]:
        """The oldest waiting segment and those like it, up to the batch budget, in arrival order."""
        self._waiting = [item for item in self._waiting if not item.result.done()]
        if not self._waiting:
            return []
        key = self._waiting[0].key
        batch, size = [], 0
        for item in self._waiting:
            if item.key == key and (not batch or size + item.samples.size <= self._budget) \
                    and len(batch) < MAX_SEGMENTS:
                batch.append(item)
                size += item.samples.size
        taken = {id(item) for item in batch}
        self._waiting = [item for item in self._waiting if id(item) not in taken]
        return batch

    async def _recognise(self, batch: list[_Waiting]) -> None:
        try:
            await self._recognise_batch(batch)
        finally:  # cancelled (shutdown) or a fault of ours: no caller is left waiting forever
            for item in batch:
                if not item.result.done():
                    item.result.cancel()

    async def _recognise_batch(self, batch: list[_Waiting]) -> None:
        hotwords, timestamps = batch[0].key
        self.calls += 1
        self.segments += len(batch)
        try:
            found = await self._jobs.run(self._engine.transcribe_many, [item.samples for item in batch], hotwords,
                                         timestamps, self._budget / 16000, priority=Priority.SERVICE, admitted=True)
        except Exception as exc:  # noqa: BLE001 - retried one by one: only a segment that fails alone fails
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            log.warning("recognising %d segments together failed (%s); recognising them one at a time",
                        len(batch), exc)
            for item in batch:
                await self._recognise([item])
            return
        for item, transcript in zip(batch, found):
            _settle(item, transcript)


def _settle(item: _Waiting, transcript: Transcript | None = None, error: BaseException | None = None) -> None:
    if item.result.done():  # its caller gave up (a client that went away)
        return
    if error is not None:
        item.result.set_exception(error)
    else:
        item.result.set_result(transcript)
