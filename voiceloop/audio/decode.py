"""Decode any audio file (wav, flac, mp3, ogg/opus, m4a/aac, …) to 16 kHz mono float32.

PyAV bundles FFmpeg, so no system ffmpeg is needed. Decoding blocks: call it off the event loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.errors import AudioDecodeError

SILENCE_PEAK = 1e-4  # about -80 dBFS: nothing a microphone would call sound


def decode_file(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """All samples of the file's first audio stream, mono, at `rate`, float32 in [-1, 1].

    Raises AudioDecodeError naming the file and the reason for a missing, empty, non-audio,
    truncated-beyond-use or silent file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioDecodeError(f"{path}: no such file")
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: file is empty (0 bytes)")
    samples = _decode(path, rate)
    if samples.size == 0:
        raise AudioDecodeError(f"{path}: no audio samples could be decoded (truncated or damaged file?)")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioDecodeError(f"{path}: audio is silent ({samples.size / rate:.1f} s of digital silence)")
    return samples


def _decode(path: Path, rate: int) -> np.ndarray:
    import av

    try:
        container = av.open(str(path))
    except av.error.InvalidDataError as exc:
        raise AudioDecodeError(f"{path}: not a recognised audio file ({_reason(exc)})") from None
    except (OSError, av.error.FFmpegError) as exc:
        raise AudioDecodeError(f"{path}: cannot open ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path}: contains no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(_plane(f) for f in resampler.resample(frame))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise AudioDecodeError(f"{path}: damaged audio data ({_reason(exc)})") from None
            # A truncated tail: keep what decoded cleanly, as players do.
        chunks.extend(_plane(f) for f in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _plane(frame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1)


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
