"""Speech to text over Wyoming, with the `wyoming` package's own client against the real server.

Whisper base recognises real Mandarin recordings streamed in 20 ms chunks, in whatever format the
client has; the answer comes in the script of the requested variant. The tiny random-weight
SeACo-Paraformer shows that hotwords given over the protocol reach the model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import numpy as np
import opencc
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event
from wyoming.info import Describe, Info

from voiceloop.audio.decode import decode_file

from support.cer import cer
from support.recordings import ZH, read_manifest
from support.wyoming_peer import ServerThread, pcm16, send_audio, wyoming_config

CLIP_1 = "aishell1_BAC009S0724W0121.wav"  # 广州市房地产中介协会分析 (4.3 s)
CLIP_2 = "aishell1_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况 (4.2 s)
HOTWORD_CLIP = "funasr_asr_example.wav"
T2S = opencc.OpenCC("t2s").convert


def recording(name: str, rate: int = 16000, channels: int = 1) -> np.ndarray:
    """The recording at `rate`, with `channels` channels (the others quieter copies), float32."""
    mono = decode_file(ZH / name, rate=rate)
    if channels == 1:
        return mono
    return np.stack([mono * (1.0 - 0.2 * c) for c in range(channels)], axis=1)


def pcm(samples: np.ndarray, width: int) -> bytes:
    if width == 2:
        return pcm16(samples)
    if width == 3:
        ints = (np.clip(samples, -1, 1) * 8388607).astype("<i4").tobytes()
        return b"".join(ints[i:i + 3] for i in range(0, len(ints), 4))
    raise ValueError(width)


async def transcript_of(srv, audio: bytes, rate: int, width: int = 2, channels: int = 1, **request) -> Event:
    async with srv.client() as client:
        await send_audio(client, audio, rate, width, channels, transcribe=Transcribe(**request))
        return await client.read_event()


async def test_describe_lists_the_engine_its_languages_and_the_voice(whisper_server):
    async with whisper_server.client() as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await client.read_event())
    (asr,) = info.asr
    (model,) = asr.models
    assert model.name == whisper_server.cfg.asr.whisper.model and model.installed
    assert {"zh", "zh-cn", "zh-tw", "zh-hk"} <= set(model.languages)
    assert model.attribution.name and not asr.supports_transcript_streaming
    (tts,) = info.tts
    (voice,) = tts.voices
    assert voice.name == "zh-CN-XiaoxiaoNeural" and voice.languages[0] == "zh-cn"
    assert {"zh-cn", "zh-tw", "zh-hk"} <= set(voice.languages) and "espeak" in voice.description
    assert tts.supports_synthesize_streaming


@pytest.mark.parametrize("name, language, rate, width, channels", [
    (CLIP_1, "zh-cn", 16000, 2, 1),   # what Home Assistant sends
    (CLIP_2, "zh-tw", 22050, 2, 2),   # a satellite's 22.05 kHz stereo
    (CLIP_1, "zh-hk", 44100, 3, 1),   # 24-bit at 44.1 kHz
])
async def test_a_recording_streamed_in_20ms_chunks_comes_back_in_the_variants_script(
        whisper_server, name, language, rate, width, channels):
    audio = pcm(recording(name, rate, channels), width)
    event = await transcript_of(whisper_server, audio, rate, width, channels, language=language)
    assert Transcript.is_type(event.type), event
    transcript = Transcript.from_event(event)
    text = transcript.text
    assert transcript.language == language
    assert cer(text, read_manifest()[name]) <= 0.35, text
    if language == "zh-cn":
        assert T2S(text) == text, f"Traditional characters in a zh-cn transcript: {text}"
    else:
        assert T2S(text) != text, f"no Traditional characters in a {language} transcript: {text}"
        assert opencc.OpenCC("s2tw" if language == "zh-tw" else "s2hk").convert(text) == text, text


async def test_several_clients_at_once_each_get_their_own_transcript(whisper_server):
    refs = read_manifest()
    jobs = [(CLIP_1, "zh-cn"), (CLIP_2, "zh-tw")]

    async def one(name, language):
        return await transcript_of(whisper_server, pcm16(recording(name)), 16000, language=language)

    async def describe_meanwhile():
        await asyncio.sleep(0.5)
        async with whisper_server.client() as client:
            await client.write_event(Describe().event())
            return await client.read_event()

    *results, info = await asyncio.gather(*(one(n, lang) for n, lang in jobs), describe_meanwhile())
    assert info.type == "info"
    for (name, language), event in zip(jobs, results):
        assert event.type == "transcript", event
        assert event.data["language"] == language and cer(event.data["text"], refs[name]) <= 0.35, event.data
    assert T2S(results[0].data["text"]) == results[0].data["text"]
    assert T2S(results[1].data["text"]) != results[1].data["text"]


@pytest.fixture(scope="module")
def hotword_audio() -> tuple[bytes, np.ndarray]:
    """16-bit audio as sent, and the very samples the server decodes from it."""
    audio = pcm16(recording(HOTWORD_CLIP))
    return audio, np.frombuffer(audio, "<i2").astype(np.float32) / 32768


def _segmented(asr, samples: np.ndarray, hotwords: tuple[str, ...] = ()) -> str:
    """What the server answers: the stream cut at pauses, each segment recognised on its own."""
    from voiceloop.asr.segments import split_at_pauses

    return "".join(asr.transcribe(samples[s.start:s.end], hotwords, timestamps=False).text
                   for s in split_at_pauses(samples) if s.has_speech)


async def test_hotwords_over_the_protocol_reach_the_model(seaco_server, seaco_asr, hotword_audio):
    audio, samples = hotword_audio
    plain = T2S(_segmented(seaco_asr, samples))
    biased = T2S(_segmented(seaco_asr, samples, ("魔搭", "达摩院")))
    assert plain != biased, "the fixture model must react to these hotwords"

    async def text(**request) -> str:
        event = await transcript_of(seaco_server, audio, 16000, **request)
        assert event.type == "transcript", event
        return event.data["text"]

    assert await text() == plain
    assert await text(context={"hotwords": ["魔搭", "达摩院"]}) == biased  # voiceloop's extension
    assert await text(transcript_names=["魔搭"], transcript_terms=["达摩院"]) == biased  # wyoming 1.10 fields
    assert await text(context={"hotwords": "魔搭，达摩院"}) == biased
    assert await text() == plain, "one request's hotwords must not stick to the next"


async def test_the_run_time_hotwords_file_applies_as_it_does_for_http_and_the_dialogue(
        seaco_asr, seaco_config, hotword_audio, tmp_path):
    from voiceloop.tts.fallback import create_synthesizer

    audio, samples = hotword_audio
    biased = T2S(_segmented(seaco_asr, samples, ("魔搭", "达摩院")))
    assert biased != T2S(_segmented(seaco_asr, samples))
    words = tmp_path / "hotwords.txt"
    words.write_text("魔搭\n达摩院\n", encoding="utf-8")  # as the web console writes it
    cfg = wyoming_config(dataclasses.replace(seaco_config, hotwords_file=str(words)))
    with ServerThread(cfg, seaco_asr, create_synthesizer(cfg.tts)) as srv:
        from_file = await transcript_of(srv, audio, 16000)
        both = await transcript_of(srv, audio, 16000, context={"hotwords": ["达摩院"]})
    assert from_file.data["text"] == biased and both.data["text"] == biased


async def test_a_client_dropping_mid_stream_leaves_the_server_serving(seaco_server, seaco_asr, hotword_audio,
                                                                     caplog):
    caplog.set_level(logging.INFO, logger="voiceloop.wyoming")
    audio, samples = hotword_audio
    # One client vanishes after half its audio, another in the middle of a chunk's payload.
    async with seaco_server.client() as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=audio[:len(audio) // 2]).event())
    _, writer = await asyncio.open_connection("127.0.0.1", seaco_server.port)
    writer.write(b'{"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1}}\n'
                 b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, '
                 b'"payload_length": 3200}\n' + audio[:1000])
    await writer.drain()
    writer.transport.abort()

    event = await transcript_of(seaco_server, audio, 16000)
    assert event.type == "transcript" and event.data["text"] == T2S(_segmented(seaco_asr, samples))
    for _ in range(50):
        if "dropped 2.8 s" in caplog.text:
            break
        await asyncio.sleep(0.1)
    assert "left mid-stream; dropped 2.8 s of audio" in caplog.text
