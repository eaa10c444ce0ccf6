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
exponential backoff up to `audio.reopen_max_s`; `frames()` keeps going across the gap.
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
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.resampler import StreamResampler
from voiceloop.config import AudioConfig
from voiceloop.errors import DeviceError

__all__ = ["SoundDevicePort", "DeviceInfo", "list_devices", "format_device_list", "check_devices"]

log = logging.getLogger(__name__)

_PLAY_BUFFER_S = 2.0  # play() waits beyond this much unplayed audio
_QUEUE_FRAMES = 400  # ~2 s of mic + speaker frames for a consumer that falls behind
_STALL_S = 2.0  # no callback for this long = the stream died without saying so
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

    Raises `DeviceError` at once when a configured device does not exist or cannot be opened.
    """

    def __init__(self, cfg: AudioConfig):
        self._cfg = cfg
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_FRAMES)
        self._gen = 0  # stream generation: callbacks of a closed pair are ignored
        self._epoch = 0  # bumped by clear(), so a play() waiting for room drops its remainder
        self._queued = self._rendered = self._dropped = 0  # speaker samples at the device rate
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._room = asyncio.Event()
        self._mic_n = self._ref_n = 0  # 10 ms frames emitted, for timestamps
        self._lost = 0
        self._last_cb = self._loop.time()
        self._failed = asyncio.Event()
        self._link: _Link | None = self._open(refresh_devices=False)
        self._supervisor = self._loop.create_task(self._supervise(), name="audio-devices")

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
            self._queued += taken
            rest = rest[taken:]
            if len(rest):
                self._room.clear()
                await self._room.wait()

    def clear(self) -> int:
        self._epoch += 1
        link = self._link
        if link is None:
            return 0
        dropped = link.buffer.clear()
        link.play_rs.reset()
        self._dropped += dropped
        self._progress()
        return round(dropped * SAMPLE_RATE / link.spk.rate)

    async def wait_played(self) -> None:
        target = self._queued
        if self._link is None or self._rendered + self._dropped >= target:
            return
        future = self._loop.create_future()
        self._waiters.append((target, future))
        await future

    async def aclose(self) -> None:
        self._supervisor.cancel()
        await asyncio.gather(self._supervisor, return_exceptions=True)
        link, self._link = self._link, None
        self._gen += 1
        if link is not None:
            await asyncio.to_thread(link.close)
            self._dropped += len(link.buffer)
        self._progress()
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
        log.info("audio in: %s (%d Hz x%d); out: %s (%d Hz x%d)", mic.device.name, mic.rate, mic.channels,
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
            self._hand(self._on_input, gen, indata.copy(), time.inputBufferAdcTime, str(status) if status else "")
        return callback

    def _output_callback(self, gen: int, buffer: PlaybackBuffer):
        def callback(outdata, frames, time, status) -> None:
            block = np.zeros(frames, dtype=np.float32)
            played = buffer.read_into(block)
            outdata[:] = block[:, None]
            self._hand(self._on_output, gen, block, played, time.outputBufferDacTime, str(status) if status else "")
        return callback

    # -- event loop side -------------------------------------------------------------------

    def _on_input(self, gen: int, data: np.ndarray, adc_time: float, status: str) -> None:
        link = self._link
        if gen != self._gen or link is None:
            return
        self._last_cb = self._loop.time()
        if status:
            log.debug("audio input: %s", status)
        starts = _frame_times(adc_time, link.mic_chunks.pending)
        for i, frame in enumerate(link.mic_chunks.push(link.mic_rs.push(to_mono(data)))):
            self._emit(Captured(frame, self._mic_n * _FRAME_S, starts(i)))
            self._mic_n += 1

    def _on_output(self, gen: int, block: np.ndarray, played: int, dac_time: float, status: str) -> None:
        link = self._link
        if gen != self._gen or link is None:
            return
        self._last_cb = self._loop.time()
        if status:
            log.debug("audio output: %s", status)
        self._rendered += played
        starts = _frame_times(dac_time, link.ref_chunks.pending)
        for i, frame in enumerate(link.ref_chunks.push(link.ref_rs.push(block))):
            self._emit(Rendered(frame, self._ref_n * _FRAME_S, starts(i)))
            self._ref_n += 1
        self._progress()

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

    def _progress(self) -> None:
        """Wake play() (room in the buffer) and wait_played() callers whose audio is out."""
        self._room.set()
        done = self._rendered + self._dropped
        keep = []
        for target, future in self._waiters:
            if done >= target or self._link is None:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    # -- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Owns reopening: watch for a dead stream, close it, bring a new pair up with backoff."""
        while True:
            reason = await self._watch()
            log.warning("audio device stopped (%s); reopening", reason)
            started = self._loop.time()
            await self._take_down()
            await self._bring_up()
            log.warning("audio devices reopened after %.1f s", self._loop.time() - started)

    async def _watch(self) -> str:
        while True:
            try:
                await asyncio.wait_for(self._failed.wait(), timeout=0.5)
                return "stream finished"
            except TimeoutError:
                pass
            link = self._link
            if link is not None and not (link.in_stream.active and link.out_stream.active):
                return "stream no longer active"
            if self._loop.time() - self._last_cb > _STALL_S:
                return f"no audio callback for {_STALL_S:.0f} s"

    async def _take_down(self) -> None:
        link, self._link = self._link, None
        self._gen += 1
        self._failed.clear()
        if link is not None:
            link.buffer.clear()
            self._dropped = self._queued - self._rendered  # blocks in flight on the dead pair are lost too
            self._progress()
            await asyncio.to_thread(link.close)

    async def _bring_up(self) -> None:
        delay = _FIRST_RETRY_S
        down_since = self._loop.time()
        while True:
            try:
                link = await _uncancelled(asyncio.to_thread(self._open, True), _Link.close)
                break
            except DeviceError as exc:
                log.warning("audio devices not back yet (%s); next try in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._cfg.reopen_max_s)
        gap = int((self._loop.time() - down_since) / _FRAME_S)  # keep timestamps near the wall clock
        self._mic_n = self._ref_n = max(self._mic_n, self._ref_n) + gap
        self._last_cb = self._loop.time()
        self._link = link


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
