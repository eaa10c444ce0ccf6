"""Keeps a pair of sound devices running: watches it, and on failure closes it and reopens with backoff.

A device that stops working (unplugged, sound server restarted) says so by finishing its stream, or
does not say so and just stops calling back. Each direction has its own deadline: a microphone that
goes silent while the speaker still plays (a suspended source, a USB mic that hangs) is a dead
device too. An outage is logged once when it starts and once when microphone audio flows again;
the tries in between log at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from voiceloop.audio.devicelink import Link
from voiceloop.audio.xruns import XrunReport
from voiceloop.errors import DeviceError

log = logging.getLogger(__name__)

STALL_S = 2.0  # no callback from a running stream for this long = it died without saying so
_FIRST_AUDIO_S = 5.0  # a just-opened stream may take this long to deliver (a fresh null-sink monitor: ~2 s)
_FIRST_RETRY_S = 0.25

# open(generation, refresh_devices, quiet) -> a running Link (blocking; raises DeviceError)
Opener = Callable[[int, bool, bool], Link]


class Supervisor:
    """Owns the current `Link` and its generation (callbacks of a closed pair carry an old one and
    are ignored). The port reports each callback (`heard_mic`, `heard_speaker`, `finished`);
    `on_down(link)` settles what the dead pair held, `on_up(gap_s)` hears how long audio was gone."""

    def __init__(self, reopen_max_s: float, open_link: Opener, on_down: Callable[[Link], None],
                 on_up: Callable[[float], None]):
        self._loop = asyncio.get_running_loop()
        self._reopen_max_s = reopen_max_s
        self._open, self._on_down, self._on_up = open_link, on_down, on_up
        self.link: Link | None = None
        self.gen = 0
        self.up = asyncio.Event()
        self.xruns = XrunReport()
        self._failed = asyncio.Event()
        self._mic_due = self._spk_due = self._loop.time() + _FIRST_AUDIO_S  # next callback expected by
        self._down_since: float | None = None  # an outage in progress
        self._task: asyncio.Task | None = None

    def start(self, wait: bool) -> None:
        """Open the pair now (raising `DeviceError`), or with `wait` keep trying in the background."""
        if not wait:
            self.link = self._open(self.gen, False, False)
            self.up.set()
        self._task = self._loop.create_task(self._supervise(), name="audio-devices")

    async def close(self) -> Link | None:
        """Stop supervising; returns the pair still open (the caller closes it) and retires it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        link, self.link = self.link, None
        self.gen += 1
        return link

    # -- reports from the port's callbacks (on the loop) --------------------------------------

    def heard_mic(self, now: float) -> None:
        self._mic_due = now + STALL_S
        if self._down_since is not None:
            log.warning("audio is flowing again after %.1f s", now - self._down_since)
            self._down_since = None

    def heard_speaker(self, now: float) -> None:
        self._spk_due = now + STALL_S

    def finished(self, gen: int, kind: str) -> None:
        if gen == self.gen:
            self._failed.set()
            log.debug("audio %s stream finished", kind)

    # -- the loop ----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        if self.link is None:
            await self._bring_up()
        while True:
            reason = await self._watch()
            if self._down_since is None:
                self._down_since = self._loop.time()
                log.warning("audio device stopped (%s); reopening", reason)
            else:
                log.debug("audio device still not delivering (%s); reopening again", reason)
            await self._take_down()
            await self._bring_up()

    async def _watch(self) -> str:
        while True:
            try:
                await asyncio.wait_for(self._failed.wait(), timeout=0.5)
                return "stream finished"
            except TimeoutError:
                pass
            now = self._loop.time()
            self.xruns.tick(now)
            if self.link is not None and not self.link.active:
                return "stream no longer active"
            if now > self._mic_due:
                return f"no microphone audio for {STALL_S:.0f} s"
            if now > self._spk_due:
                return f"no speaker callback for {STALL_S:.0f} s"

    async def _take_down(self) -> None:
        link, self.link = self.link, None
        self.gen += 1
        self._failed.clear()
        if link is not None:
            self._on_down(link)
            await asyncio.to_thread(link.close)

    async def _bring_up(self) -> None:
        """Open a new pair, retrying with backoff; logs what it waits for once per distinct reason."""
        delay, said = _FIRST_RETRY_S, ""
        down_since = self._loop.time()
        while True:
            try:
                opening = asyncio.to_thread(self._open, self.gen, True, self._down_since is not None)
                link = await _uncancelled(opening, Link.close)
                break
            except DeviceError as exc:
                if str(exc) != said:
                    log.warning("waiting for audio devices: %s; trying again every %g s at most",
                                exc, self._reopen_max_s)
                    said = str(exc)
                else:
                    log.debug("audio devices not there yet; next try in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reopen_max_s)
        now = self._loop.time()
        self._on_up(now - down_since)
        self._mic_due = self._spk_due = now + _FIRST_AUDIO_S
        self.link = link
        self.up.set()


async def _uncancelled(work, undo):
    """Await a thread's result; if we are cancelled meanwhile, let it finish and `undo` it (no leaked streams)."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(lambda f: None if f.cancelled() or f.exception() else undo(f.result()))
        raise
