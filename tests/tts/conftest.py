"""Fixtures shared by the voice tests: Whisper base to read synthesised speech back."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def whisper(whisper_base_dir):
    from voiceloop.asr.whisper import WhisperEngine
    from voiceloop.config import AsrConfig, WhisperConfig

    return WhisperEngine(AsrConfig(engine="whisper", device="cpu", threads=2,
                                   whisper=WhisperConfig(model=str(whisper_base_dir))))
