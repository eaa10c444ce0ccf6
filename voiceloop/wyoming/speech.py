"""Text in, Wyoming audio events out, sentence by sentence, for `synthesize` and its streaming form.

The text is cut with the dialogue's own sentence splitter and each sentence is spoken as soon as it
is complete, so the first `audio-chunk` leaves after the first sentence is synthesised, not after
the whole text; with `synthesize-chunk` text that is while the LLM is still writing the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.errors import TtsError
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.speak import Sentence, SpeakableSentences, sentence_audio
from voiceloop.wyoming.pcm import to_pcm16

log = logging.getLogger(__name__)

WIDTH, CHANNELS = 2, 1
CHUNK_SAMPLES = 4096  # 256 ms per audio-chunk event


class SpeechStream:
    """One answer: `push` text as it arrives, then `finish`; writes audio-start once, chunks, audio-stop."""

    def __init__(self, tts: Synthesizer, write: Callable[[Event], Awaitable[None]], first_clause_chars: int):
        self._tts = tts
        self._write = write
        self._splitter = SpeakableSentences(first_clause_chars)
        self._started = False
        self._failures: list[str] = []
        self.samples = 0
        self.chars = 0  # of text pushed so far

    async def push(self, text: str) -> None:
        self.chars += len(text)
        for sentence in self._splitter.push(text):
            await self._speak(sentence)

    async def finish(self) -> None:
        """Speak what is left and close the audio; raise `TtsError` if nothing at all could be spoken."""
        for sentence in self._splitter.flush():
            await self._speak(sentence)
        if not self.samples and self._failures:
            raise TtsError(f"could not synthesize the text: {self._failures[0]}")
        await self._start()
        await self._write(AudioStop().event())

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._write(AudioStart(rate=SAMPLE_RATE, width=WIDTH, channels=CHANNELS).event())

    async def _speak(self, sentence: Sentence) -> None:
        try:
            async with aclosing(sentence_audio(self._tts, sentence)) as chunks:
                async for chunk in chunks:
                    for at in range(0, chunk.size, CHUNK_SAMPLES):
                        await self._send(chunk[at:at + CHUNK_SAMPLES])
        except TtsError as exc:
            log.error("wyoming: could not speak %r: %s", sentence.spoken[:30], exc)
            self._failures.append(str(exc))

    async def _send(self, samples) -> None:
        if not samples.size:
            return
        await self._start()
        self.samples += samples.size
        await self._write(AudioChunk(rate=SAMPLE_RATE, width=WIDTH, channels=CHANNELS,
                                     audio=to_pcm16(samples)).event())
