"""`AudioPort` on real sound devices (PortAudio through sounddevice).

Two separate streams, not one duplex stream: over PulseAudio's ALSA plugin a duplex stream fails,
and a mic and a speaker are often different devices anyway. The PortAudio callbacks do nothing but
copy a block and hand it to the event loop; conversion to 16 kHz mono 10 ms frames happens on the
loop, so all resampler and counter state has one owner. The speaker callback reads a bounded
`PlaybackBuffer` and reports every block it renders (silence too) as `Rendered` frames, in
callback order with the mic's `Captured` frames, each stamped with PortAudio's ADC or DAC time
(`at`), so the front end pairs them by when they were heard and played (`audio.align`): the echo
canceller's reference is what the speaker really played, when it played it.

A device that stops working (unplugged, sound server restarted) is logged and reopened with
exponential backoff up to `audio.reopen_max_s`; `frames()` keeps going across the gap. Each
direction has its own deadline: a microphone that goes silent while the speaker still plays (a
suspended source, a USB mic that hangs) is a dead device too, not a live one. With `wait=True` a
device missing at start is waited for the same way (the daemon at boot, before the sound server
or the USB microphone is there) and `opened()` returns once both streams run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voiceloop.audio.devicelist import (  # re-exported: the CLI, `check` and `sysinfo` import them from here
    DeviceInfo, StreamFormat, check_devices, choose_format, format_device_list, list_devices, refresh, resolve,
    sounddevice)
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, FrameChunker, to_mono
from voiceloop.audio.playbuffer import PlaybackBuffer
from voiceloop.audio.playledger import PlaybackLedger
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.resampler import StreamResampler
from voiceloop.audio.xruns import XrunReport
from voiceloop.config import AudioConfig
from voiceloop.errors import DeviceError

__all__ = ["SoundDevicePort", "DeviceInfo", "list_devices", "format_device_list", "check_devices"]

log = logging.getLogger(__name__)

_PLAY_BUFFER_S = 2.0  # play() waits beyond this much unplayed audio
_QUEUE_FRAMES = 400  # ~2 s of mic + speaker frames for a consumer that falls behind
_STALL_S = 2.0  # no callback from a running stream for this long = it died without saying so
_FIRST_AUDIO_S = 5.0  # a just-opened stream may take this long to deliver (a fresh null-sink monitor: ~2 s)
_FIRST_RETRY_S = 0.25
_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_END = object()


class _Link:
    """One open pair of streams and the conversion state that belongs to exactly that pair."""

    def __init__(self, mic: StreamFormat, spk: StreamFormat, streams: tuple[Any, Any], buffer: PlaybackBuffer):
        self.mic, self.spk = mic, spk
        self.in_stream, self.out_stream = streams
        self.buffer = buffer
        self.mic_rs = StreamResampler(mic.rate, SAMPLE_RATE)
        self.ref_rs = StreamResampler(spk.rate, SAMPLE_RATE)
        self.play_rs = StreamResampler(SAMPLE_RATE, spk.rate)
        self.mic_chunks, self.ref_chunks = FrameChunker(), FrameChunker()

    def close(self) -> None:
        """Stop and close both streams; blocking, so the loop calls it in a thread."""
        for stream in (self.in_stream, self.out_stream):
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception as exc:  # noqa: BLE001 - a dead device may fail to close; it is gone either way
                log.debug("closing %s: %s", stream, exc)


class SoundDevicePort:
    """Microphone and speaker from `audio.*` config; construct inside the running event loop.

    Raises `DeviceError` at once when a configured device does not exist or cannot be opened,
    unless `wait`: then it logs once what it waits for and keeps trying (see `opened`).
    """

    def __init__(self, cfg: AudioConfig, *, wait: bool = False):
        self._cfg = cfg
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_FRAMES)
        self._gen = 0  # stream generation: callbacks of a closed pair are ignored
        self._epoch = 0  # bumped by clear(), so a play() waiting for room drops its remainder
        self._ledger = PlaybackLedger()
        self._gain = 1.0  # set by the loop, read by the output callback (a float: one atomic store)
        self._mic_n = self._ref_n = 0  # 10 ms frames emitted, for timestamps
        self._lost = 0
        self._mic_due = self._spk_due = self._loop.time() + _FIRST_AUDIO_S  # next callback expected by
        self._down_since: float | None = None  # an outage in progress: logged once, ended by mic audio
        self._xruns = XrunReport()
        self._failed = asyncio.Event()
        self._up = asyncio.Event()
        self._link: _Link | None = None
        if not wait:
            self._link = self._open(refresh_devices=False)
            self._up.set()
        self._supervisor = self._loop.create_task(self._supervise(), name="audio-devices")

    async def opened(self) -> None:
        """Return once both devices have been opened (at once unless constructed with `wait`)."""
        await self._up.wait()

    # -- AudioPort -------------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[Captured | Rendered]:
        while (item := await self._queue.get()) is not _END:
            yield item  # type: ignore[misc]

    async def play(self, samples: np.ndarray) -> None:
        epoch, link = self._epoch, self._link
        if link is None:  # speaker gone: what it cannot play counts as dropped, so nobody waits on it
            return
        rest = link.play_rs.push(np.asarray(samples, dtype=np.float32).reshape(-1))
        while len(rest):
            if epoch != self._epoch or link is not self._link:
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
        link = self._link
        if link is None:
            return 0
        dropped = link.buffer.clear()
        link.play_rs.reset()
        return self._ledger.dropped(dropped, link.spk.rate)

    async def wait_played(self) -> None:
        if self._link is not None:
            await self._ledger.wait_played()

    async def aclose(self) -> None:
        self._supervisor.cancel()
        await asyncio.gather(self._supervisor, return_exceptions=True)
        link, self._link = self._link, None
        self._gen += 1
        if link is not None:
            await asyncio.to_thread(link.close)
            self._ledger.dropped(len(link.buffer), link.spk.rate)
        self._ledger.release()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    # -- opening ---------------------------------------------------------------------------

    def _open(self, refresh_devices: bool) -> _Link:
        """Find both devices and start their streams (blocking: PortAudio opens devices synchronously)."""
        if refresh_devices:
            refresh()
        mic = choose_format(resolve(self._cfg.input_device, "input"), "input", self._cfg)
        spk = choose_format(resolve(self._cfg.output_device, "output"), "output", self._cfg)
        buffer = PlaybackBuffer(int(_PLAY_BUFFER_S * spk.rate))
        gen = self._gen
        in_stream = self._stream(mic, "input", self._input_callback(gen), gen)
        try:
            out_stream = self._stream(spk, "output", self._output_callback(gen, buffer), gen)
        except DeviceError:
            in_stream.close(ignore_errors=True)
            raise
        link = _Link(mic, spk, (in_stream, out_stream), buffer)
        level = logging.INFO if self._down_since is None else logging.DEBUG  # an outage's retries: quiet
        log.log(level, "audio in: %s (%d Hz x%d); out: %s (%d Hz x%d)", mic.device.name, mic.rate, mic.channels,
                spk.device.name, spk.rate, spk.channels)
        return link

    def _stream(self, fmt: StreamFormat, kind: str, callback, gen: int):
        sd = sounddevice()
        cls = sd.InputStream if kind == "input" else sd.OutputStream
        latency: str | float = self._cfg.latency
        try:
            latency = float(latency)
        except ValueError:
            pass
        try:
            stream = cls(device=fmt.device.index, samplerate=fmt.rate, channels=fmt.channels, dtype="float32",
                         blocksize=max(1, round(self._cfg.block_ms * fmt.rate / 1000)), latency=latency,
                         callback=callback, finished_callback=lambda: self._hand(self._on_finished, gen, kind))
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open audio {kind} {fmt.device.name!r} (index {fmt.device.index}) at "
                              f"{fmt.rate} Hz x{fmt.channels}: {exc}; pick another with audio.{kind}_device") from None
        return stream

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
        link = self._link
        if gen != self._gen or link is None:
            return
        now = self._loop.time()
        self._mic_due = now + _STALL_S
        if self._down_since is not None:
            log.warning("audio is flowing again after %.1f s", now - self._down_since)
            self._down_since = None
        for kind in xruns:
            self._xruns.add(kind, now)
        starts = _frame_times(adc_time, link.mic_chunks.pending)
        for i, frame in enumerate(link.mic_chunks.push(link.mic_rs.push(to_mono(data)))):
            self._emit(Captured(frame, self._mic_n * _FRAME_S, starts(i)))
            self._mic_n += 1

    def _on_output(self, gen: int, block: np.ndarray, played: int, dac_time: float,
                   xruns: tuple[str, ...]) -> None:
        link = self._link
        if gen != self._gen or link is None:
            return
        now = self._loop.time()
        self._spk_due = now + _STALL_S
        for kind in xruns:
            self._xruns.add(kind, now)
        self._ledger.rendered_block(played, link.spk.rate)
        starts = _frame_times(dac_time, link.ref_chunks.pending)
        for i, frame in enumerate(link.ref_chunks.push(link.ref_rs.push(block))):
            self._emit(Rendered(frame, self._ref_n * _FRAME_S, starts(i)))
            self._ref_n += 1

    def _on_finished(self, gen: int, kind: str) -> None:
        if gen == self._gen:
            self._failed.set()
            log.debug("audio %s stream finished", kind)

    def _emit(self, item: Captured | Rendered) -> None:
        if self._queue.full():  # the consumer fell behind: lose the oldest rather than block the device
            self._queue.get_nowait()
            self._lost += 1
            if self._lost in (1, 100) or self._lost % 1000 == 0:
                log.warning("audio consumer is falling behind: %d frames dropped so far", self._lost)
        self._queue.put_nowait(item)

    # -- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Owns opening and reopening: bring the pair up, watch it, on failure close it and retry.

        An outage is logged once when it starts and once when microphone audio flows again; the
        tries in between (a mic that stays suspended, a device still unplugged) log at DEBUG.
        """
        if self._link is None:
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
            self._xruns.tick(now)
            link = self._link
            if link is not None and not (link.in_stream.active and link.out_stream.active):
                return "stream no longer active"
            if now > self._mic_due:
                return f"no microphone audio for {_STALL_S:.0f} s"
            if now > self._spk_due:
                return f"no speaker callback for {_STALL_S:.0f} s"

    async def _take_down(self) -> None:
        link, self._link = self._link, None
        self._gen += 1
        self._failed.clear()
        if link is not None:
            link.buffer.clear()
            self._ledger.lose_in_flight()  # blocks in flight on the dead pair are lost too
            await asyncio.to_thread(link.close)

    async def _bring_up(self) -> None:
        """Open a new pair, retrying with backoff; logs what it waits for once per distinct reason."""
        delay, said = _FIRST_RETRY_S, ""
        down_since = self._loop.time()
        while True:
            try:
                link = await _uncancelled(asyncio.to_thread(self._open, True), _Link.close)
                break
            except DeviceError as exc:
                if str(exc) != said:
                    log.warning("waiting for audio devices: %s; trying again every %g s at most",
                                exc, self._cfg.reopen_max_s)
                    said = str(exc)
                else:
                    log.debug("audio devices not there yet; next try in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._cfg.reopen_max_s)
        now = self._loop.time()
        gap = int((now - down_since) / _FRAME_S)  # keep timestamps near the wall clock
        self._mic_n = self._ref_n = max(self._mic_n, self._ref_n) + gap
        self._mic_due = self._spk_due = now + _FIRST_AUDIO_S
        self._link = link
        self._up.set()


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


async def _uncancelled(work, undo):
    """Await a thread's result; if we are cancelled meanwhile, let it finish and `undo` it (no leaked streams)."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(lambda f: None if f.cancelled() or f.exception() else undo(f.result()))
        raise
