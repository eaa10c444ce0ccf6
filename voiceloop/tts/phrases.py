"""The assistant's fixed phrases, synthesised once at start-up and replayed from memory.

The apology is what the user hears when something failed, so it must not depend on the thing
that failed: `CachedPhrases` wraps the voice chain, makes every phrase with it at start-up, and
afterwards plays a phrase from memory (at once, even with every voice down); any other text goes
to the chain as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing

import numpy as np

from voiceloop.config import DialogueConfig
from voiceloop.errors import TtsError
from voiceloop.tts.base import Synthesizer, for_service
from voiceloop.tts.textclean import speakable

log = logging.getLogger(__name__)

# The assistant's own phrases, by `dialogue.language`.
PHRASES = {
    "zh": {"apology": "抱歉，我现在没法回答，请稍后再试。", "reset": "好的，我们重新开始。",
           "waiting_microphone": "正在等待麦克风。"},
    "en": {"apology": "Sorry, I can't answer right now. Please try again in a moment.", "reset": "Okay, let's start over.",
           "waiting_microphone": "Waiting for the microphone."},
}


def phrase_texts(dialogue: DialogueConfig) -> dict[str, str]:
    """The phrases for `dialogue.language`, with `dialogue.apology` in place of the built-in one when set."""
    texts = dict(PHRASES[dialogue.language])
    if dialogue.apology:
        texts["apology"] = dialogue.apology
    return texts


class CachedPhrases:
    """`Synthesizer` that replays the audio of known phrases and passes any other text to `tts`."""

    def __init__(self, tts: Synthesizer, texts: Mapping[str, str]):
        self.name = tts.name
        self._tts = tts
        self._texts = dict(texts)
        self._audio: dict[str, np.ndarray] = {}  # by the phrase's spoken text

    @property
    def last_engine(self) -> str:
        return getattr(self._tts, "last_engine", self._tts.name)

    def for_service(self) -> Synthesizer:
        """The phrases are the dialogue's; service callers get the chain behind them."""
        return for_service(self._tts)

    async def prepare(self) -> list[str]:
        """Synthesise every phrase now; returns the keys that could not be made (logged)."""
        missing = []
        for key, text in self._texts.items():
            started = time.perf_counter()
            try:
                async with aclosing(self._tts.synthesize(text)) as chunks:
                    audio = [c async for c in chunks]
            except TtsError as exc:
                log.warning("could not prepare the %s phrase %r; it will be synthesised when needed: %s", key, text, exc)
                missing.append(key)
                continue
            self._audio[speakable(text)] = np.concatenate(audio) if audio else np.zeros(0, np.float32)
            log.debug("prepared the %s phrase with %s in %.2f s", key, self.last_engine, time.perf_counter() - started)
        return missing

    def audio(self, key: str) -> np.ndarray | None:
        """The cached audio of phrase `key` ("apology", "reset", "waiting_microphone"), if it was made."""
        text = self._texts.get(key)
        return None if text is None else self._audio.get(speakable(text))

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        cached = self._audio.get(speakable(text))
        if cached is not None:
            if cached.size:
                yield cached
            return
        async with aclosing(self._tts.synthesize(text)) as chunks:
            async for chunk in chunks:
                yield chunk
