"""Long audio through a shared engine, one short segment per scheduler job.

The scheduler lets the spoken dialogue jump the queue, but it cannot stop an inference that has
started: the dialogue waits for at most the one segment in flight. So a long upload is cut at
pauses (silero VAD) into segments of at most `MAX_SEGMENT_S`, each recognised as its own
service job (on a GPU, several at once, gathered with other callers' into one batch: `batcher`),
and the segment transcripts are joined with their timestamps offset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from voiceloop.asr.base import Sentence, Transcript
from voiceloop.asr.results import join_words
from voiceloop.audio.frames import SAMPLE_RATE

if TYPE_CHECKING:
    from voiceloop.engines import Engines

# Longest segment, seconds. A dialogue turn arriving while a segment is recognised waits for the
# rest of it: half a segment's inference on average, so segments no longer than the dialogue's own
# utterances keep its ASR time within 1.5x of idle (bench/api.py measures it).
MAX_SEGMENT_S = 4.0
MIN_SEGMENT_S = 1.5  # no cut closer than this to the segment start
_STEP = 512  # samples per VAD window (32 ms)
_SMOOTH = 10  # windows: speech probability averaged over 320 ms to find the quietest cut point
_SPEECH = 0.5
BATCH_WINDOW = 16  # segments of one recording in flight at once when the engines batch (a GPU)


@dataclass(frozen=True, slots=True)
class Segment:
    start: int  # sample offsets into the whole recording
    end: int
    has_speech: bool


def cut_points(probs: np.ndarray, total: int, max_s: float = MAX_SEGMENT_S) -> list[Segment]:
    """Segments of at most `max_s` from one speech probability per 32 ms window, each ending at
    the quietest 320 ms before its limit."""
    per_s = SAMPLE_RATE / _STEP
    max_frames, min_frames = int(max_s * per_s), int(MIN_SEGMENT_S * per_s)
    smooth = np.convolve(probs, np.ones(_SMOOTH) / _SMOOTH, mode="same") if probs.size else probs
    segments, start = [], 0
    n = probs.size
    while start < n:
        if n - start <= max_frames:
            end = n
        else:
            window = smooth[start + min_frames: start + max_frames]
            # the quietest point; among equally quiet ones the latest, for longer segments
            end = start + min_frames + int(len(window) - 1 - np.argmin(window[::-1]))
        segments.append(Segment(start * _STEP, end * _STEP, bool((probs[start:end] >= _SPEECH).any())))
        start = end
    if segments:
        last = segments[-1]
        segments[-1] = Segment(last.start, total, last.has_speech)
    elif total:
        segments.append(Segment(0, total, True))
    return segments


def split_at_pauses(samples: np.ndarray, max_s: float = MAX_SEGMENT_S) -> list[Segment]:
    """Blocking: run it in a worker thread."""
    from voiceloop.audio.vad import SileroVad

    return cut_points(SileroVad().window_probabilities(samples), samples.size, max_s)


class Abandoned(Exception):
    """The caller went away (an HTTP client disconnected): the remaining segments were not recognised."""


async def transcribe_segments(engines: Engines, samples: np.ndarray, segments: list[Segment],
                              hotwords: tuple[str, ...] = (), abandoned: Callable[[], Awaitable[bool]] | None = None,
                              timestamps: bool = True) -> Transcript:
    """Recognise each segment with speech as its own service job; one `Transcript` for the whole.

    `abandoned` is asked before each segment (each `BATCH_WINDOW` of them when the engines batch), so
    a client that gave up stops costing engine time. The caller was let in under a bound of its own
    (`servicejobs.DecodePool`) after the scheduler's `check_room()`: the segments wait their turn
    rather than be refused half-way, which would throw away the segments done."""
    started = time.perf_counter()
    spoken = [seg for seg in segments if seg.has_speech]
    window = BATCH_WINDOW if engines.batcher is not None else 1
    parts: list[tuple[int, int, Transcript]] = []
    for first in range(0, len(spoken), window):
        if abandoned is not None and await abandoned():
            raise Abandoned(f"stopped after {len(parts)} of {len(spoken)} segments with speech")
        chunk = spoken[first: first + window]
        tasks = [asyncio.ensure_future(engines.recognise_service(samples[seg.start: seg.end], hotwords, timestamps))
                 for seg in chunk]
        try:
            found = await asyncio.gather(*tasks)
        except BaseException:  # the first failure is the caller's (as itself, not a group); the rest stop
            for task in tasks:
                task.cancel()
            raise
        parts += [(seg.start, seg.end, transcript) for seg, transcript in zip(chunk, found)]
    return join_parts(parts, samples.size, time.perf_counter() - started, engines.asr.name)


def join_parts(parts: list[tuple[int, int, Transcript]], total: int, processing_s: float,
               engine: str) -> Transcript:
    """One transcript of `total` samples from the transcripts of its stretches (start, end sample
    offsets): texts joined, sentence times moved to the whole recording's clock."""
    sentences: list[Sentence] = []
    texts: list[str] = []
    for start, end, part in parts:
        offset = start * 1000 // SAMPLE_RATE
        if part.text:
            texts.append(part.text)
        sentences += [Sentence(s.text, s.start_ms + offset, s.end_ms + offset) for s in part.sentences]
        if part.text and not part.sentences:
            sentences.append(Sentence(part.text, offset, end * 1000 // SAMPLE_RATE))
    last = parts[-1][2] if parts else None
    return Transcript(text=join_words(texts), sentences=tuple(sentences), duration_s=total / SAMPLE_RATE,
                      processing_s=processing_s, engine=last.engine if last else engine,
                      model=last.model if last else "")
