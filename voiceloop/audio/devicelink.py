"""One open pair of PortAudio streams, microphone and speaker, and the state that belongs to that pair.

A pair lives until its devices fail; the next pair (`reopen.Supervisor`) may be other devices at other
rates, so resamplers, frame chunkers and the playback buffer are the link's, never carried over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from voiceloop.audio.devicelist import StreamFormat, choose_format, refresh, resolve, sounddevice
from voiceloop.audio.frames import SAMPLE_RATE, FrameChunker
from voiceloop.audio.playbuffer import PlaybackBuffer
from voiceloop.audio.resampler import StreamResampler
from voiceloop.config import AudioConfig
from voiceloop.errors import DeviceError

log = logging.getLogger(__name__)

_PLAY_BUFFER_S = 2.0  # play() waits beyond this much unplayed audio


class Link:
    """Both streams, running, with their conversion state."""

    def __init__(self, mic: StreamFormat, spk: StreamFormat, streams: tuple[Any, Any], buffer: PlaybackBuffer):
        self.mic, self.spk = mic, spk
        self.in_stream, self.out_stream = streams
        self.buffer = buffer
        self.mic_rs = StreamResampler(mic.rate, SAMPLE_RATE)
        self.ref_rs = StreamResampler(spk.rate, SAMPLE_RATE)
        self.play_rs = StreamResampler(SAMPLE_RATE, spk.rate)
        self.mic_chunks, self.ref_chunks = FrameChunker(), FrameChunker()

    @property
    def active(self) -> bool:
        return bool(self.in_stream.active and self.out_stream.active)

    def close(self) -> None:
        """Stop and close both streams; blocking, so the loop calls it in a thread."""
        for stream in (self.in_stream, self.out_stream):
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception as exc:  # noqa: BLE001 - a dead device may fail to close; it is gone either way
                log.debug("closing %s: %s", stream, exc)


def open_link(cfg: AudioConfig, on_input: Callable, on_output: Callable[[PlaybackBuffer], Callable],
              on_finished: Callable[[str], None], *, refresh_devices: bool, quiet: bool) -> Link:
    """Find both devices from `audio.*` and start their streams with these PortAudio callbacks
    (`on_output` makes the speaker's from the link's buffer); blocking, as PortAudio opens devices.
    Raises `DeviceError` naming the device and the key to change. `quiet`: log the devices at DEBUG
    (the retries of an outage)."""
    if refresh_devices:
        refresh()
    mic = choose_format(resolve(cfg.input_device, "input"), "input", cfg)
    spk = choose_format(resolve(cfg.output_device, "output"), "output", cfg)
    buffer = PlaybackBuffer(int(_PLAY_BUFFER_S * spk.rate))
    in_stream = _stream(cfg, mic, "input", on_input, on_finished)
    try:
        out_stream = _stream(cfg, spk, "output", on_output(buffer), on_finished)
    except DeviceError:
        in_stream.close(ignore_errors=True)
        raise
    log.log(logging.DEBUG if quiet else logging.INFO, "audio in: %s (%d Hz x%d); out: %s (%d Hz x%d)",
            mic.device.name, mic.rate, mic.channels, spk.device.name, spk.rate, spk.channels)
    return Link(mic, spk, (in_stream, out_stream), buffer)


def _stream(cfg: AudioConfig, fmt: StreamFormat, kind: str, callback, on_finished: Callable[[str], None]):
    sd = sounddevice()
    cls = sd.InputStream if kind == "input" else sd.OutputStream
    latency: str | float = cfg.latency
    try:
        latency = float(latency)
    except ValueError:
        pass
    try:
        stream = cls(device=fmt.device.index, samplerate=fmt.rate, channels=fmt.channels, dtype="float32",
                     blocksize=max(1, round(cfg.block_ms * fmt.rate / 1000)), latency=latency,
                     callback=callback, finished_callback=lambda: on_finished(kind))
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(f"cannot open audio {kind} {fmt.device.name!r} (index {fmt.device.index}) at "
                          f"{fmt.rate} Hz x{fmt.channels}: {exc}; pick another with audio.{kind}_device") from None
    return stream
