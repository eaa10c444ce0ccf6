"""Is a transcript the assistant's own voice come back? The last line of defence against self-hearing.

The echo cancellers keep the reply out of the microphone almost always, but not on every desk: a
speaker whose delay or clock wanders, a room louder than the canceller has learnt, a tail that
arrives after the echo window closed. What gets through is recognised as the reply's own words
("分析", "如果你想去") or a garbled version of them. So an utterance heard while the reply was
audible (or just after) is compared with what the speaker played around it, and dropped when it
repeats it.

The comparison is by sound, not by characters: both texts are written as toneless pinyin (numbers
first read out as the voice read them), with the initials and finals that recognisers confuse
most folded together (zh/z, ch/c, sh/s, n/l, -ng/-n), so a homophone or a Traditional character
still matches. A transcript is echo when some stretch of the played text is within a third of its
syllables in edit distance (one syllable off in three): an approximate substring match, so an
utterance that repeats only part of a long reply still counts, while the user's own words, even
about the same topic, rarely line up syllable by syllable for more than a word or two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from voiceloop.tts.normalize import for_speech

_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z]+|\d+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_MAX_SYLLABLES = 200  # of either text: the comparison is O(n m) on the event loop
_ERRORS_PER_SYLLABLE = 1 / 3


@dataclass(frozen=True, slots=True)
class EchoMatch:
    """The stretch of played text a transcript repeats, and how many syllables differ."""

    played: str
    distance: int
    syllables: int


def syllables(text: str) -> list[str]:
    """`text` as folded toneless pinyin syllables (Latin words and digit runs as they are)."""
    out: list[str] = []
    for run in _TOKENS.findall(for_speech(text)):
        if _HAN.match(run):
            out += [_fold(s) for s in lazy_pinyin(run, style=Style.NORMAL, errors="ignore")]
        else:
            out.append(run.lower())
    return out


def _fold(syllable: str) -> str:
    for long, short in _INITIALS:
        if syllable.startswith(long) and syllable != long:
            syllable = short + syllable[len(long):]
            break
    if syllable.endswith("ng") and len(syllable) > 2 and syllable[-3] in "aei":
        syllable = syllable[:-1]
    return syllable


def match_echo(transcript: str, played: str) -> EchoMatch | None:
    """The match when `transcript` repeats (part of) `played` closely enough to be its echo, else None."""
    heard = syllables(transcript)[:_MAX_SYLLABLES]
    source = syllables(played)[-_MAX_SYLLABLES:]
    if not heard or not source:
        return None
    distance, end = _best_substring(heard, source)
    if distance > int(len(heard) * _ERRORS_PER_SYLLABLE):
        return None
    return EchoMatch(" ".join(source[max(end - len(heard), 0):end]), distance, len(heard))


def _best_substring(needle: list[str], hay: list[str]) -> tuple[int, int]:
    """Least edit distance between `needle` and any stretch of `hay`, and where that stretch ends.

    Sellers' approximate substring matching: edit distance whose first row is all zeros, so the
    stretch may start anywhere in `hay` for free, and whose minimum over the last row lets it end
    anywhere."""
    prev = [0] * (len(hay) + 1)
    for i, token in enumerate(needle, 1):
        row = [i] + [0] * len(hay)
        for j, other in enumerate(hay, 1):
            row[j] = min(prev[j - 1] + (token != other), prev[j] + 1, row[j - 1] + 1)
        prev = row
    end = min(range(len(prev)), key=lambda j: (prev[j], -j))  # the latest of the best: the stretch ends on a match
    return prev[end], end
