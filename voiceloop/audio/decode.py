"""Decode any audio file (wav, flac, mp3, ogg/opus, m4a/aac, …) to 16 kHz mono float32.

PyAV bundles FFmpeg, so no system ffmpeg is needed. Decoding blocks: call it off the event loop.

A few compressed megabytes can decode to hours (a FLAC of a constant signal is nearly free), so
decoding is bounded by time, not bytes: `decoded_chunks` refuses a file whose header announces
more than `max_s`, yields the audio as it decodes and stops with `AudioTooLong` as soon as it
passes `max_s`, and `decode_file` collects into one buffer that
grows in place, never holding the audio twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.errors import AudioDecodeError

SILENCE_PEAK = 1e-4  # about -80 dBFS: nothing a microphone would call sound


class AudioTooLong(AudioDecodeError):
    """The audio decodes to more than the caller allows; decoding stopped there."""


def decode_file(path: str | Path, rate: int = SAMPLE_RATE, max_s: float | None = None) -> np.ndarray:
    """All samples of the file's first audio stream, mono, at `rate`, float32 in [-1, 1].

    Raises AudioDecodeError naming the file and the reason for a missing, empty, non-audio,
    truncated-beyond-use or silent file, and AudioTooLong past `max_s` seconds.
    """
    buffer = _Growing()
    peak = 0.0
    for chunk in decoded_chunks(path, rate, max_s):
        buffer.append(chunk)
        peak = max(peak, float(np.max(np.abs(chunk)))) if chunk.size else peak
    samples = buffer.take()
    check_decoded(path, samples.size, peak, rate)
    return samples


def check_decoded(path: str | Path, size: int, peak: float, rate: int = SAMPLE_RATE) -> None:
    """AudioDecodeError for a file that decoded to nothing or to digital silence."""
    if size == 0:
        raise AudioDecodeError(f"{path}: no audio samples could be decoded (truncated or damaged file?)")
    if peak < SILENCE_PEAK:
        raise AudioDecodeError(f"{path}: audio is silent ({size / rate:.1f} s of digital silence)")


def decoded_chunks(path: str | Path, rate: int = SAMPLE_RATE, max_s: float | None = None) -> Iterator[np.ndarray]:
    """The file's audio as mono float32 chunks at `rate`, as it decodes; `AudioTooLong` once the
    decoded duration passes `max_s`. The caller may stop early (close the generator)."""
    import av

    path = Path(path)
    _check_file(path)
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError as exc:
        raise AudioDecodeError(f"{path}: not a recognised audio file ({_reason(exc)})") from None
    except (OSError, av.error.FFmpegError) as exc:
        raise AudioDecodeError(f"{path}: cannot open ({_reason(exc)})") from None
    limit = None if max_s is None else int(max_s * rate)
    total = 0
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path}: contains no audio stream")
        stream = container.streams.audio[0]
        _check_declared(path, container, stream, max_s)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames, None)
            except av.error.FFmpegError as exc:
                if not total:
                    raise AudioDecodeError(f"{path}: damaged audio data ({_reason(exc)})") from None
                frame = None  # a truncated tail: keep what decoded cleanly, as players do
            for out in resampler.resample(frame):
                chunk = _plane(out)
                total += chunk.size
                if limit is not None and total > limit:
                    raise AudioTooLong(f"{path}: the audio is longer than {max_s:g} s")
                yield chunk
            if frame is None:
                return


def _check_declared(path: Path, container, stream, max_s: float | None) -> None:
    """AudioTooLong at once when a compressed file says it lasts longer than `max_s`: ten hours
    announced in a FLAC header are refused before a sample is decoded. (Raw PCM is bounded by its
    bytes already, and a truncated WAV's header overstates its length.) A header that understates
    is caught by the decoded count."""
    if max_s is None or stream.codec_context.name.startswith("pcm_"):
        return
    declared = _declared(container, stream)
    if declared is not None and declared > max_s + 1.0:
        raise AudioTooLong(f"{path}: the file says its audio lasts {declared:.0f} s, longer than {max_s:g} s")


def _declared(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def declared_seconds(path: str | Path) -> float | None:
    """How long the file's header says its audio lasts, or None when it cannot tell: a hint for
    planning work (a truncated WAV overstates), never a check."""
    import av

    try:
        with av.open(str(path)) as container:
            return _declared(container, container.streams.audio[0]) if container.streams.audio else None
    except (OSError, av.error.FFmpegError):
        return None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioDecodeError(f"{path}: no such file")
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: file is empty (0 bytes)")


class _Growing:
    """One float32 buffer grown in place by a quarter at a time (`realloc`: large blocks move by
    remapping pages on Linux, not by copying), so collecting never holds the audio twice. Numpy
    zero-fills what a resize adds, so the spare room is resident too: a quarter at most (doubling
    made it up to a whole second copy)."""

    def __init__(self, capacity: int = 1 << 20):
        self._data = np.empty(capacity, np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._size + chunk.size
        if end > self._data.size:
            self._data.resize(max(end, self._data.size + self._data.size // 4), refcheck=False)
        self._data[self._size:end] = chunk
        self._size = end

    def take(self) -> np.ndarray:
        self._data.resize(self._size, refcheck=False)
        data, self._data, self._size = self._data, np.empty(0, np.float32), 0
        return data


def _plane(frame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1)


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
