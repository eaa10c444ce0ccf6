"""`SoundDevicePort.rendered` on a real PulseAudio sink: what the history's "heard" is counted from."""

from __future__ import annotations

import asyncio

import numpy as np

from voiceloop.audio.devices import SoundDevicePort
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
