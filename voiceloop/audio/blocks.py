"""A file decoded as blocks of a few minutes, cut at quiet moments: hours of audio in bounded memory.

Batch transcription used to hold a whole file as float32 (230 MB an hour at 16 kHz) and the
engine's features beside it, so a three-hour recording needed gigabytes. Each block here is at most
`BLOCK_S` plus the audio decoded past it, cut at the quietest 100 ms of its last `_SEARCH_S`
seconds, where a pause between sentences almost always is; the engine's own VAD then segments each
block as it would the whole file. A file shorter than a block is one block, so its transcript is
exactly what it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceloop.audio.decode import check_decoded, decoded_chunks
from voiceloop.audio.frames import SAMPLE_RATE

BLOCK_S = 300.0
_SEARCH_S = 30.0
_WINDOW = SAMPLE_RATE // 10  # the quietness of a cut is measured over 100 ms


@dataclass(frozen=True, slots=True)
class Block:
    start: int  # offset of the first sample in the whole file
    samples: np.ndarray
    last: bool


def decoded_blocks(path: str | Path, block_s: float = BLOCK_S) -> Iterator[Block]:
    """The file's audio (16 kHz mono float32) as consecutive blocks. Raises AudioDecodeError as
    `decode_file` does; a file that is silent or empty throughout raises before its last block."""
    block = int(block_s * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    size = start = total = 0
    peak = 0.0
    for chunk in decoded_chunks(path):
        pending.append(chunk)
        size += chunk.size
        total += chunk.size
        peak = max(peak, float(np.max(np.abs(chunk)))) if chunk.size else peak
        if size >= block:
            samples = np.concatenate(pending)
            cut = quietest_cut(samples[:block], int(_SEARCH_S * SAMPLE_RATE))
            yield Block(start, samples[:cut], last=False)
            rest = samples[cut:].copy()  # not a view, so `samples` is freed with the block
            pending, size, start = [rest], rest.size, start + cut
    check_decoded(path, total, peak)
    yield Block(start, np.concatenate(pending) if pending else np.zeros(0, np.float32), last=True)


def quietest_cut(samples: np.ndarray, search: int) -> int:
    """The middle of the quietest 100 ms window within the last `search` samples (the latest of
    equally quiet ones, for longer blocks)."""
    tail = samples[max(samples.size - search, 0):]
    windows = tail.size // _WINDOW
    if windows == 0:
        return samples.size
    energy = np.square(tail[tail.size - windows * _WINDOW:]).reshape(windows, _WINDOW).sum(axis=1)
    k = windows - 1 - int(np.argmin(energy[::-1]))
    return samples.size - (windows - k) * _WINDOW + _WINDOW // 2
