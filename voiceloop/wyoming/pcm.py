"""Wyoming's raw PCM at any rate, width and channel count <-> the pipeline's 16 kHz mono float32.

Home Assistant sends 16 kHz 16-bit mono, but other clients (satellites, scripts) send what their
sound card gives. A stream is converted chunk by chunk as it arrives through libsoxr's streaming
resampler (`soxr`), which keeps its state between chunks, so chunk boundaries never click and any
split gives the same samples; its work and memory grow with the audio, not with a filter table
per output sample. Rates start at 8 kHz, so one byte in is at most eight bytes out.
"""

from __future__ import annotations

import numpy as np
import soxr

from voiceloop.audio.frames import SAMPLE_RATE

MIN_RATE = 8_000
MAX_RATE = 384_000
MAX_CHANNELS = 32
WIDTHS = (1, 2, 3, 4)  # bytes per sample: unsigned 8-bit, signed 16/24/32-bit little-endian


def check_format(rate: object, width: object, channels: object) -> str | None:
    """Why this audio format cannot be read, or None when it can."""
    for name, value, ok in (("rate", rate, isinstance(rate, int) and MIN_RATE <= rate <= MAX_RATE),
                            ("width", width, width in WIDTHS),
                            ("channels", channels, isinstance(channels, int) and 1 <= channels <= MAX_CHANNELS)):
        if isinstance(value, bool) or not ok:
            return (f"unsupported audio format {name}={value!r}; expected rate {MIN_RATE}-{MAX_RATE} Hz, "
                    f"width 1, 2, 3 or 4 bytes, channels 1-{MAX_CHANNELS}")
    return None


class PcmDecoder:
    """`push` raw interleaved PCM chunks (any split, even mid-sample), then `finish`; get 16 kHz
    mono float32. Blocking work proportional to the chunk: run big chunks off the event loop."""

    def __init__(self, rate: int, width: int, channels: int):
        problem = check_format(rate, width, channels)
        if problem:
            raise ValueError(problem)
        self.rate, self.width, self.channels = rate, width, channels
        self._frame_bytes = width * channels
        self._partial = b""
        self._resampler = (None if rate == SAMPLE_RATE
                           else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"))

    def push(self, data: bytes) -> np.ndarray:
        data = self._partial + data
        whole = len(data) - len(data) % self._frame_bytes
        self._partial = data[whole:]
        if not whole:
            return np.zeros(0, np.float32)
        samples = _to_float(data[:whole], self.width).reshape(-1, self.channels)
        mono = samples.mean(axis=1, dtype=np.float32) if self.channels > 1 else samples[:, 0]
        return mono if self._resampler is None else self._resampler.resample_chunk(mono)

    def finish(self) -> np.ndarray:
        """The resampler's last samples (its filter delay); a trailing partial sample is dropped."""
        self._partial = b""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def _to_float(data: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return ((value << 8) >> 8).astype(np.float32) / 8388608.0  # sign-extend 24 -> 32 bits
    return np.frombuffer(data, "<i4").astype(np.float32) / 2147483648.0


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> signed 16-bit little-endian bytes (what Wyoming TTS clients expect)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
