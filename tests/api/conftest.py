"""Shared, expensive parts of the API tests: one tiny Paraformer engine and one server per module."""

from __future__ import annotations

import dataclasses

import pytest

from voiceloop.engines import Engines
from voiceloop.config import ApiConfig, AsrConfig, Config, TtsConfig
from voiceloop.engines.hotwords import HotwordStore
from voiceloop.engines.scheduler import EngineScheduler
from support.net import closed_port


@pytest.fixture(scope="session")
def tiny_cfg(tiny_models, tmp_path_factory) -> Config:
    """Tiny random-weight SeACo-Paraformer; Edge unreachable at once, so espeak speaks (the real fallback)."""
    folder = tmp_path_factory.mktemp("api-cfg")
    return Config(
        asr=AsrConfig(model=str(tiny_models.seaco), vad_model=str(tiny_models.vad), punc_model=str(tiny_models.punc),
                      device="cpu", threads=1, hotwords_file=str(folder / "hotwords.txt")),
        tts=TtsConfig(edge_proxy=f"http://127.0.0.1:{closed_port()}", edge_connect_timeout_s=1),
        api=ApiConfig(token_env="VOICELOOP_TEST_API_TOKEN", max_upload_mb=2))


@pytest.fixture(scope="session")
def tiny_asr(tiny_cfg):
    from voiceloop.asr import create_engine

    return create_engine(tiny_cfg.asr)


def make_engines(cfg: Config, asr, max_waiting: int = 8) -> Engines:
    from voiceloop.tts.fallback import create_synthesizer

    return Engines(asr, EngineScheduler("asr", max_waiting=max_waiting), create_synthesizer(cfg.tts),
                   HotwordStore(cfg.asr.hotwords_file))


def with_api(cfg: Config, **changes) -> Config:
    return dataclasses.replace(cfg, api=dataclasses.replace(cfg.api, **changes))
