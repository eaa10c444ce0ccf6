"""A long upload decoded to a file and cut at pauses while it decodes, in bounded memory.

Holding hours of decoded audio costs 230 MB per hour at 16 kHz float32. So the samples go to a
file as they decode, the VAD reads them on the way (its probabilities cost 125 bytes per second of
audio), and each segment is read back from the file when its turn comes: memory stays a few
megabytes whatever the length. Decoding stops at the first chunk past the duration limit, and
within a chunk of the caller setting `stop`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from voiceloop.asr.segments import MAX_SEGMENT_S, Abandoned, Segment, cut_points
from voiceloop.audio.decode import check_decoded, decoded_chunks
from voiceloop.audio.frames import SAMPLE_RATE

_VAD_WINDOW = 512
_VAD_BATCH = 64 * _VAD_WINDOW  # samples given to the VAD at once (2 s)


class SpooledAudio:
    """Decoded 16 kHz float32 samples in a file; `audio[a:b]` reads that stretch back."""

    def __init__(self, path: Path, size: int):
        self._path = path
        self.size = size

    def __getitem__(self, span: slice) -> np.ndarray:
        start, stop, step = span.indices(self.size)
        if step != 1:
            raise ValueError("SpooledAudio reads contiguous spans only")
        count = max(stop - start, 0)
        with open(self._path, "rb") as f:
            data = os.pread(f.fileno(), count * 4, start * 4)
        return np.frombuffer(bytearray(data), np.float32)


def spool_and_segment(source: Path, spool: Path, max_s: float, stop: threading.Event,
                      max_segment_s: float = MAX_SEGMENT_S) -> tuple[SpooledAudio, list[Segment]]:
    """Blocking: decode `source` into `spool`, cut at pauses. Raises AudioDecodeError (AudioTooLong
    past `max_s`) and Abandoned once `stop` is set."""
    from voiceloop.audio.vad import SileroVad

    vad = SileroVad()
    probs: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    pending_size = total = 0
    peak = 0.0
    with open(spool, "wb") as out:
        for chunk in decoded_chunks(source, SAMPLE_RATE, max_s):
            if stop.is_set():
                raise Abandoned(f"stopped decoding after {total / SAMPLE_RATE:.0f} s of audio")
            out.write(chunk.tobytes())
            total += chunk.size
            peak = max(peak, float(np.max(np.abs(chunk)))) if chunk.size else peak
            pending.append(chunk)
            pending_size += chunk.size
            if pending_size >= _VAD_BATCH:
                pending, pending_size = _feed(vad, pending, probs)
    _feed(vad, pending, probs)
    check_decoded(source, total, peak)
    windows = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    return SpooledAudio(spool, total), cut_points(windows, total, max_segment_s)


def _feed(vad, pending: list[np.ndarray], probs: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Run the VAD over the whole windows pending; keep the rest (less than a window) pending."""
    samples = np.concatenate(pending) if pending else np.zeros(0, np.float32)
    whole = samples.size - samples.size % _VAD_WINDOW
    if whole:
        probs.append(vad.window_probabilities(samples[:whole]))
    rest = samples[whole:]
    return [rest], rest.size
