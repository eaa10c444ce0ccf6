"""Per-segment recognitions -> one funasr-shaped result: texts joined, punctuated once, cut into
timed sentences at the punctuation.

This is funasr's `AutoModel.inference_with_vad` after its ASR step, followed step by step, so every
engine that recognises VAD segments itself (onnxruntime, and the torch path that batches segments
of many files) gives the sentences funasr's own pipeline gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PUNC_SYMBOLS = ("，", "。", "？", "、")  # funasr's timestamp_sentence: ids 2..5

Marks = Callable[[str], list[int]]  # punctuation: one mark per word of the joined text (1: none)


def _join_texts(texts: list[str]) -> str:
    """funasr's `_join_vad_texts`: no space between two Chinese chunks, one otherwise."""
    cleaned = [t.strip() for t in texts if t.strip()]
    joined = cleaned[0] if cleaned else ""
    for text in cleaned[1:]:
        cjk = "\u3400" <= joined[-1] <= "\u9fff" and "\u3400" <= text[0] <= "\u9fff"
        joined += ("" if cjk else " ") + text
    return joined


def combine(results: list[dict[str, Any]], segments: list[tuple[int, int]],
            marks: Marks | None) -> list[dict[str, Any]]:
    """The segments' results (in time order, times already offset) as one result with `sentence_info`."""
    text = " ".join(r["text"] for r in results)
    if not text.strip():
        return []
    times = [t for r in results for t in r.get("timestamp", [])]
    combined: dict[str, Any] = {"text": text, "timestamp": times}
    if marks is None:
        return [combined]
    punc_text = _join_texts([r["text"] for r in results])
    found = marks(punc_text)
    if len(found) != len(times) or not times:
        combined["sentence_info"] = _segment_sentences(results, segments)
    else:
        combined["sentence_info"] = _sentences(found, times, punc_text)
    return [combined]


def _segment_sentences(results: list[dict[str, Any]], segments: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """One sentence per VAD segment (funasr's fallback when punctuation and times do not align)."""
    out = []
    for result, (seg_start, seg_end) in zip(results, segments):
        if result["text"].strip():
            times = result.get("timestamp") or []
            out.append({"text": result["text"], "start": times[0][0] if times else seg_start,
                        "end": times[-1][1] if times else seg_end})
    return out


def _sentences(marks: list[int], times: list[list[int]], text: str) -> list[dict[str, Any]]:
    """funasr's `timestamp_sentence`: a sentence ends at every mark > 1; words come from `text.split()`."""
    out: list[dict[str, Any]] = []
    words = text.split()
    sentence, start, end = "", None, times[0][1]
    for i in range(max(len(marks), len(times), len(words))):
        mark = marks[i] if i < len(marks) else 1
        stamp = times[i] if i < len(times) else None
        word = words[i] if i < len(words) else None
        if start is None and stamp is not None:
            start = stamp[0]
        if word is not None:
            latin = word[0].isascii() and word[0].isalpha() or (sentence and sentence[-1].isascii()
                                                                 and sentence[-1].isalpha())
            sentence += (" " if latin else "") + word
        end = stamp[1] if stamp is not None else end
        if mark > 1:
            out.append({"text": sentence + _PUNC_SYMBOLS[mark - 2], "start": start, "end": end})
            sentence, start = "", None
    return out
