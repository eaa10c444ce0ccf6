"""Fixed phrases: made once at start-up, then played from memory even when the voice is gone."""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import aclosing

import numpy as np
import pytest

from voiceloop.config import DialogueConfig, TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.phrases import PHRASES, CachedPhrases, phrase_texts


async def speak(synth, text: str) -> np.ndarray:
    async with aclosing(synth.synthesize(text)) as chunks:
        parts = [c async for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


@pytest.fixture
def espeak_link(tmp_path):
    """espeak-ng reached through a link the test can delete: the voice vanishing at run time."""
    link = tmp_path / "espeak-ng"
    os.symlink(shutil.which("espeak-ng"), link)
    return link


async def test_phrases_play_from_memory_after_the_voice_is_gone(espeak_link):
    cache = CachedPhrases(EspeakSynthesizer(TtsConfig(), binary=str(espeak_link)), phrase_texts(DialogueConfig()))
    assert await cache.prepare() == []
    made = {key: cache.audio(key) for key in PHRASES["zh"]}
    assert all(a is not None and a.size > 16000 * 0.5 for a in made.values())
    espeak_link.unlink()
    for key, text in PHRASES["zh"].items():
        np.testing.assert_array_equal(await speak(cache, text), made[key])
    with pytest.raises(TtsError, match="not installed"):
        await speak(cache, "这句话不在缓存里。")  # anything else still goes to the (now broken) voice


async def test_configured_apology_replaces_the_built_in_one(espeak_link):
    texts = phrase_texts(DialogueConfig(language="en", apology="Sorry, my brain is offline."))
    assert texts["apology"] == "Sorry, my brain is offline." and texts["reset"] == PHRASES["en"]["reset"]
    cache = CachedPhrases(EspeakSynthesizer(TtsConfig(espeak_voice="en"), binary=str(espeak_link)), texts)
    await cache.prepare()
    assert cache.audio("apology").size > 16000 * 0.5
    assert cache.audio("nonexistent") is None


async def test_a_phrase_that_cannot_be_made_is_reported_and_made_later(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="voiceloop.tts.phrases")
    cache = CachedPhrases(EspeakSynthesizer(TtsConfig(), binary=str(tmp_path / "missing")), {"reset": "好的。"})
    assert await cache.prepare() == ["reset"]
    assert cache.audio("reset") is None
    assert "could not prepare the reset phrase" in caplog.text
