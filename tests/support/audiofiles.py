"""Write real audio files in several containers/codecs (PyAV's encoders) for decoding tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# suffix -> (container format, codec, sample format)
CODECS = {
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".flac": ("flac", "flac", "s16"),
    ".mp3": ("mp3", "libmp3lame", "fltp"),
    ".ogg": ("ogg", "libopus", "flt"),
    ".m4a": ("ipod", "aac", "fltp"),
}


def write_audio(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    """Encode mono float32 `samples` (already at `rate`) into `path`, duplicated to `channels`."""
    import av

    fmt, codec, sample_fmt = CODECS[path.suffix]
    layout = "mono" if channels == 1 else "stereo"
    data = np.tile(samples.astype(np.float32)[None, :], (channels, 1))
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.T.reshape(1, -1)), format="flt",
                                           layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate)
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def constant_flac(path: Path, seconds: int, rate: int = 8000) -> Path:
    """A constant signal (not silence) as FLAC: an hour at 8 kHz fits in under 700 kB, and decodes
    to 220 MiB of 16 kHz float32 (a decompression bomb)."""
    import av

    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        block = np.full((1, rate * 10), 300, np.int16)
        for _ in range(seconds // 10):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
