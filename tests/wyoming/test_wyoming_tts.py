"""Text to speech over Wyoming: the configured voice chain (Edge unreachable, so the offline voice
speaks), sentence by sentence, with the first audio out before the rest of the text is spoken."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from voiceloop.config import TtsConfig
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.fallback import create_synthesizer

from support.wyoming_peer import ServerThread, read_speech, wyoming_config

SENTENCES = ("今天天气很好。", "我们去公园散步吧！", "请帮我打开客厅的灯，然后关闭空调。")


async def espeak_duration_s(*sentences: str) -> float:
    """How long the offline voice takes to say these sentences, synthesised directly."""
    voice = EspeakSynthesizer(TtsConfig())
    total = 0
    for sentence in sentences:
        async for chunk in voice.synthesize(sentence):
            total += chunk.size
    return total / 16000


async def test_synthesize_returns_speech_as_long_as_the_text(whisper_server):
    text = "".join(SENTENCES)
    async with whisper_server.client() as client:
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="zh-CN-XiaoxiaoNeural")).event())
        speech = await read_speech(client)
    assert speech.events[0] == "audio-start" and speech.events[-1] == "audio-stop" and not speech.errors
    assert speech.formats == {(16000, 2, 1)}
    expected = await espeak_duration_s(*SENTENCES)
    assert abs(speech.duration_s - expected) < 0.05 * expected, (speech.duration_s, expected)
    assert 0.1 < speech.duration_s / len(text) < 0.6  # seconds per character of spoken Mandarin
    assert np.sqrt(np.mean(speech.samples() ** 2)) > 0.01, "silence"


async def test_streamed_text_is_spoken_sentence_by_sentence(whisper_server):
    """synthesize-start, then text as an LLM writes it: audio for sentence one comes back before the
    rest of the text is even sent; Home Assistant's compatibility `synthesize` is not spoken twice."""
    async with whisper_server.client() as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(language="zh-cn")).event())
        await client.write_event(SynthesizeChunk(text=SENTENCES[0][:3]).event())
        await client.write_event(SynthesizeChunk(text=SENTENCES[0][3:] + SENTENCES[1][:2]).event())
        first = await asyncio.wait_for(client.read_event(), timeout=20)
        assert first.type == "audio-start"
        assert (await asyncio.wait_for(client.read_event(), timeout=20)).type == "audio-chunk"
        await client.write_event(SynthesizeChunk(text=SENTENCES[1][2:] + SENTENCES[2]).event())
        await client.write_event(Synthesize(text="".join(SENTENCES)).event())
        await client.write_event(SynthesizeStop().event())
        speech = await read_speech(client, until="synthesize-stopped")
    assert speech.events[-2:] == ["audio-stop", "synthesize-stopped"] and "audio-start" not in speech.events
    expected = await espeak_duration_s(*SENTENCES)
    received = speech.duration_s + 4096 / 16000  # plus at most the one chunk read above
    assert abs(received - expected) < 0.1 * expected, (received, expected)


async def test_nothing_to_say_is_an_empty_answer(whisper_server):
    async with whisper_server.client() as client:
        await client.write_event(Synthesize(text="。！……").event())
        speech = await read_speech(client)
    assert speech.events == ["audio-start", "audio-stop"]


async def test_a_voice_that_cannot_speak_answers_with_an_error(seaco_asr, seaco_config, tmp_path, monkeypatch):
    """Edge unreachable and its only fallback, espeak-ng, not installed (not on PATH): nothing can speak."""
    cfg = wyoming_config(seaco_config)
    monkeypatch.setenv("PATH", str(tmp_path))
    with ServerThread(cfg, seaco_asr, create_synthesizer(dataclasses.replace(cfg.tts, fallback="espeak"))) as srv:
        async with srv.client() as client:
            await client.write_event(Synthesize(text="你好。").event())
            error = await client.read_event()
            assert error.type == "error" and error.data["code"] == "tts-failed", error
            assert "espeak-ng is not installed" in error.data["text"]
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="你好。").event())
            await client.write_event(SynthesizeStop().event())
            assert (await client.read_event()).data["code"] == "tts-failed"
            assert (await client.read_event()).type == "synthesize-stopped"
