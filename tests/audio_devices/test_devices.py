"""SoundDevicePort on a real PulseAudio server: null sinks, parec/pacat, and a room process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import fftconvolve
from support.device_signals import (
    Tap,
    assert_matches_piecewise,
    dominant_hz,
    locate,
    play_and_record,
    sine,
    tone_residual_db,
)
from support.pulse import room_process
from support.rir import synth_rir

from voiceloop.audio.decode import decode_file
from voiceloop.audio.devices import SoundDevicePort, format_device_list, list_devices
from voiceloop.config import AudioConfig
from voiceloop.errors import DeviceError

ZH = Path(__file__).parents[2] / ".." / "shared" / "audio" / "zh"
PULSE = AudioConfig(input_device="pulse", output_device="pulse", reopen_max_s=1.0)


def speech(seconds: float = 1.5, name: str = "aishell1_BAC009S0724W0121.wav") -> np.ndarray:
    x = decode_file(ZH / name)
    return x[8000:8000 + int(seconds * 16000)]


async def test_played_audio_reaches_the_speaker_and_the_rendered_stream(pulse):
    clip = speech()
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    recorder = pulse.recorder("speaker.monitor")
    try:
        await asyncio.sleep(1.0)  # a just-started null sink may drop its first blocks
        await port.play(clip)
        await asyncio.wait_for(port.wait_played(), 10)
        await asyncio.sleep(0.3)
    finally:
        heard = recorder.stop()
        await port.aclose()
    # A null sink just started may drop a block: a 10 ms gap in a quarter still correlates > 0.97.
    assert_matches_piecewise(clip, heard, 0.97, 0.5, "speaker.monitor")
    lag, corr, gain = locate(clip, tap.speaker())
    assert corr > 0.99999 and abs(gain) < 0.01  # 16 kHz device: Rendered is exactly what was queued
    assert "R" in tap.order and tap.order.count("R") >= len(clip) // 160


async def test_room_process_speech_arrives_as_captured_frames(pulse):
    clip = speech(2.0)
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    try:
        await tap.wait_captured(10)
        with room_process(pulse, speech=[(ZH / "aishell1_BAC009S0724W0121.wav", 0.3)], echo_db=-20):
            await asyncio.sleep(0.3 + 4.28 + 0.5)
    finally:
        await port.aclose()
    mic = tap.mic()
    # The room's pacat may underrun on a loaded box.
    assert_matches_piecewise(clip, mic, 0.99, 1.0, "mic")


async def test_echo_path_delay_through_the_room(pulse):
    """Speaker -> speaker.monitor -> room (RIR) -> micsink -> mic: the delay the echo canceller must cover."""
    clip = speech(2.0)
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    try:
        await tap.wait_captured(10)
        with room_process(pulse, rt60_s=0.2, echo_db=0.0):
            await asyncio.sleep(0.5)
            start = time.monotonic()
            await port.play(clip)
            await port.wait_played()
            await asyncio.sleep(0.8)
    finally:
        await port.aclose()
    spk_lag, _, _ = locate(clip, tap.speaker(since=start))
    mic_lag, corr, gain = locate(fftconvolve(clip, synth_rir(0.2)), tap.mic(since=start))
    spk_t = [t for t, _ in tap.rendered if t >= start][spk_lag // 160]
    mic_t = [t for t, _ in tap.captured if t >= start][mic_lag // 160]
    delay_ms = (mic_t - spk_t) * 1000
    print(f"echo path: {delay_ms:.0f} ms (Rendered -> Captured arrival), correlation {corr:.3f}, {gain:+.1f} dB")
    assert corr > 0.99 and abs(gain) < 1.0  # the clip as the room (RT60 0.2 s, 0 dB) made it
    assert 0 < delay_ms < 400


async def test_clear_stops_playback_within_a_block_or_two(pulse):
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    recorder = pulse.recorder("speaker.monitor")
    try:
        await asyncio.sleep(0.3)
        player = asyncio.create_task(port.play(sine(500, 1.8)))
        while sum(np.abs(s).max() > 0.1 for _, s in tap.rendered) < 60:  # 0.6 s of tone rendered
            await asyncio.sleep(0.005)
        first = next(t for t, s in tap.rendered if np.abs(s).max() > 0.1)
        cleared_at = time.monotonic()
        dropped = port.clear()
        await asyncio.wait_for(port.wait_played(), 2)
        await asyncio.sleep(0.5)
        await player
    finally:
        heard = recorder.stop()
        await port.aclose()
    late = sum(np.abs(s).max() > 0.01 for t, s in tap.rendered if t > cleared_at)
    loud = np.flatnonzero(np.abs(heard) > 0.05)
    tone_s = (loud[-1] - loud[0]) / 16000  # how long the speaker really played the tone
    stop_ms = (tone_s - (cleared_at - first)) * 1000
    print(f"clear(): dropped {dropped / 16000:.2f} s, {late} tone frames rendered after it, tone ran {stop_ms:.0f} ms past clear()")
    assert dropped > 0.5 * 16000
    assert late <= 6  # at most the block or two already handed to PortAudio
    assert stop_ms < 300


async def test_missing_device_names_it_and_lists_the_devices(pulse):
    with pytest.raises(DeviceError) as err:
        SoundDevicePort(AudioConfig(input_device="Scarlett 2i2 USB"))
    assert "Scarlett 2i2 USB" in str(err.value) and "'pulse'" in str(err.value)
    with pytest.raises(DeviceError, match="audio.output_device='99'"):
        SoundDevicePort(AudioConfig(output_device="99"))
    inputs, outputs = list_devices()
    assert "pulse" in [d.name for d in inputs] and "pulse" in [d.name for d in outputs]
    assert "pulse" in format_device_list()


def test_devices_command_without_any_sound_server_says_none_found(tmp_path):
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nothing-here", "HOME": str(tmp_path)}
    code = "from voiceloop.audio.devices import format_device_list; print(format_device_list())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("none found") == 2, done.stdout


async def test_sound_server_restart_is_survived(pulse):
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    try:
        await tap.wait_captured(20)
        await asyncio.to_thread(pulse.restart, 0.5)
        restarted = time.monotonic()
        before = len(tap.captured)
        await tap.wait_captured(before + 50, timeout_s=15)
        back_s = tap.captured[before][0] - restarted
        heard = await play_and_record(port, pulse, "speaker.monitor", sine(700, 0.5))
    finally:
        await port.aclose()
    print(f"server restart: mic frames again {back_s:.2f} s after the server was back")
    assert not tap.task.done()  # frames() kept going through the outage
    assert abs(dominant_hz(heard, 16000) - 700) < 5 and np.abs(heard).max() > 0.4


async def test_48k_stereo_device_is_converted_to_16k_mono(pulse, monkeypatch):
    """The device runs at 48 kHz stereo (the server converts nothing): voiceloop's resamplers do it all."""
    pulse.add_null_sink("hifi", 48000, 2)
    monkeypatch.setenv("PULSE_SINK", "hifi")
    monkeypatch.setenv("PULSE_SOURCE", "hifi.monitor")
    port = SoundDevicePort(AudioConfig(input_device="pulse", output_device="pulse", device_rate=48000, device_channels=2))
    tap = Tap(port).start()
    recorder = pulse.recorder("hifi.monitor", rate=48000, channels=2)
    try:
        await tap.wait_captured(10)
        start = time.monotonic()
        await port.play(sine(1000, 1.5))
        await asyncio.wait_for(port.wait_played(), 5)
        await asyncio.sleep(0.2)
    finally:
        heard = recorder.stop()
        await port.aclose()
    on = np.flatnonzero(np.abs(heard[:, 0]) > 0.2)
    assert on[-1] - on[0] > 1.4 * 48000, "the tone did not reach the 48 kHz sink"
    for channel in (0, 1):
        assert abs(dominant_hz(heard[on[0]:on[-1], channel], 48000) - 1000) < 2
    mic = tap.mic(since=start)
    tone = mic[np.flatnonzero(np.abs(mic) > 0.2)[0] + 1600:][:16000]
    residual = tone_residual_db(tone, 1000, 16000)
    print(f"48 kHz stereo: mic tone {dominant_hz(tone, 16000):.1f} Hz, peak {np.abs(tone).max():.3f}, residual {residual:.1f} dB")
    assert len(tone) == 16000 and abs(dominant_hz(tone, 16000) - 1000) < 2
    assert abs(np.abs(tone).max() - 0.5) < 0.02 and residual < -50  # no clicks at block edges
