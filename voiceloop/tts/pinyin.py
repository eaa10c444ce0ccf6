"""Chinese text → tone-numbered pinyin for espeak-ng's `cmn-latn-pinyin` voice.

espeak-ng reads Hanzi through its English-pinyin rules badly, but reads tone-numbered pinyin
("ni3 hao3") well, and plain integers as Chinese quantities. What it gets wrong is fixed here
first: decimals, percentages, years, clock times. Punctuation becomes "," or "." so the voice
pauses where the sentence does.
"""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

DIGITS = "零一二三四五六七八九"
CLAUSE_PAUSE = frozenset("，、；：,;:—-～~")
SENTENCE_PAUSE = frozenset("。！？…!?.")
_SYLLABLE = re.compile(r"[a-zv]+[1-5]")


def _digits(s: str) -> str:
    return "".join(DIGITS[int(d)] for d in s)


def _numbers(text: str) -> str:
    """Rewrite the number forms espeak-ng misreads into Hanzi it (via pypinyin) reads right."""
    text = re.sub(r"(\d{4})年", lambda m: _digits(m.group(1)) + "年", text)
    text = re.sub(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)", lambda m: f"{int(m.group(1))}点{int(m.group(2))}分", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*[%％]", r"百分之\1", text)
    text = re.sub(r"(\d+)\.(\d+)", lambda m: f"{m.group(1)}点{_digits(m.group(2))}", text)
    return re.sub(r"(?<![0-9A-Za-z])-(?=\d)", "负", text)


def to_pinyin(text: str) -> str:
    """"今天25度，很好。" -> "jin1 tian1 25 du4 , hen3 hao3 ." (neutral tone as 5)."""
    out: list[str] = []
    for token in lazy_pinyin(_numbers(text), style=Style.TONE3, neutral_tone_with_five=True):
        if _SYLLABLE.fullmatch(token):
            out.append(token)
            continue
        word = []
        for ch in token:
            if ch in SENTENCE_PAUSE or ch in CLAUSE_PAUSE:
                word.append(" . " if ch in SENTENCE_PAUSE else " , ")
            elif ch.isascii() and ch.isalnum():
                word.append(ch)
            else:
                word.append(" ")
        out.append("".join(word))
    return " ".join(" ".join(out).split())
