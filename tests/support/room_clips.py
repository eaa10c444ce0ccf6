"""Shared helpers for the audio front-end tests: real recordings, a room, and scoring."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from voiceloop.audio.decode import decode_file
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.speech import FrontEndEvent
from voiceloop.audio.port import Captured, Rendered
from support.simroom import SimulatedRoom

ZH = Path(__file__).resolve().parents[2] / ".." / "shared" / "audio" / "zh"
# Clips with one continuous utterance each (no internal pause near end_silence_ms) and a clear onset.
USER_CLIPS = ("funasr_asr_example.wav", "aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav",
              "wenet_nst_data_example_ID001.wav", "uberi_chinese.wav")
# Longer, multi-phrase clips that play the assistant's replies.
REPLY_CLIPS = ("funasr_csharp_1.wav", "funasr_csharp_2.wav", "funasr_csharp_3_mixed.wav", "cosyvoice_laoxu.wav",
               "cosyvoice_huang_1.wav", "wenetspeech_TEST_MEETING_T0000000001_S00000.wav", "wenet_nst_ID001.wav",
               "wenet_nst_ID002.wav", "wenet_nst_ID003.wav", "funasr_asr_example.wav")


def clip(name: str) -> np.ndarray:
    path = ZH / name
    assert path.is_file(), f"real recording missing: {path}"
    return decode_file(path)


async def run_frontend(room: SimulatedRoom, front: FrontEnd, plays: list[tuple[float, np.ndarray]] = ()
                       ) -> list[tuple[float, FrontEndEvent]]:
    """Drive `front` from `room` until the room's duration; returns (room time, event) pairs.

    `plays` are (t, samples) the assistant queues when the room clock reaches t.
    """
    async def assistant() -> None:
        for t, samples in sorted(plays, key=lambda p: p[0]):
            while room.now < t:
                await asyncio.sleep(0)
            await room.play(samples)

    task = asyncio.create_task(assistant())
    events = [(room.now, ev) async for ev in frontend_events(room.frames(), front)]
    task.cancel()
    return events


def erle_db(mic: np.ndarray, out: np.ndarray, active: np.ndarray) -> float:
    """Echo return loss enhancement over the echo-active samples: mic power / residual power."""
    return float(10 * np.log10(np.sum(mic[active] ** 2) / max(np.sum(out[active] ** 2), 1e-12)))


async def run_aec(room: SimulatedRoom, aec) -> tuple[np.ndarray, np.ndarray]:
    """(mic, echo-cancelled) tracks as the room produced them."""
    mic, out = [], []
    async for item in room.frames():
        if isinstance(item, Rendered):
            aec.render(item.samples)
        elif isinstance(item, Captured):
            mic.append(item.samples)
            out.append(aec.capture(item.samples))
    return np.concatenate(mic), np.concatenate(out)
