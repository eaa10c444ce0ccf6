"""`voiceloop listen`: one line per utterance, and a file played meanwhile is never transcribed."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np

from voiceloop.asr.whisper import WhisperEngine
from voiceloop.audio.decode import decode_file
from voiceloop.audio.port import DUCK_GAIN
from support.simroom import RoomSpec, SimulatedRoom
from voiceloop.config import AsrConfig, Config, WhisperConfig
from voiceloop.modes.listen import listen

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


async def test_words_spoken_over_what_it_plays_are_recognised_with_the_file_turned_down(whisper_base_dir):
    """A user talking over `--play` (the echo 6 dB over them): the file is turned down from the first
    sign of speech to the end of the utterance, so the words reach recognition with little of it
    left. Measured in this room: CER 0.16 and 0.08 with the duck, 0.63 and 0.69 without."""
    refs = read_manifest()
    cfg = Config(asr=AsrConfig(engine="whisper", device="cpu", whisper=WhisperConfig(model=str(whisper_base_dir))))
    asr = WhisperEngine(cfg.asr)
    users = [(8.5, USERS[1]), (15.0, "aishell1_BAC009S0764W0121.wav")]
    room = SimulatedRoom(RoomSpec(speed=0, duration_s=23.0, echo_gain_db=6.0, seed=1),
                         script=[(t, decode_file(ZH / name)) for t, name in users])
    played = decode_file(ZH / PLAYED)
    out = io.StringIO()
    await asyncio.wait_for(listen(cfg, room, asr, out, json_lines=True,
                                  play=np.concatenate([played, played])[:21 * 16000]), 120)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert room.truth.playback[-1].end_t > 20.0, "the file was not played through"
    assert [g for _, g in room.truth.ducks][:2] == [DUCK_GAIN, 1.0], room.truth.ducks
    for _, name in users:
        assert min(cer(line["text"], refs[name]) for line in lines) <= 0.3, (name, lines)
