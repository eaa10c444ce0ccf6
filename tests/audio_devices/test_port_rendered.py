"""`SoundDevicePort.rendered` on a real PulseAudio sink: what the history's "heard" is counted from."""

from __future__ import annotations

import asyncio

import numpy as np
from support.device_signals import Tap, sine

from voiceloop.audio.devices import SoundDevicePort
from voiceloop.audio.port import DUCK_GAIN
from voiceloop.config import AudioConfig

PULSE = AudioConfig(input_device="pulse", output_device="pulse", reopen_max_s=1.0)


async def test_rendered_counts_what_the_sink_played_and_not_what_clear_dropped(pulse):
    port = SoundDevicePort(PULSE)
    reader = asyncio.create_task(_drain(port))
    try:
        await asyncio.sleep(0.5)
        assert port.rendered == 0  # idle silence is not counted
        await port.play(np.full(16000, 0.1, dtype=np.float32))
        await asyncio.wait_for(port.wait_played(), 10)
        assert port.rendered == 16000
        await port.play(np.full(32000, 0.1, dtype=np.float32))
        await asyncio.sleep(0.5)
        dropped = port.clear()
        await asyncio.sleep(0.3)
        assert 0 < dropped < 32000
        assert abs(port.rendered - (48000 - dropped)) <= 640  # blocks already handed to the device play out
    finally:
        await port.aclose()
        reader.cancel()


async def _drain(port: SoundDevicePort) -> None:
    async for _ in port.frames():
        pass


async def test_a_ducked_reply_plays_on_15_db_down_and_the_rendered_frames_say_so(pulse):
    """What the sink plays and what `Rendered` reports (the echo canceller's reference) are both
    turned down between duck(DUCK_GAIN) and duck(1.0), and no sample of the reply is dropped."""
    port = SoundDevicePort(PULSE)
    tap = Tap(port).start()
    recorder = pulse.recorder("speaker.monitor")
    try:
        await asyncio.sleep(0.5)
        await port.play(sine(440, 3.0, amplitude=0.3))
        await _until(lambda: port.rendered >= 16000)
        port.duck(DUCK_GAIN)
        await _until(lambda: port.rendered >= 32000)
        port.duck(1.0)
        await asyncio.wait_for(port.wait_played(), 10)
        await asyncio.sleep(0.3)
    finally:
        heard = recorder.stop()
        await port.aclose()
    assert port.rendered == 48000
    for name, signal in (("speaker.monitor", heard), ("Rendered", tap.speaker())):
        loud = np.abs(signal) > 0.01
        first, last = int(np.argmax(loud)), len(loud) - int(np.argmax(loud[::-1]))
        tone = signal[first:last]
        assert abs(len(tone) - 48000) < 800, (name, len(tone))
        levels = [20 * np.log10(np.sqrt(np.mean(tone[a:a + 4800] ** 2)))
                  for a in (4000, 20000, 36000)]  # well inside each of the three seconds
        assert abs(levels[0] - levels[2]) < 0.5, (name, levels)
        assert -16 < levels[1] - levels[0] < -14, (name, levels)


async def _until(condition, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
