"""Incremental MP3 → 16 kHz mono float32, for audio that arrives over the network in pieces."""

from __future__ import annotations

import logging

import av
import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE

log = logging.getLogger(__name__)
ID3_HEADER = 10


class Mp3StreamDecoder:
    """Feed MP3 bytes in any chunking; get back the PCM decodable so far.

    The parser keeps partial MP3 frames between calls, so the output does not depend on where
    the byte stream was cut. A leading ID3v2 tag is skipped (the parser would hand it to the
    decoder glued to the first frame) and a damaged frame is dropped, as a player would, rather
    than losing the sentence. Decoding is CPU work: call `push`/`flush` off the event loop.
    """

    def __init__(self, rate: int = SAMPLE_RATE):
        self._codec = av.CodecContext.create("mp3", "r")
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        self._head = b""  # first bytes, held until we know whether they start an ID3 tag
        self._skip = 0  # tag bytes still to drop
        self._started = False
        self.bad_frames = 0

    def push(self, data: bytes) -> np.ndarray:
        data = self._strip_id3(data)
        return self._decode(self._codec.parse(data)) if data else _EMPTY

    def flush(self) -> np.ndarray:
        """The audio still held by the parser, decoder and resampler at the end of the stream."""
        tail = self._head if not self._started else b""
        self._started, self._head = True, b""
        pcm = [self._decode(self._codec.parse(tail)) if tail else _EMPTY]
        pcm.append(self._decode(self._codec.parse(b"")))
        pcm.append(self._to_pcm(self._codec.decode(None), flush=True))
        return np.concatenate(pcm)

    def _strip_id3(self, data: bytes) -> bytes:
        if not self._started:
            self._head += data
            if len(self._head) < ID3_HEADER:
                return b""
            data, self._head, self._started = self._head, b"", True
            if data[:3] == b"ID3":
                size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
                footer = ID3_HEADER if data[5] & 0x10 else 0
                self._skip = ID3_HEADER + size + footer
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        return data

    def _decode(self, packets: list) -> np.ndarray:
        frames = []
        for packet in packets:
            try:
                frames.extend(self._codec.decode(packet))
            except av.error.InvalidDataError:
                self.bad_frames += 1
                log.debug("dropped an undecodable MP3 frame (%d bytes)", packet.size)
        return self._to_pcm(frames)

    def _to_pcm(self, frames: list, flush: bool = False) -> np.ndarray:
        out = []
        for frame in frames:
            out.extend(self._resampler.resample(frame))
        if flush:
            out.extend(self._resampler.resample(None))
        if not out:
            return _EMPTY
        return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.float32, copy=False)


_EMPTY = np.zeros(0, dtype=np.float32)
