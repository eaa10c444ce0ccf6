"""funasr's result dicts -> text and timed sentences: the one shape both Paraformer engines give.

The torch engine gets these dicts from funasr; the onnxruntime engine builds the same shape from
its own tokens (`asr.onnx.engine`) so that `asr.assemble.combine`, which follows funasr's VAD
pipeline step by step, and this parser serve both, and the same weights give the same sentences.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from voiceloop.asr.base import Sentence

log = logging.getLogger(__name__)

# A space funasr puts between two CJK characters (SeACo without punctuation emits "今 天 好").
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]) +(?=[\u3400-\u9fff\u3000-\u303f\uff00-\uffef])")


def parse_results(results: list[dict[str, Any]], duration_ms: int) -> tuple[str, tuple[Sentence, ...]]:
    """Text and timed sentences from funasr's result dicts, whichever of its forms they take:
    `sentence_info` (VAD + punctuation), per-token `timestamp` (no VAD), or text alone."""
    sentences: list[Sentence] = []
    for result in results:
        text = _clean(str(result.get("text", "")))
        if not text:
            continue
        found = [_sentence(s, duration_ms) for s in result.get("sentence_info") or []]
        found = [s for s in found if s is not None]
        if not found:
            start, end = _span(result.get("timestamp"), duration_ms)
            found = [Sentence(text, start, end)]
        sentences.extend(found)
    # On long inputs funasr's `text` and its `sentence_info` can place punctuation one token apart;
    # the text is built from the timed sentences so the two never disagree.
    return "".join(s.text for s in sentences), tuple(sentences)


def _sentence(info: dict[str, Any], duration_ms: int) -> Sentence | None:
    text = _clean(str(info.get("text") or info.get("sentence") or ""))
    if not text:
        return None
    start = _clamp(info.get("start", 0), duration_ms)
    return Sentence(text, start, max(start, _clamp(info.get("end", start), duration_ms)))


def _span(timestamps: Any, duration_ms: int) -> tuple[int, int]:
    """First token start to last token end; the whole input when the model gives no times."""
    try:
        start, end = int(timestamps[0][0]), int(timestamps[-1][1])
    except (TypeError, IndexError, ValueError):
        return 0, duration_ms
    start = _clamp(start, duration_ms)
    return start, max(start, _clamp(end, duration_ms))


def _clamp(value: Any, duration_ms: int) -> int:
    """funasr's times are ms; the CIF tail can run a few ms past the end of the audio."""
    try:
        return min(max(int(float(value)), 0), duration_ms)
    except (TypeError, ValueError):
        return 0


def _clean(text: str) -> str:
    return _CJK_GAP.sub("", text.strip())


def hotword_argument(hotwords: tuple[str, ...] | list[str]) -> str:
    """SeACo's `hotword=`: one space-separated string, duplicates and blanks dropped.

    funasr treats the whole string as a URL to fetch when it starts with "http" and as a file to
    read when it ends with ".txt", so such entries are dropped rather than passed on.
    """
    words: list[str] = []
    for word in hotwords:
        for part in word.split():
            if part.lower().startswith("http") or part.lower().endswith(".txt"):
                log.warning("hotword %r ignored: funasr would treat it as a URL or file", part)
            elif part not in words:
                words.append(part)
    return " ".join(words)


def join_words(words: list[str]) -> str:
    """Words or text pieces joined as written: a space only between two Western (ASCII) ends,
    none where Chinese meets anything."""
    out = ""
    for word in words:
        if word:
            out += (" " if out and out[-1].isascii() and word[0].isascii() else "") + word
    return out
