"""The whole conversation loop in a simulated room, in real time, with every stage real.

The user is a real Mandarin recording played into the room; Whisper base transcribes it; a real
OpenAI-compatible server on 127.0.0.1 streams the reply; Edge-TTS fails for real (its proxy is a
closed loopback port) so espeak-ng speaks; the reply's echo comes back into the microphone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from support.cer import cer
from support.net import closed_port
from support.openai_server import OpenAIServer, Script
from support.recordings import ZH, read_manifest, with_pause
from support.simroom import RoomSpec, SimulatedRoom

from voiceloop.audio.decode import decode_file
from voiceloop.config import AsrConfig, Config, DialogueConfig, LlmConfig, TtsConfig, WhisperConfig
from voiceloop.modes.daemon import serve
from voiceloop.dialogue.events import StateChanged, TurnFinished, TurnState

USER_1 = "aishell1_BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
USER_2 = "aishell1_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况
# espeak-ng speaks at about -20 dBFS and the room puts the user at -32 dBFS: an echo gain of -6 dB
# makes the assistant's voice at the microphone 6 dB louder than the user (issue 3's condition).
ECHO_GAIN_DB = -6.0
QUIET_S = 3.0
LONG_REPLY = ("好的，我来详细说一说。", "广州的房地产市场最近变化很大。", "很多中介公司都在调整策略。",
              "协会的分析报告指出了几个问题。", "第一是成交量下降。", "第二是价格波动。", "第三是政策影响。",
              "总的来说，市场还需要时间恢复。", "你还想了解哪些方面呢？")


@pytest.fixture(scope="module")
def whisper_asr(whisper_base_dir):
    from voiceloop.asr.whisper import WhisperEngine

    return WhisperEngine(_asr_config(whisper_base_dir))


def _asr_config(model_dir) -> AsrConfig:
    return AsrConfig(engine="whisper", device="cpu", threads=1, whisper=WhisperConfig(model=str(model_dir)))


def _config(tmp_path, base_url: str, model_dir, **dialogue) -> Config:
    return Config(
        asr=_asr_config(model_dir),
        llm=LlmConfig(base_url=base_url, model="test-model", first_token_timeout_s=5, total_timeout_s=60),
        tts=TtsConfig(engine="edge", edge_proxy=f"http://127.0.0.1:{closed_port()}", edge_retry_s=600),
        dialogue=DialogueConfig(turn_log=str(tmp_path / "turns.jsonl"), log_transcripts=True, **dialogue))


async def _run_room(cfg: Config, room: SimulatedRoom, asr) -> list:
    """Serve the room until its duration, or until the assistant has listened for `QUIET_S` after the
    user's last words: whatever the reply's echo could still start (an utterance ends 0.6 s after
    the echo, ~1 s after the reply) would have shown by then as a new turn thinking."""
    events: list = []
    listening_since: list[float | None] = [None]
    last_words = max((end for _, end in room.truth.user_speech), default=0.0)

    def on_event(ev) -> None:
        events.append(ev)
        if isinstance(ev, StateChanged):
            listening_since[0] = room.now if ev.state is TurnState.LISTENING else None

    async def close_when_done() -> None:
        while (since := listening_since[0]) is None or room.now - max(since, last_words) < QUIET_S:
            await asyncio.sleep(0.1)
        await room.aclose()

    closer = asyncio.create_task(close_when_done())
    try:
        await asyncio.wait_for(serve(cfg, room, asr, on_event=on_event), timeout=room.spec.duration_s + 30)
    finally:
        closer.cancel()
    return events


def _chats(srv: OpenAIServer) -> list:
    return [r for r in srv.requests if r.method == "POST"]


def _records(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "turns.jsonl").read_text(encoding="utf-8").splitlines()]


async def test_turns_are_answered_aloud_and_the_echo_never_becomes_a_turn(tmp_path, whisper_asr, whisper_base_dir):
    """Turn 1: the LLM fails (503) -> spoken apology. Turn 2: a streamed reply is spoken sentence by sentence."""
    refs = read_manifest()
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=30.0, echo_gain_db=ECHO_GAIN_DB),
                         script=[(0.5, decode_file(ZH / USER_1)), (10.5, decode_file(ZH / USER_2))])
    reply = ("好的，", "这个问题", "我知道。", "房地产市场", "最近确实不太活跃。", "**交易量**下降了很多。")
    async with OpenAIServer(Script(mode="status", status=503),
                            Script(deltas=reply, delta_delay_s=0.05, first_token_delay_s=0.2)) as srv:
        events = await _run_room(_config(tmp_path, srv.base_url, whisper_base_dir), room, whisper_asr)

    # Exactly the two user utterances reached the LLM: the assistant's own voice never did.
    chats = _chats(srv)
    assert len(chats) == 2
    said = [r.body["messages"][-1]["content"] for r in chats]
    assert cer(said[0], refs[USER_1]) <= 0.35 and cer(said[1], refs[USER_2]) <= 0.35, said
    assert chats[1].body["stream"] is True and chats[1].body["model"] == "test-model"

    records = _records(tmp_path)
    assert [r["user_text"] for r in records] == said
    assert records[0]["error"].startswith("llm server") and records[0]["reply_text"] == ""
    assert records[1]["error"] is None and not records[1]["interrupted"]
    assert records[1]["reply_text"] == "".join(reply)
    marks = records[1]["marks"]
    order = ["speech_end", "endpoint", "asr_done", "llm_first_token", "first_sentence", "tts_first_audio",
             "playback_start", "playback_end"]
    assert all(marks[a] <= marks[b] for a, b in zip(order, order[1:])), marks

    # Both answers (apology, then the reply by espeak after Edge failed) were played into the room.
    spans = room.truth.playback
    first_reply = [s for s in spans if 4.5 < s.start_t < 10.5]
    second_reply = [s for s in spans if s.start_t > 14.5]
    assert first_reply and second_reply
    assert sum(s.end_t - s.start_t for s in second_reply) > 2.0
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[:4] == [TurnState.LISTENING, TurnState.THINKING, TurnState.SPEAKING, TurnState.LISTENING]
    assert sum(isinstance(e, TurnFinished) for e in events) == 2


async def test_barge_in_stops_playback_closes_the_llm_stream_and_takes_the_new_turn(
        tmp_path, whisper_asr, whisper_base_dir):
    refs = read_manifest()
    onset_2 = 11.0
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=21.0, echo_gain_db=ECHO_GAIN_DB),
                         script=[(0.5, decode_file(ZH / USER_1)), (onset_2, decode_file(ZH / USER_2))])
    # Twice the reply at the same pace (21.6 s of streaming): still being written when the barge-in
    # utterance ends (about 14 s in; the turn is cancelled then, the speaker already at the onset)
    # however fast the box recognises, and no long gaps in the speech for the onset to fall into.
    slow = Script(deltas=LONG_REPLY * 2, delta_delay_s=1.2)
    async with OpenAIServer(slow, Script(deltas=("明白了。",))) as srv:
        await _run_room(_config(tmp_path, srv.base_url, whisper_base_dir), room, whisper_asr)

    first, second = _chats(srv)
    assert first.client_disconnected and not first.completed, "the LLM stream was not closed on barge-in"
    assert cer(second.body["messages"][-1]["content"], refs[USER_2]) <= 0.35
    history = second.body["messages"]
    assert history[-2]["role"] == "assistant" and "被打断" in history[-2]["content"]

    user_onset = room.truth.user_speech[1][0]
    clears = [t for t, dropped in room.truth.clears if t >= user_onset - 0.05 and dropped > 0]
    assert clears, f"playback was not cleared after the user spoke at {user_onset:.2f}s: {room.truth.clears}"
    # Turned down at the user's first sound (the target, 150 ms, is measured in bench/turn_latency.py),
    # stopped on the onset. This room's linear canceller leaves the echo only ~7 dB down, too little
    # for the double-talk detector to tell, so the onset waits for a second canceller's verdict
    # (`audio.doubt`: 0.4 or 1 s into the speech; measured 0.47-1.27 s, the latter beside a busy core),
    # and the reply stops well before the user's ~3 s end.
    ducks = [t for t, gain in room.truth.ducks if t >= user_onset - 0.05 and gain < 1.0]
    assert ducks and ducks[0] - user_onset < 0.6, (ducks, user_onset)
    assert clears[0] - user_onset < 2.0, (clears, user_onset)
    assert first.disconnected_at is not None

    records = _records(tmp_path)
    assert records[0]["interrupted"] is True
    assert records[0]["heard_text"] and len(records[0]["heard_text"]) < len(records[0]["reply_text"]) + 1
    assert "".join(LONG_REPLY).startswith(records[0]["heard_text"])
    assert records[1]["user_text"] == second.body["messages"][-1]["content"]


async def test_reset_phrase_clears_memory_and_noise_is_never_sent(tmp_path, whisper_asr, whisper_base_dir):
    cfg = _config(tmp_path, "http://127.0.0.1:9/v1", whisper_base_dir)
    cfg = dataclasses.replace(cfg, dialogue=dataclasses.replace(cfg.dialogue, reset_phrases=("你好你好",)))
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=7.0, echo_gain_db=ECHO_GAIN_DB),
                         script=[(0.5, decode_file(ZH / "wenet_nst_data_example_ID001.wav"))])  # 你好你好
    async with OpenAIServer() as srv:
        cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, base_url=srv.base_url))
        await _run_room(cfg, room, whisper_asr)
    assert _chats(srv) == []
    assert room.truth.playback, "the reset was not confirmed aloud"


PAUSED = "aishell1_BAC009S0724W0121.wav"  # 广州市房地产 … 中介协会分析: a natural break mid-sentence


@pytest.mark.parametrize("pause_s", [0.7, 1.0])
async def test_a_pause_mid_sentence_loses_nothing(tmp_path, whisper_asr, whisper_base_dir, pause_s):
    """The first half is endpointed (the pause is longer than vad.end_silence_ms) and its turn is
    still thinking when the user goes on: the LLM must get the whole sentence, once."""
    refs = read_manifest()
    speech = with_pause(decode_file(ZH / PAUSED), pause_s)
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=15.0, echo_gain_db=ECHO_GAIN_DB), script=[(0.5, speech)])
    async with OpenAIServer(Script(deltas=("好的。",))) as srv:
        await _run_room(_config(tmp_path, srv.base_url, whisper_base_dir), room, whisper_asr)

    *_, final = _chats(srv)
    said = final.body["messages"][-1]["content"]
    assert cer(said, refs[PAUSED]) <= 0.35, said
    assert [m["role"] for m in final.body["messages"]] == ["system", "user"], "the half sentence became a turn"
    records = _records(tmp_path)
    assert records[-1]["user_text"] == said and not records[-1]["interrupted"]
    # A half that reached the LLM before the user went on was never spoken, nor kept.
    assert all(r["continued"] and r["heard_text"] == "" for r in records[:-1])
    assert room.truth.playback and room.truth.playback[0].start_t > room.truth.user_speech[0][1]


async def test_with_speculation_a_reply_prepared_in_a_short_pause_is_dropped_and_the_whole_is_answered(
        tmp_path, whisper_asr, whisper_base_dir):
    """`vad.speculate_ms`: the 0.4 s pause mid-sentence is long enough to start preparing a reply, not
    to end the turn. The user goes on: what was prepared is dropped unheard (reported as abandoned),
    the LLM gets the whole sentence, and nothing is played before the end of speech is confirmed."""
    refs = read_manifest()
    speech = with_pause(decode_file(ZH / PAUSED), 0.4)
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=15.0, echo_gain_db=ECHO_GAIN_DB), script=[(0.5, speech)])
    cfg = _config(tmp_path, "http://127.0.0.1:9/v1", whisper_base_dir)
    async with OpenAIServer(Script(deltas=("好的。",))) as srv:
        cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, base_url=srv.base_url),
                                  vad=dataclasses.replace(cfg.vad, speculate_ms=200))
        await _run_room(cfg, room, whisper_asr)

    *dropped, final = _chats(srv)
    said = final.body["messages"][-1]["content"]
    assert cer(said, refs[PAUSED]) <= 0.35, said
    assert all(chat.client_disconnected for chat in dropped)
    [record] = _records(tmp_path)
    assert record["user_text"] == said and record["abandoned"] >= 1 and record["heard_text"] == "好的。"
    (_, end), = room.truth.user_speech
    assert room.truth.playback and room.truth.playback[0].start_t >= end + cfg.vad.end_silence_ms / 1000 - 0.1


async def test_a_barge_in_with_a_pause_reaches_the_llm_whole(tmp_path, whisper_asr, whisper_base_dir):
    """The user talks over the reply, pauses after the first clause and goes on: the reply was heard
    (it stays in history, cut), and the whole interruption is the next request."""
    refs = read_manifest()
    # Late enough that the reply has been playing for seconds even when Whisper is slow (a barge-in in
    # the first reply's first 2 s meets the echo canceller's cold-start gate), and room for two ASRs.
    onset_2 = 14.0
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=27.0, echo_gain_db=ECHO_GAIN_DB),
                         script=[(0.5, decode_file(ZH / USER_2)), (onset_2, with_pause(decode_file(ZH / PAUSED), 0.7))])
    # The reply streams for 18 s, so it is still being written when the interruption's first clause
    # ends (about 17 s in) however fast the box recognises the first utterance.
    async with OpenAIServer(Script(deltas=LONG_REPLY, delta_delay_s=2.0), Script(deltas=("明白了。",))) as srv:
        await _run_room(_config(tmp_path, srv.base_url, whisper_base_dir), room, whisper_asr)

    first, *_, final = _chats(srv)
    assert first.client_disconnected
    history = final.body["messages"]
    said = history[-1]["content"]
    # Both halves (6 characters each): one alone would be ~6 characters and 0.5 or more from the
    # truth. Whisper-base gets 0.17-0.25 here, and 0.42 once (国洲市发地产中进席会分析) under a
    # loaded full suite, when more of the onset was spoken over the reply's echo.
    assert len(said) >= 10 and cer(said, refs[PAUSED]) <= 0.45, said
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"] == first.body["messages"][-1]["content"] and "被打断" in history[2]["content"]
    records = _records(tmp_path)
    assert records[0]["interrupted"] and "".join(LONG_REPLY).startswith(records[0]["heard_text"])
    assert records[-1]["user_text"] == history[-1]["content"]
    assert all(r["continued"] and r["heard_text"] == "" for r in records[1:-1])
