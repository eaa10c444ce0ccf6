"""Character error rate for Chinese: Simplified, no punctuation or spaces, edit distance / reference length."""

from __future__ import annotations

import unicodedata


def normalise(text: str) -> str:
    import opencc

    text = opencc.OpenCC("t2s").convert(text)
    return "".join(ch for ch in text.lower() if not (unicodedata.category(ch)[0] in "PZS" or ch.isspace()))


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(hypothesis: str, reference: str) -> float:
    ref = normalise(reference)
    return edit_distance(normalise(hypothesis), ref) / max(len(ref), 1)
