"""`AudioPort` on real sound devices (PortAudio through sounddevice).

Two separate streams, not one duplex stream: over PulseAudio's ALSA plugin a duplex stream fails,
and a mic and a speaker are often different devices anyway. The PortAudio callbacks do nothing but
copy a block and hand it to the event loop; conversion to 16 kHz mono 10 ms frames happens on the
loop, so all resampler and counter state has one owner. The speaker callback reads a bounded
`PlaybackBuffer` and reports every block it renders (silence too) as `Rendered` frames, in
callback order with the mic's `Captured` frames, each stamped with PortAudio's ADC or DAC time
(`at`), so the front end pairs them by when they were heard and played (`audio.align`): the echo
canceller's reference is what the speaker really played, when it played it.

Three parts: the open pair of streams (`devicelink.Link`), the speaker's account of what was queued,
played and dropped (`playledger`), and the supervisor that watches the pair and reopens it with
backoff when a device stops working (`reopen.Supervisor`); `frames()` keeps going across the gap.
With `wait=True` a device missing at start is waited for the same way (the daemon at boot, before
the sound server or the USB microphone is there) and `opened()` returns once both streams run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np

from voiceloop.audio.devicelink import Link, open_link
from voiceloop.audio.devicelist import (  # re-exported: the CLI, `check` and `sysinfo` import them from here
    DeviceInfo, check_devices, format_device_list, list_devices)
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, to_mono
from voiceloop.audio.playbuffer import PlaybackBuffer
from voiceloop.audio.playledger import PlaybackLedger
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.reopen import Supervisor
from voiceloop.config import AudioConfig

__all__ = ["SoundDevicePort", "DeviceInfo", "list_devices", "format_device_list", "check_devices"]

log = logging.getLogger(__name__)

_QUEUE_FRAMES = 400  # ~2 s of mic + speaker frames for a consumer that falls behind
_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_END = object()


class SoundDevicePort:
    """Microphone and speaker from `audio.*` config; construct inside the running event loop.

    Raises `DeviceError` at once when a configured device does not exist or cannot be opened,
    unless `wait`: then it logs once what it waits for and keeps trying (see `opened`).
    """

    def __init__(self, cfg: AudioConfig, *, wait: bool = False):
        self._cfg = cfg
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_FRAMES)
        self._epoch = 0  # bumped by clear(), so a play() waiting for room drops its remainder
        self._ledger = PlaybackLedger()
        self._gain = 1.0  # set by the loop, read by the output callback (a float: one atomic store)
        self._mic_n = self._ref_n = 0  # 10 ms frames emitted, for timestamps
        self._lost = 0
        self._sup = Supervisor(cfg.reopen_max_s, self._open, self._on_down, self._on_up)
        self._sup.start(wait)

    async def opened(self) -> None:
        """Return once both devices have been opened (at once unless constructed with `wait`)."""
        await self._sup.up.wait()

    # -- AudioPort -------------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[Captured | Rendered]:
        while (item := await self._queue.get()) is not _END:
            yield item  # type: ignore[misc]

    async def play(self, samples: np.ndarray) -> None:
        epoch, link = self._epoch, self._sup.link
        if link is None:  # speaker gone: what it cannot play counts as dropped, so nobody waits on it
            return
        rest = link.play_rs.push(np.asarray(samples, dtype=np.float32).reshape(-1))
        while len(rest):
            if epoch != self._epoch or link is not self._sup.link:
                return
            taken = link.buffer.write(rest)
            self._ledger.queued(taken, link.spk.rate)
            rest = rest[taken:]
            if len(rest):
                await self._ledger.wait_moved()

    def duck(self, gain: float) -> None:
        self._gain = float(gain)

    @property
    def rendered(self) -> int:
        return self._ledger.rendered

    def clear(self) -> int:
        self._epoch += 1
        link = self._sup.link
        if link is None:
            return 0
        dropped = link.buffer.clear()
        link.play_rs.reset()
        return self._ledger.dropped(dropped, link.spk.rate)

    async def wait_played(self) -> None:
        if self._sup.link is not None:
            await self._ledger.wait_played()

    async def aclose(self) -> None:
        link = await self._sup.close()
        if link is not None:
            await asyncio.to_thread(link.close)
            self._ledger.dropped(len(link.buffer), link.spk.rate)
        self._ledger.release()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    # -- the supervisor's side ---------------------------------------------------------------

    def _open(self, gen: int, refresh_devices: bool, quiet: bool) -> Link:
        """A new pair whose callbacks carry generation `gen` (blocking: in a thread, or at start)."""
        return open_link(self._cfg, self._input_callback(gen), lambda buffer: self._output_callback(gen, buffer),
                         lambda kind: self._hand(self._sup.finished, gen, kind),
                         refresh_devices=refresh_devices, quiet=quiet)

    def _on_down(self, link: Link) -> None:
        link.buffer.clear()
        self._ledger.lose_in_flight()  # blocks in flight on the dead pair are lost too

    def _on_up(self, gap_s: float) -> None:
        gap = int(gap_s / _FRAME_S)  # keep timestamps near the wall clock
        self._mic_n = self._ref_n = max(self._mic_n, self._ref_n) + gap

    # -- PortAudio threads: copy, hand over, nothing else -----------------------------------

    def _hand(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed under a stream that was still stopping
            pass

    def _input_callback(self, gen: int):
        def callback(indata, frames, time, status) -> None:
            xruns = _xrun_kinds(status, "input") if status else ()
            self._hand(self._on_input, gen, indata.copy(), time.inputBufferAdcTime, xruns)
        return callback

    def _output_callback(self, gen: int, buffer: PlaybackBuffer):
        gain = 1.0

        def callback(outdata, frames, time, status) -> None:
            nonlocal gain
            block = np.zeros(frames, dtype=np.float32)
            played = buffer.read_into(block)
            target = self._gain
            if target != gain:
                block *= np.linspace(gain, target, frames, dtype=np.float32)
                gain = target
            elif gain != 1.0:
                block *= gain
            outdata[:] = block[:, None]
            xruns = _xrun_kinds(status, "output") if status else ()
            self._hand(self._on_output, gen, block, played, time.outputBufferDacTime, xruns)
        return callback

    # -- event loop side -------------------------------------------------------------------

    def _on_input(self, gen: int, data: np.ndarray, adc_time: float, xruns: tuple[str, ...]) -> None:
        link = self._sup.link
        if gen != self._sup.gen or link is None:
            return
        now = self._loop.time()
        self._sup.heard_mic(now)
        for kind in xruns:
            self._sup.xruns.add(kind, now)
        starts = _frame_times(adc_time, link.mic_chunks.pending)
        for i, frame in enumerate(link.mic_chunks.push(link.mic_rs.push(to_mono(data)))):
            self._emit(Captured(frame, self._mic_n * _FRAME_S, starts(i)))
            self._mic_n += 1

    def _on_output(self, gen: int, block: np.ndarray, played: int, dac_time: float,
                   xruns: tuple[str, ...]) -> None:
        link = self._sup.link
        if gen != self._sup.gen or link is None:
            return
        now = self._loop.time()
        self._sup.heard_speaker(now)
        for kind in xruns:
            self._sup.xruns.add(kind, now)
        self._ledger.rendered_block(played, link.spk.rate)
        starts = _frame_times(dac_time, link.ref_chunks.pending)
        for i, frame in enumerate(link.ref_chunks.push(link.ref_rs.push(block))):
            self._emit(Rendered(frame, self._ref_n * _FRAME_S, starts(i)))
            self._ref_n += 1

    def _emit(self, item: Captured | Rendered) -> None:
        if self._queue.full():  # the consumer fell behind: lose the oldest rather than block the device
            self._queue.get_nowait()
            self._lost += 1
            if self._lost in (1, 100) or self._lost % 1000 == 0:
                log.warning("audio consumer is falling behind: %d frames dropped so far", self._lost)
        self._queue.put_nowait(item)


def _xrun_kinds(status, direction: str) -> tuple[str, ...]:
    """The xrun kinds a PortAudio callback's status flags report (called in the audio thread)."""
    if direction == "input":
        flags = (("input overflow", status.input_overflow), ("input underflow", status.input_underflow))
    else:
        flags = (("output underflow", status.output_underflow), ("output overflow", status.output_overflow))
    return tuple(kind for kind, on in flags if on)


def _frame_times(block_time: float, pending: int):
    """When the i-th 10 ms frame completed from a block passed the converter, given PortAudio's time
    for the block's first sample and the samples the chunker held over from earlier blocks (those
    start the first frame, before the block). None where PortAudio reports no time (0)."""
    if not block_time:
        return lambda i: None
    return lambda i: block_time + (i * FRAME_SAMPLES - pending) / SAMPLE_RATE
