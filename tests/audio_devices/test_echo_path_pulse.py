"""The front end on real (virtual) devices with a slow speaker: it never hears itself.

A private PulseAudio server and the room process carry what the daemon plays back into its
microphone, with 400 ms of extra delay (a Bluetooth or HDMI speaker) on top of the sound server's
own buffering. Before the front end paired mic and speaker by time and measured the echo delay,
this room made it start speech on its own echo (logged: `speech onset while the speaker plays:
speech p=0.54 after echo cancellation, p=0.00 from the double-talk detector (leak 0 dB)`).
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from support.pulse import room_process
from voiceloop.audio.devices import SoundDevicePort
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.speech import SpeechStarted, Utterance
from voiceloop.config import AudioConfig, Config, TtsConfig
from voiceloop.tts.espeak import EspeakSynthesizer

REPLY = "好的，我听到了你说的话。广州的房地产中介协会做了分析。"


async def test_slow_speaker_echo_is_measured_and_never_heard_as_speech(pulse, caplog):
    caplog.set_level(logging.INFO, logger="voiceloop.audio.frontend")
    reply = np.concatenate([c async for c in EspeakSynthesizer(TtsConfig()).synthesize(REPLY)])
    port = SoundDevicePort(AudioConfig(input_device="pulse", output_device="pulse"))
    front, heard = FrontEnd(Config()), []

    async def listen() -> None:
        async for ev in frontend_events(port.frames(), front):
            heard.append(ev)

    task = asyncio.create_task(listen())
    try:
        await asyncio.sleep(2.0)  # a fresh null-sink monitor delivers ~2 s late
        with room_process(pulse, echo_db=-3.0, delay_ms=400.0):
            await asyncio.sleep(1.0)
            for half in (reply[: len(reply) // 2], reply[len(reply) // 2:]):  # two replies, a pause between
                await port.play(half)
                await port.wait_played()
                await asyncio.sleep(1.5)
    finally:
        await port.aclose()
        await task
    logged = [r.getMessage() for r in caplog.records]
    assert not [ev for ev in heard if isinstance(ev, (SpeechStarted, Utterance))], logged
    assert front.echo_delay_s is not None and 0.4 <= front.echo_delay_s <= 0.6, logged
    assert any("echo path: speaker to microphone" in line for line in logged)
