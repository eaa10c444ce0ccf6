"""The engine scheduler: one inference at a time, the dialogue first, bounded service queue."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from voiceloop.engines.scheduler import EngineBusy, EngineScheduler, Priority


def _job(log: list, name: str, active: list, gate: threading.Event | None = None):
    """A blocking job that runs until `gate` is set (at once without one), logging its name."""
    def run():
        active.append(name)
        assert len(active) == 1, f"two inferences overlap: {active}"
        if gate is not None:
            assert gate.wait(10), f"{name}: the test never released it"
        log.append(name)
        active.remove(name)
        return name
    return run


async def _until(condition) -> None:
    """Let the scheduler and its thread run until `condition()` holds (no wall-clock guesses)."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.001)


async def test_dialogue_jumps_the_service_queue():
    sched, log, active, gate = EngineScheduler("asr"), [], [], threading.Event()
    first = asyncio.create_task(sched.run(_job(log, "upload-1", active, gate)))
    await _until(lambda: active == ["upload-1"])
    uploads = [asyncio.create_task(sched.run(_job(log, f"upload-{i}", active))) for i in (2, 3)]
    await _until(lambda: sched.stats().waiting_service == 2)
    turn = asyncio.create_task(sched.run(_job(log, "turn", active), priority=Priority.DIALOGUE))
    await _until(lambda: sched.stats().waiting_dialogue == 1)
    gate.set()
    assert await turn == "turn"
    await asyncio.gather(first, *uploads)
    assert log == ["upload-1", "turn", "upload-2", "upload-3"]
    assert sched.stats().jobs_done == 4
    sched.close()


@pytest.mark.room  # a 0.1 s wall-clock bound

async def test_cancelled_caller_returns_at_once_but_next_job_waits_for_the_thread():
    sched, active = EngineScheduler("asr"), []
    release = threading.Event()
    started = threading.Event()

    def slow():
        active.append("slow")
        started.set()
        release.wait(5)
        active.remove("slow")

    def after():
        assert not active, "the next job started while the cancelled one was still running"
        return "after"

    slow_task = asyncio.create_task(sched.run(slow, priority=Priority.DIALOGUE))
    await asyncio.to_thread(started.wait, 5)
    slow_task.cancel()
    t0 = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await slow_task
    assert time.monotonic() - t0 < 0.1
    nxt = asyncio.create_task(sched.run(after))
    await _until(lambda: sched.stats().waiting_service == 1)
    assert sched.stats().running and not nxt.done()  # queued behind the thread, not started
    release.set()
    assert await nxt == "after"
    sched.close()


async def test_cancelled_waiter_is_skipped():
    sched, log, active, gate = EngineScheduler("asr"), [], [], threading.Event()
    first = asyncio.create_task(sched.run(_job(log, "a", active, gate)))
    await _until(lambda: active == ["a"])
    doomed = asyncio.create_task(sched.run(_job(log, "doomed", active)))
    last = asyncio.create_task(sched.run(_job(log, "c", active)))
    await _until(lambda: sched.stats().waiting_service == 2)
    doomed.cancel()
    gate.set()
    await asyncio.gather(first, last)
    assert log == ["a", "c"]
    sched.close()


async def test_full_service_queue_is_refused_but_dialogue_never():
    sched, log, active = EngineScheduler("asr", max_waiting=2, retry_after_s=7), [], []
    gate = threading.Event()
    running = asyncio.create_task(sched.run(_job(log, "r", active, gate)))
    await _until(lambda: active == ["r"])
    queued = [asyncio.create_task(sched.run(_job(log, f"q{i}", active))) for i in range(2)]
    await _until(lambda: sched.stats().waiting_service == 2)
    with pytest.raises(EngineBusy) as busy:
        await sched.run(_job(log, "refused", active))
    assert busy.value.retry_after_s == 7 and "busy" in str(busy.value)
    turn = asyncio.create_task(sched.run(_job(log, "turn", active), priority=Priority.DIALOGUE))
    await _until(lambda: sched.stats().waiting_dialogue == 1)  # a full queue never refuses the dialogue
    gate.set()
    assert await turn == "turn"
    await asyncio.gather(running, *queued)
    assert "refused" not in log
    sched.close()


async def test_exception_in_job_frees_the_engine():
    sched = EngineScheduler("tts")

    def boom():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await sched.run(boom)
    assert await sched.run(lambda: 42) == 42
    sched.close()


async def test_hold_keeps_service_jobs_back_until_the_utterance_arrives():
    """While the user speaks, no new upload segment starts; their turn then runs first."""
    sched, log, active = EngineScheduler("asr"), [], []
    sched.hold(10.0)
    uploads = [asyncio.create_task(sched.run(_job(log, f"upload-{i}", active))) for i in range(2)]
    await _until(lambda: sched.stats().waiting_service == 2)
    # admission is decided when a job asks: queued and the engine idle means held back, not started
    assert log == [] and not sched.stats().running, "a service job started during the hold"
    assert await sched.run(_job(log, "turn", active), priority=Priority.DIALOGUE) == "turn"
    await asyncio.gather(*uploads)
    assert log == ["turn", "upload-0", "upload-1"]
    sched.close()


async def test_hold_lets_the_job_in_flight_finish_and_ends_by_unhold_or_timeout():
    sched, log, active, gate = EngineScheduler("asr"), [], [], threading.Event()
    running = asyncio.create_task(sched.run(_job(log, "segment-1", active, gate)))
    await _until(lambda: active == ["segment-1"])
    sched.hold(10.0)
    nxt = asyncio.create_task(sched.run(_job(log, "segment-2", active)))
    await _until(lambda: sched.stats().waiting_service == 1)
    gate.set()
    await running
    await _until(lambda: not sched.stats().running)
    assert log == ["segment-1"] and sched.stats().waiting_service == 1 and not nxt.done()
    sched.unhold()  # the sound was a cough
    await nxt
    assert log == ["segment-1", "segment-2"]
    sched.hold(0.05)  # a hold that nobody ends expires by itself
    assert await asyncio.wait_for(sched.run(_job(log, "segment-3", active)), 1.0) == "segment-3"
    sched.close()


async def test_admitted_work_waits_where_new_work_is_refused_up_front():
    """A long job asks `check_room()` once, then its later pieces wait their turn even past
    `max_waiting`: a refusal half-way would throw away the pieces already done."""
    jobs = EngineScheduler("asr", max_waiting=1)
    release = threading.Event()
    try:
        running = asyncio.create_task(jobs.run(release.wait, 10))
        waiting = asyncio.create_task(jobs.run(lambda: "first"))
        while jobs.stats().waiting_service < 1:
            await asyncio.sleep(0)
        with pytest.raises(EngineBusy):
            jobs.check_room()
        admitted = asyncio.create_task(jobs.run(lambda: "piece", admitted=True))
        while jobs.stats().waiting_service < 2:
            await asyncio.sleep(0)
        release.set()
        assert [await running, await waiting, await admitted] == [True, "first", "piece"]
        jobs.check_room()
    finally:
        release.set()
        jobs.close()
