"""Render a `Transcript` as txt, json, srt or tsv."""

from __future__ import annotations

import json
from pathlib import Path

from voiceloop.asr.base import Sentence, Transcript

FORMATS = ("txt", "json", "srt", "tsv")


def render(transcript: Transcript, fmt: str, source: Path | None = None) -> str:
    if fmt == "txt":
        return transcript.text + "\n"
    if fmt == "json":
        return to_json(transcript, source) + "\n"
    if fmt == "srt":
        return to_srt(transcript_cues(transcript))
    if fmt == "tsv":
        rows = ["start_ms\tend_ms\ttext"]
        rows += [f"{s.start_ms}\t{s.end_ms}\t{s.text}" for s in transcript_cues(transcript)]
        return "\n".join(rows) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def to_json(transcript: Transcript, source: Path | None = None) -> str:
    doc = {
        "file": str(source) if source else None,
        "text": transcript.text,
        "sentences": [{"text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms} for s in transcript.sentences],
        "duration_s": round(transcript.duration_s, 3),
        "processing_s": round(transcript.processing_s, 3),
        "real_time_factor": round(transcript.rtf, 4),
        "confidence": transcript.confidence,
        "engine": transcript.engine,
        "model": transcript.model,
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def transcript_cues(transcript: Transcript) -> tuple[Sentence, ...]:
    """Sentence cues; a transcript without timings becomes one cue over the whole file."""
    if transcript.sentences:
        return transcript.sentences
    if not transcript.text:
        return ()
    return (Sentence(transcript.text, 0, int(transcript.duration_s * 1000)),)


def to_srt(cues: tuple[Sentence, ...]) -> str:
    blocks = []
    for i, cue in enumerate(cues, 1):
        blocks.append(f"{i}\n{_srt_time(cue.start_ms)} --> {_srt_time(max(cue.end_ms, cue.start_ms))}\n{cue.text}\n")
    return "\n".join(blocks)


def _srt_time(ms: int) -> str:
    h, rest = divmod(max(ms, 0), 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def to_vtt(cues: tuple[Sentence, ...]) -> str:
    blocks = ["WEBVTT\n"]
    for cue in cues:
        start, end = _srt_time(cue.start_ms), _srt_time(max(cue.end_ms, cue.start_ms))
        blocks.append(f"{start.replace(',', '.')} --> {end.replace(',', '.')}\n{cue.text}\n")
    return "\n".join(blocks)
