"""`voiceloop listen`: one line per utterance, and a file played meanwhile is never transcribed."""

from __future__ import annotations

import asyncio
import io
import json

from voiceloop.asr.whisper import WhisperEngine
from voiceloop.audio.decode import decode_file
from support.simroom import RoomSpec, SimulatedRoom
from voiceloop.config import AsrConfig, Config, WhisperConfig
from voiceloop.listen import listen

from support.cer import cer
from support.recordings import ZH, read_manifest

USERS = ("aishell1_BAC009S0724W0121.wav", "funasr_asr_example.wav")
PLAYED = "cosyvoice_laoxu.wav"  # 15.6 s of someone else talking, played through the speaker


async def test_listen_prints_each_utterance_and_ignores_what_it_plays(whisper_base_dir):
    refs = read_manifest()
    cfg = Config(asr=AsrConfig(engine="whisper", device="cpu", whisper=WhisperConfig(model=str(whisper_base_dir))))
    asr = WhisperEngine(cfg.asr)
    room = SimulatedRoom(RoomSpec(speed=0, duration_s=30.0, echo_gain_db=6.0),
                         script=[(16.5, decode_file(ZH / USERS[0])), (23.0, decode_file(ZH / USERS[1]))])
    out = io.StringIO()
    await asyncio.wait_for(listen(cfg, room, asr, out, json_lines=True, play=decode_file(ZH / PLAYED)), 120)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert room.truth.playback and room.truth.playback[0].end_t > 15.0, "the file was not played"
    assert len(lines) == 2, lines
    for line, name in zip(lines, USERS):
        assert cer(line["text"], refs[name]) <= 0.35, line
        assert line["duration_s"] > 1.0 and line["asr_s"] > 0
    assert lines[0]["start_s"] > 16.0
