"""Encode 16 kHz float32 chunks to wav, mp3, pcm, opus or flac as they arrive (PyAV), for streaming.

`speed` changes the tempo, not the pitch (FFmpeg's atempo). Output is 24 kHz mono as OpenAI's speech endpoint sends it (`pcm` is raw 16-bit little-endian).
The muxer writes into a sink that is emptied after every chunk, so bytes leave as soon as the
encoder produces them; containers whose header needs the final length (wav) get the
"unknown length" values a streaming muxer writes, which players accept.
"""

from __future__ import annotations

import av
import numpy as np

OUT_RATE = 24_000
FORMATS = {  # response_format -> (container, codec, media type)
    "wav": ("wav", "pcm_s16le", "audio/wav"),
    "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
    "opus": ("ogg", "libopus", "audio/ogg"),
    "flac": ("flac", "flac", "audio/flac"),
    "pcm": (None, None, "audio/pcm"),
}


class _Sink:
    """A write-only, non-seekable file object the muxer writes into."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class _Tempo:
    """FFmpeg's `atempo` (speed without changing pitch); it takes 0.5-100 per stage, so chain two below 0.5."""

    def __init__(self, speed: float, rate: int):
        import av.filter

        self._graph = av.filter.Graph()
        node = self._graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", channels=1)
        for factor in ([speed ** 0.5] * 2 if speed < 0.5 else [speed]):
            stage = self._graph.add("atempo", f"{factor:.6f}")
            node.link_to(stage)
            node = stage
        node.link_to(self._graph.add("abuffersink"))
        self._graph.configure()

    def process(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        self._graph.push(frame)
        out = []
        while True:
            try:
                out.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


class StreamEncoder:
    def __init__(self, fmt: str, in_rate: int = 16_000, speed: float = 1.0):
        container, codec, self.media_type = FORMATS[fmt]
        self._in_rate = in_rate
        self._pts = 0
        self._sink = _Sink()
        self._tempo = _Tempo(speed, in_rate) if abs(speed - 1.0) > 1e-3 else None
        if container is None:
            self._out = self._stream = None
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OUT_RATE)
            return
        self._out = av.open(self._sink, mode="w", format=container)
        self._stream = self._out.add_stream(codec, rate=OUT_RATE, layout="mono")
        self._resampler = av.AudioResampler(format=self._stream.format.name, layout="mono", rate=OUT_RATE,
                                            frame_size=self._stream.codec_context.frame_size or None)

    def encode(self, chunk: np.ndarray) -> bytes:
        """Bytes ready to send after `chunk` (float32, [-1, 1]); may be empty while the codec buffers."""
        if chunk.size == 0:
            return b""
        frame = av.AudioFrame.from_ndarray(np.clip(chunk, -1, 1).astype(np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.sample_rate = self._in_rate
        frame.pts = self._pts
        self._pts += chunk.size
        return self._mux(self._resample([frame] if self._tempo is None else self._tempo.process(frame)))

    def finish(self) -> bytes:
        """Flush the resampler, encoder and container trailer; the encoder is unusable afterwards."""
        tail = self._resample(self._tempo.process(None)) if self._tempo is not None else []
        data = self._mux(tail + self._resampler.resample(None))
        if self._out is not None:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            self._out.close()
        return data + self._sink.take()

    def _resample(self, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        return [out for f in frames for out in self._resampler.resample(f)]

    def _mux(self, frames: list[av.AudioFrame]) -> bytes:
        if self._out is None:
            return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)
        for f in frames:
            f.pts = None
            for packet in self._stream.encode(f):
                self._out.mux(packet)
        return self._sink.take()
