"""The offline voice: real espeak-ng subprocesses producing real 16 kHz audio."""

from __future__ import annotations

import asyncio
import signal
from contextlib import aclosing

import numpy as np
import psutil
import pytest

from voiceloop.config import TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.espeak import EspeakSynthesizer
from voiceloop.tts.pinyin import to_pinyin


async def speak(synth, text: str) -> np.ndarray:
    async with aclosing(synth.synthesize(text)) as chunks:
        parts = [c async for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


async def test_chinese_sentence_becomes_audible_16k_audio_of_plausible_length():
    text = "今天天气很好，我们去公园散步吧。"  # 15 syllables
    audio = await speak(EspeakSynthesizer(TtsConfig(espeak_speed=160)), text)
    assert audio.dtype == np.float32 and audio.ndim == 1
    seconds = audio.size / 16000
    assert 1.5 < seconds < 8.0, seconds
    assert float(np.sqrt(np.mean(audio ** 2))) > 0.02
    assert float(np.max(np.abs(audio))) <= 1.0
    frames = audio[: audio.size // 160 * 160].reshape(-1, 160)
    voiced = float(np.mean(np.abs(frames).max(axis=1) > 0.05))
    assert voiced > 0.4  # speech most of the time, pauses at the comma and the ends


async def test_faster_speed_gives_shorter_audio():
    text = "我们明天早上八点在学校门口见面。"
    slow = await speak(EspeakSynthesizer(TtsConfig(espeak_speed=120)), text)
    fast = await speak(EspeakSynthesizer(TtsConfig(espeak_speed=300)), text)
    assert fast.size < 0.7 * slow.size


async def test_text_with_nothing_to_say_yields_nothing():
    assert (await speak(EspeakSynthesizer(TtsConfig()), "……")).size == 0


async def test_missing_binary_says_how_to_install():
    synth = EspeakSynthesizer(TtsConfig(), binary="espeak-ng-not-installed")
    with pytest.raises(TtsError, match=r"apt-get install espeak-ng"):
        await speak(synth, "你好")


async def test_unknown_voice_is_named():
    with pytest.raises(TtsError, match=r"tts.espeak_voice='xx-nonexistent'"):
        await speak(EspeakSynthesizer(TtsConfig(espeak_voice="xx-nonexistent")), "hello")


async def _speaking_a_long_sentence(synth: EspeakSynthesizer) -> tuple[asyncio.Task, psutil.Process]:
    """A task speaking for minutes, once its espeak-ng is running; and that espeak-ng."""
    earlier = {p.pid for p in _espeak_running()}  # an earlier test's, killed but not yet reaped, is not ours
    task = asyncio.create_task(speak(synth, "这是一个很长的句子。" * 200))
    for _ in range(200):
        running = [p for p in _espeak_running() if p.pid not in earlier]
        if running:
            return task, running[0]
        await asyncio.sleep(0.01)
    raise AssertionError("espeak-ng never started")


def _espeak_running() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.name() == "espeak-ng" and p.status() != psutil.STATUS_ZOMBIE]


async def test_cancelling_kills_the_subprocess():
    task, _ = await _speaking_a_long_sentence(EspeakSynthesizer(TtsConfig(espeak_speed=80)))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _espeak_running()


@pytest.mark.parametrize("text,expected", [
    ("今天25度，很好。", "jin1 tian1 25 du4 , hen3 hao3 ."),
    ("圆周率是3.14。", "yuan2 zhou1 lv4 shi4 3 dian3 yi1 si4 ."),
    ("增长了50%！", "zeng1 zhang3 le5 bai3 fen1 zhi1 50 ."),
    ("2024年10:30开会", "er4 ling2 er4 si4 nian2 10 dian3 30 fen1 kai1 hui4"),
    ("零下-5度", "ling2 xia4 fu4 5 du4"),
    ("你好吗？OK", "ni3 hao3 ma5 . OK"),
])
def test_pinyin_conversion(text, expected):
    assert to_pinyin(text) == expected


async def test_cancelling_does_not_hang_on_a_pipe_another_process_holds(tmp_path, caplog, monkeypatch):
    """A helper that espeak-ng's side started keeps its stdout open after espeak-ng is killed: the
    cancelled sentence still ends (asyncio would report the exit only when that helper exits)."""
    started_procs = []
    real_exec = asyncio.create_subprocess_exec

    async def keeping_exec(*args, **kwargs):  # the real call; the process is kept to await its end
        started_procs.append(await real_exec(*args, **kwargs))
        return started_procs[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", keeping_exec)
    wrapper = tmp_path / "espeak-with-helper"
    wrapper.write_text('#!/bin/sh\nsleep 60 &\nexec espeak-ng "$@"\n')
    wrapper.chmod(0o755)
    task, espeak = await _speaking_a_long_sentence(
        EspeakSynthesizer(TtsConfig(espeak_speed=80), binary=str(wrapper)))
    for _ in range(500):  # launched (a cancel inside the launch itself waits for the pipes: asyncio 3.11)
        if started_procs:
            break
        await asyncio.sleep(0.01)
    helpers = espeak.children()
    loop = asyncio.get_running_loop()
    started = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.time() - started < 10, "the cancelled sentence waited for the helper (60 s)"
    assert not _espeak_running()
    assert "still held open by another process" in caplog.text
    assert [h.name() for h in helpers] == ["sleep"]
    for helper in helpers:
        helper.kill()
    # with the helper gone the pipes close, and asyncio reports the exit and closes its transport
    assert await asyncio.wait_for(started_procs[0].wait(), 10) == -signal.SIGKILL
