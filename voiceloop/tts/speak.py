"""Text to speech the one way every caller uses (the dialogue, `/v1/audio/speech`, Wyoming, `say`).

The text is cut into sentences (the first one may end at a comma, `dialogue.first_clause_chars`,
so the first sound comes early), each is cleaned for speech (`textclean.speakable`), the empty
ones are skipped, and each is synthesized as soon as it is complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np

from voiceloop.tts.base import Synthesizer
from voiceloop.tts.sentences import SentenceSplitter
from voiceloop.tts.textclean import speakable


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str  # as written: what the dialogue's history keeps
    spoken: str  # what the voice is given: markup, code, URLs and emoji taken out


class SpeakableSentences:
    """Streamed text in (`push` deltas, then `flush`), sentences with something to say out."""

    def __init__(self, first_clause_chars: int):
        self._splitter = SentenceSplitter(first_clause_chars)

    def push(self, text: str) -> list[Sentence]:
        return _speakable(self._splitter.push(text))

    def flush(self) -> list[Sentence]:
        return _speakable(self._splitter.flush())


def speakable_sentences(text: str, first_clause_chars: int) -> list[Sentence]:
    """A whole text's sentences with something to say; [] when there is nothing to say in it."""
    sentences = SpeakableSentences(first_clause_chars)
    return sentences.push(text) + sentences.flush()


async def sentence_audio(tts: Synthesizer, sentence: Sentence) -> AsyncIterator[np.ndarray]:
    """One sentence's audio as the voice makes it, empty chunks left out; the voice's stream is
    closed however the caller stops (close this generator with `aclosing`)."""
    async with aclosing(tts.synthesize(sentence.spoken)) as chunks:
        async for chunk in chunks:
            if chunk.size:
                yield chunk


def _speakable(sentences: list[str]) -> list[Sentence]:
    return [Sentence(text, spoken) for text in sentences if (spoken := speakable(text))]
