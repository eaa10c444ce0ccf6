"""Whisper on a stretch it cannot read: a bounded answer, so a shared engine is never held for long."""

from __future__ import annotations

import numpy as np

from voiceloop.asr.whisper import WhisperEngine, token_budget
from voiceloop.config import AsrConfig, WhisperConfig


def test_silence_that_whisper_fills_with_repeats_writes_no_more_than_its_budget(whisper_base_dir):
    """80 ms of digital silence (an upload's last segment) sends Whisper base into a loop of one
    character repeated: 223 characters in 21 s on one thread without the budget, during which the
    dialogue waited for the engine."""
    engine = WhisperEngine(AsrConfig(engine="whisper", device="cpu", threads=1,
                                     whisper=WhisperConfig(model=str(whisper_base_dir), beam_size=1)))
    for hotwords in ((), ("停滞", "交易")):
        text = engine.transcribe(np.zeros(1280, np.float32), hotwords).text
        # a Mandarin token is at most a two-character word
        assert len(text) <= 2 * token_budget(0.08, prompted=bool(hotwords)), text


def test_the_budget_leaves_room_for_fast_speech_and_for_a_hotword_prompt():
    assert token_budget(4.0, prompted=False) >= 4 * 7 * 2  # 7 characters a second, 2 tokens each
    assert token_budget(30.0, prompted=False) <= 448 - 8
    assert token_budget(30.0, prompted=True) + 448 // 2 + 4 <= 448  # faster-whisper refuses a longer total
