"""Devices that come late and microphones that go quiet, on a real PulseAudio server.

The daemon-level version (a real `voiceloop run` started before the sound server) is in
tests/dialogue/test_daemon_waits_for_devices.py.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
from support.device_signals import Tap, dominant_hz, play_and_record, sine

from voiceloop.audio.devices import SoundDevicePort
from voiceloop.audio.xruns import XrunReport
from voiceloop.config import AudioConfig

PULSE = AudioConfig(input_device="pulse", output_device="pulse", reopen_max_s=1.0)


def _warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


async def test_a_speaker_plugged_in_later_is_waited_for_and_used(pulse, monkeypatch, caplog, capfd):
    """The configured output (PULSE_SINK=usbspeaker) does not exist yet: the port waits, logs it
    once (ALSA's own complaint on every try goes to the DEBUG log, not stderr), and opens as soon
    as the sink appears."""
    monkeypatch.setenv("PULSE_SINK", "usbspeaker")
    caplog.set_level(logging.DEBUG, logger="voiceloop.audio")
    port = SoundDevicePort(PULSE, wait=True)
    try:
        opened = asyncio.create_task(port.opened())
        await asyncio.sleep(3.0)  # a few tries, about one a second
        assert not opened.done()
        waiting = _warnings(caplog, "waiting for audio devices")
        assert len(waiting) == 1, waiting
        plugged = time.monotonic()
        await asyncio.to_thread(pulse.add_null_sink, "usbspeaker", 16000, 1)
        await asyncio.wait_for(opened, 10)
        opened_s = time.monotonic() - plugged
        tap = Tap(port).start()
        heard = await play_and_record(port, pulse, "usbspeaker.monitor", sine(600, 0.6))
    finally:
        await port.aclose()
    stderr = capfd.readouterr().err
    assert "ALSA lib" not in stderr, stderr[-2000:]
    assert any("Unable to create stream" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    print(f"speaker appeared -> port open: {opened_s:.2f} s (audio.reopen_max_s 1.0)")
    assert opened_s < 1.0 + 1.0  # the longest retry gap, plus the time one try takes
    assert abs(dominant_hz(heard, 16000) - 600) < 5 and np.abs(heard).max() > 0.4
    assert tap.rendered, "no speaker frames after the late open"
    assert len(_warnings(caplog, "waiting for audio devices")) == 1


async def test_a_microphone_that_stops_delivering_is_reopened_while_the_speaker_plays(pulse, caplog):
    """The mic's stream is moved to a suspended source, so it hangs while the speaker keeps
    running (a USB mic whose firmware stalled): the port notices and reopens, and the new stream
    hears the default source again. The old stream stays hung: only a reopen brings audio back."""
    caplog.set_level(logging.INFO, logger="voiceloop.audio")
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    try:
        await tap.wait_captured(20)
        pulse.add_null_sink("deadmic", 16000, 1)
        pulse.pactl("suspend-sink", "deadmic", "1")
        ours = pulse.pactl("list", "short", "source-outputs").split()[0]
        pulse.pactl("move-source-output", ours, "deadmic.monitor")
        hung_at = time.monotonic()
        player = asyncio.create_task(port.play(sine(500, 8.0, amplitude=0.1)))  # the speaker stays busy
        await asyncio.sleep(0.5)
        before = len(tap.captured)
        await tap.wait_captured(before + 100, timeout_s=15)
        back_s = tap.captured[before][0] - hung_at
        speaker_frames = [t for t, _ in tap.rendered if t > hung_at]
        port.clear()
        await player
    finally:
        await port.aclose()
    print(f"mic hung -> mic frames again: {back_s:.2f} s")
    assert _warnings(caplog, "no microphone audio"), [r.getMessage() for r in caplog.records]
    assert _warnings(caplog, "audio is flowing again")
    assert back_s < 2.0 + 5.0 + 2.0  # stall threshold + a fresh stream's first audio + slack
    assert len(speaker_frames) > 100  # the speaker never stopped while the mic was dead


def test_xruns_are_logged_at_warning_once_a_minute_at_most(caplog):
    caplog.set_level(logging.WARNING, logger="voiceloop.audio.devices")
    report = XrunReport(interval_s=60.0)
    report.add("input overflow", 100.0)
    for i in range(500):  # a burst: one line for it, not 500
        report.add("output underflow" if i % 2 else "input overflow", 100.0 + i * 0.02)
    report.tick(120.0)
    lines = [r for r in caplog.records if "xruns" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "1 input overflow " in lines[0].getMessage()
    report.tick(161.0)  # the burst's tail, once the minute is up
    assert len(lines := [r.getMessage() for r in caplog.records if "xruns" in r.getMessage()]) == 2
    assert "250 input overflows" in lines[1] and "250 output underflows" in lines[1] and "(501 since start)" in lines[1]
    report.tick(300.0)  # nothing new: nothing logged
    assert len([r for r in caplog.records if "xruns" in r.getMessage()]) == 2
