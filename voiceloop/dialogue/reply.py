"""Speaking a reply while the LLM is still writing it: its stream is split into sentences in one
task while another cleans, synthesizes and queues them, so the first sound comes after the first
sentence (or clause, `dialogue.first_clause_chars`), not after the whole answer.

The marks of the turn record (`llm_first_token`, `first_sentence`, `tts_first_audio`,
`playback_start`, `playback_end`) are set here, where those moments happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import numpy as np

from voiceloop.dialogue.playout import Playout
from voiceloop.dialogue.turnlog import TurnRecord
from voiceloop.llm.base import LanguageModel
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.speak import Sentence, SpeakableSentences, sentence_audio, speakable_sentences


class ReplySpeaker:
    """Turns LLM messages (or one fixed phrase) into audio in a turn's `Playout`."""

    def __init__(self, llm: LanguageModel, tts: Synthesizer, first_clause_chars: int):
        self._llm = llm
        self._tts = tts
        self._first_clause_chars = first_clause_chars

    async def stream(self, messages: list[dict], playout: Playout, record: TurnRecord,
                     on_sound: Callable[[], None]) -> None:
        """The LLM's answer to `messages`, spoken sentence by sentence; `on_sound` once, at its first audio."""
        sentences: asyncio.Queue[Sentence | None] = asyncio.Queue(maxsize=8)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._sentences_from_llm(messages, record, sentences))
            group.create_task(self._speak(_drain(sentences), playout, record, on_sound))

    async def say(self, text: str, playout: Playout, record: TurnRecord, on_sound: Callable[[], None]) -> None:
        """One of the assistant's own phrases: heard, but never part of the conversation history."""
        await self._speak(_each(speakable_sentences(text, self._first_clause_chars)), playout, record, on_sound,
                          history=False)

    async def _sentences_from_llm(self, messages: list[dict], record: TurnRecord,
                                  out: asyncio.Queue[Sentence | None]) -> None:
        splitter = SpeakableSentences(self._first_clause_chars)
        async with contextlib.aclosing(self._llm.stream(messages)) as deltas:
            async for delta in deltas:
                record.mark("llm_first_token")
                for sentence in splitter.push(delta):
                    record.mark("first_sentence")
                    await out.put(sentence)
        for sentence in splitter.flush():
            record.mark("first_sentence")
            await out.put(sentence)
        await out.put(None)

    async def _speak(self, sentences: AsyncIterator[Sentence], playout: Playout, record: TurnRecord,
                     on_sound: Callable[[], None], history: bool = True) -> None:
        async for sentence in sentences:
            playout.begin(sentence.text if history else "")
            await self._synthesize(sentence, playout, record, on_sound)
            playout.end_sentence()
        await playout.drain()
        if playout.heard_samples():
            record.mark("playback_end")

    async def _synthesize(self, sentence: Sentence, playout: Playout, record: TurnRecord,
                          on_sound: Callable[[], None]) -> None:
        """One sentence into the playout; a TTS failure raises and so ends the turn in the apology."""
        async with contextlib.aclosing(sentence_audio(self._tts, sentence)) as chunks:
            async for chunk in chunks:
                record.mark("tts_first_audio")
                if "playback_start" not in record.marks:
                    await playout.released()
                    on_sound()
                    record.mark("playback_start")
                await playout.add(chunk.astype(np.float32, copy=False))


async def _each(sentences: list[Sentence]) -> AsyncIterator[Sentence]:
    for sentence in sentences:
        yield sentence


async def _drain(queue: asyncio.Queue[Sentence | None]) -> AsyncIterator[Sentence]:
    while (item := await queue.get()) is not None:
        yield item
