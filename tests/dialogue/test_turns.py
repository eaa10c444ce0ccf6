"""The turn loop on scripted timelines: every failure inside a turn ends in the spoken apology, once;
reasoning is never spoken nor kept; a cough pauses the reply and it plays on; barge-in silences at
once and never holds up the front end; a pause before the reply is heard joins the two halves.
Real LLM server on loopback; the ASR and the voice are scripted (they are what fails), the speaker
is a scripted AudioPort. The same behaviour with real audio: test_dialogue_room.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from support.openai_server import OpenAIServer, Script
from support.scripted_port import ScriptedPort

from voiceloop.asr.base import Transcript
from voiceloop.audio.speech import (
    SpeechDiscarded,
    SpeechPossible,
    SpeechRejected,
    SpeechResumed,
    SpeechStarted,
    Tentative,
    Utterance,
)
from voiceloop.config import Config, DialogueConfig, LlmConfig
from voiceloop.dialogue.assistant import Assistant, Stages
from voiceloop.dialogue.events import TurnFinished
from voiceloop.audio.port import DUCK_GAIN
from voiceloop.dialogue.turnlog import TurnLog
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.llm.memory import Conversation
from voiceloop.tts.phrases import PHRASES
from voiceloop.tts.speak import speakable_sentences

# The apology as the voice is asked for it: its first clause first (dialogue.first_clause_chars).
APOLOGY = [s.spoken for s in speakable_sentences(PHRASES["zh"]["apology"], DialogueConfig().first_clause_chars)]
UTTERANCE = Utterance(np.zeros(16000, dtype=np.float32), 0.0, 1.0)


class ScriptedAsr:
    """Answers each call with the next scripted result: a text, or an exception to raise."""

    def __init__(self, *results):
        self._results = list(results)

    def transcribe(self, samples, hotwords=(), timestamps=True):
        result = self._results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result if not isinstance(result, str) else Transcript(result)

    def info(self):
        raise NotImplementedError


class RecordingVoice:
    """0.1 s of tone per character; raises `fail_with` for sentences containing `fail_on`."""

    name = "scripted"

    def __init__(self, fail_on: str | None = None, fail_with: Exception | None = None):
        self.spoken: list[str] = []
        self._fail_on, self._fail_with = fail_on, fail_with

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        if self._fail_on is not None and self._fail_on in text:
            yield np.full(800, 0.1, dtype=np.float32)  # some audio came before the decoder choked
            raise self._fail_with
        self.spoken.append(text)
        yield np.full(1600 * len(text), 0.1, dtype=np.float32)


async def converse(srv: OpenAIServer, asr, voice, events, tmp_path, port: ScriptedPort | None = None):
    """Run the assistant on scripted front-end events; returns (turn records, port)."""
    cfg = Config(llm=LlmConfig(base_url=srv.base_url, model="m", first_token_timeout_s=5),
                 dialogue=DialogueConfig(turn_log=str(tmp_path / "turns.jsonl"), log_transcripts=True))
    port = port or ScriptedPort()
    speaker = asyncio.create_task(port.speaker(speed=20.0))
    llm = OpenAICompatibleClient(cfg.llm)
    finished: list = []
    done = asyncio.Event()

    def on_event(event) -> None:
        if isinstance(event, TurnFinished):
            finished.append(event.record)
            done.set()

    assistant = Assistant(cfg, Stages(port, asr, llm, voice), Conversation(cfg.llm, cfg.dialogue),
                          turn_log=TurnLog.from_config(cfg.dialogue), on_event=on_event)
    try:
        await asyncio.wait_for(assistant.run(events(port, finished, done)), 20)
    finally:
        speaker.cancel()
        await llm.aclose()
    lines = (tmp_path / "turns.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(finished)
    return [json.loads(line) for line in lines], port


async def until(condition: Callable[[], object], limit_s: float = 60.0) -> None:
    """Let the assistant run until `condition()` holds (the scripted front end's way to wait); a
    condition that never comes fails here, with its line, rather than at the suite's 10-minute timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        line = condition.__code__.co_firstlineno
        assert loop.time() < deadline, f"still waiting after {limit_s:.0f} s for the condition on line {line}"
        await asyncio.sleep(0.005)


def turns(n: int):
    """n utterances, each after the previous turn finished."""
    async def events(port, finished, done) -> AsyncIterator:
        for _ in range(n):
            done.clear()
            yield UTTERANCE
            await done.wait()
    return events


async def test_an_asr_failure_is_apologised_for_and_the_next_turn_is_served(tmp_path):
    voice = RecordingVoice()
    async with OpenAIServer(Script(deltas=("好的。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr(RuntimeError("CUDA out of memory"), "几点了"), voice,
                                    turns(2), tmp_path)
    assert voice.spoken == [*APOLOGY, "好的。"]
    assert records[0]["error"] == "RuntimeError: CUDA out of memory"
    assert [r.body["messages"][-1]["content"] for r in srv.requests if r.method == "POST"] == ["几点了"]


@pytest.mark.parametrize("failure", [ValueError("invalid MP3 frame header"), RuntimeError("unexpected")])
async def test_a_voice_failure_mid_reply_ends_in_one_apology_and_history_keeps_what_was_heard(tmp_path, failure):
    voice = RecordingVoice(fail_on="第二句", fail_with=failure)
    reply = ("第一句话。", "第二句话。", "第三句话。")
    async with OpenAIServer(Script(deltas=reply), Script(deltas=("嗯。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr("你好", "然后呢"), voice, turns(2), tmp_path)
    assert voice.spoken == ["第一句话。", *APOLOGY, "嗯。"]
    assert records[0]["error"] == f"{type(failure).__name__}: {failure}"
    history = [r for r in srv.requests if r.method == "POST"][1].body["messages"]
    assert history[-2] == {"role": "assistant", "content": "第一句话。"}  # the apology is not the reply


async def test_an_unexpected_error_and_a_broken_apology_leave_the_daemon_serving(tmp_path):
    voice = RecordingVoice(fail_on="抱歉", fail_with=RuntimeError("voice gone"))
    async with OpenAIServer(Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr(object(), "在吗"), voice, turns(2), tmp_path)
    assert records[0]["error"].startswith("AttributeError")
    assert voice.spoken == ["好。"] and records[1]["error"] is None


async def test_reasoning_is_never_spoken_nor_kept(tmp_path):
    voice = RecordingVoice()
    thinking = ("<thi", "nk>用户问天气，", "我应该简短回答。</th", "ink>今天", "晴天。")
    async with OpenAIServer(Script(deltas=thinking), Script(deltas=("<think>想了很久", "还没想完")),
                            Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr("天气怎么样", "再说一遍", "好吧"), voice, turns(3), tmp_path)
    assert voice.spoken == ["今天晴天。", *APOLOGY, "好。"]  # an unterminated block says nothing: apology
    assert records[0]["reply_text"] == "今天晴天。" and records[1]["error"].startswith("SilentReply")
    last = [r for r in srv.requests if r.method == "POST"][-1].body["messages"]
    assert [m["content"] for m in last if m["role"] == "assistant"] == ["今天晴天。"]


async def test_a_cough_during_the_reply_pauses_it_and_it_plays_on(tmp_path):
    """Onset -> the speaker is cleared at once and nothing plays; discarded -> it resumes from the
    first unheard sample; the turn ends normally with the whole reply heard and the LLM stream whole."""
    voice = RecordingVoice()
    reply = ("这是一个比较长的回答。", "还有第二句。")
    seen: dict = {}

    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000)  # 1 s of the reply heard
        yield SpeechStarted(2.0)
        seen["cleared"], seen["at"] = port.clears[-1], port.rendered
        await asyncio.sleep(0.1)  # 2 s of speaker time at speed 20
        seen["while_paused"] = port.rendered - seen["at"]
        yield SpeechDiscarded(2.0, 2.2)
        await done.wait()

    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05)) as srv:
        records, port = await converse(srv, ScriptedAsr("讲讲"), voice, events, tmp_path)
    assert seen["cleared"] > 0 and seen["while_paused"] == 0
    assert records[0]["interrupted"] is False and records[0]["heard_text"] == "".join(reply)
    total = sum(1600 * len(s) for s in reply)
    assert port.rendered == total, "audio was skipped or repeated around the pause"
    chat, = [r for r in srv.requests if r.method == "POST"]
    assert chat.completed and not chat.client_disconnected


async def test_a_first_sign_of_speech_that_comes_to_nothing_dips_the_reply_without_a_gap(tmp_path):
    """SpeechPossible -> the reply goes on at -15 dB, nothing cleared; rejected -> full level again.
    Every sample is heard once, the quiet ones while it was in doubt."""
    reply = ("这是一个比较长的回答。", "还有第二句。")
    seen: dict = {}

    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000)
        yield SpeechPossible(2.0)
        seen["at"] = port.rendered
        await asyncio.sleep(0.1)  # 2 s of speaker time at speed 20
        seen["while_doubted"] = port.rendered - seen["at"]
        yield SpeechRejected(2.0)
        await done.wait()

    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05)) as srv:
        records, port = await converse(srv, ScriptedAsr("讲讲"), RecordingVoice(), events, tmp_path)
    assert port.clears == [] and port.ducks == [DUCK_GAIN, 1.0]
    assert seen["while_doubted"] > 8000, "the reply kept playing while in doubt"
    assert records[0]["interrupted"] is False and records[0]["heard_text"] == "".join(reply)
    assert port.rendered == sum(1600 * len(s) for s in reply)
    heard = np.abs(port.heard)
    quiet = heard[seen["at"] + 640:seen["at"] + seen["while_doubted"] - 640]
    assert quiet.max() <= heard.max() * DUCK_GAIN * 1.01


async def test_a_possible_onset_that_becomes_speech_is_a_barge_in_heard_up_to_its_onset(tmp_path):
    """The reply plays on, turned down, from the first sign to the onset: that much was heard."""
    seen: dict = {}

    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000)
        yield SpeechPossible(2.0)
        first_sign = port.rendered
        await asyncio.sleep(0.02)  # at most 0.4 s more of the 2 s reply (the speaker plays 1 ms blocks at 20x)
        seen["at"] = port.rendered
        assert seen["at"] > first_sign and port.ducks == [DUCK_GAIN]
        yield SpeechStarted(2.0)
        yield Utterance(np.zeros(16000, dtype=np.float32), 2.0, 3.0)
        await until(lambda: len(finished) >= 2)

    reply = ("这是一个比较长的回答，还有很多很多内容。",)
    async with OpenAIServer(Script(deltas=reply), Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr("讲讲", "停"), RecordingVoice(), events, tmp_path)
    heard = records[0]["heard_text"]
    assert records[0]["interrupted"] and records[1]["user_text"] == "停"
    # a sentence cut part-way is credited the floor of its heard share of characters
    assert heard == reply[0][:len(heard)] and len(heard) == seen["at"] // 1600, (heard, seen["at"])


class SlowToStopVoice(RecordingVoice):
    """A voice whose stream takes 1 s to close when cancelled (a network TTS saying goodbye)."""

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        try:
            async for chunk in super().synthesize(text):
                yield chunk
            if "很长" in text:
                await asyncio.sleep(30)  # still "streaming" when the user barges in
        finally:
            await asyncio.shield(asyncio.sleep(1.0))


async def test_barge_in_silences_at_once_and_never_holds_up_the_front_end(tmp_path):
    seen: dict = {}

    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 3200)
        yield SpeechStarted(2.0)
        seen["cleared"] = bool(port.clears) and port.clears[-1] > 0
        loop = asyncio.get_running_loop()
        t = loop.time()
        yield Utterance(np.zeros(16000, dtype=np.float32), 2.0, 3.0)  # barge-in: the turn is cancelled
        seen["blocked_s"] = loop.time() - t
        await until(lambda: len(finished) >= 2)

    async with OpenAIServer(Script(deltas=("一个很长很长的回答。",)), Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, ScriptedAsr("讲讲", "停"), SlowToStopVoice(), events, tmp_path)
    assert seen["cleared"], "the speaker was not cleared on the onset itself"
    assert seen["blocked_s"] < 0.1, f"the front end waited {seen['blocked_s']:.2f} s on the cancellation"
    assert records[0]["interrupted"] and records[1]["user_text"] == "停"


WORDS = {1: "我想问", 2: "滨海新区的房价", 3: "你好"}


class WordsAsr(ScriptedAsr):
    """'Recognises' each 1 s block of an utterance by its constant value: joined audio reads joined."""

    def transcribe(self, samples, hotwords=(), timestamps=True):
        blocks = np.asarray(samples).reshape(-1, 16000)[:, 0]
        return Transcript("".join(WORDS[round(v * 10)] for v in blocks))


def said(value: float, start: float) -> Utterance:
    return Utterance(np.full(16000, value, dtype=np.float32), start, start + 1.0)


def tentative(u: Utterance) -> Tentative:
    return Tentative(u.samples, u.start_t, u.end_t)


async def test_a_reply_prepared_in_the_pause_is_heard_only_once_the_utterance_ends(tmp_path):
    """The LLM is asked and the reply synthesized during the pause (`Tentative`), but nothing reaches
    the speaker until the `Utterance` confirms the end; then it plays at once."""
    played_before_end: list[int] = []

    async def events(port, finished, done) -> AsyncIterator:
        u = said(0.3, 0.0)
        yield tentative(u)
        await until(lambda: voice.spoken)  # recognised, asked and synthesized while the user is silent
        await asyncio.sleep(0.1)
        played_before_end.append(port.rendered)
        yield u
        await until(lambda: finished)

    voice = RecordingVoice()
    async with OpenAIServer(Script(deltas=("你好。",))) as srv:
        records, port = await converse(srv, WordsAsr(), voice, events, tmp_path)
    assert played_before_end == [0] and port.rendered >= 1600 * 3
    [record] = records
    assert record["turn"] == 1 and record["user_text"] == "你好" and record["heard_text"] == "你好。"
    assert record["abandoned"] == 0
    marks = record["marks"]  # relative to the end of speech: the answer was ready before the endpoint
    assert marks["asr_done"] < marks["endpoint"] and marks["tts_first_audio"] < marks["endpoint"] <= marks["playback_start"]
    assert len([r for r in srv.requests if r.method == "POST"]) == 1


async def test_a_reply_prepared_in_a_pause_the_user_went_on_after_is_dropped_unheard(tmp_path):
    """"我想问", a pause (its reply prepared), and the user goes on: that LLM request is closed, none of
    it played or kept; the whole utterance is one turn, which reports the wasted request."""
    first = said(0.1, 0.0)

    async def events(port, finished, done) -> AsyncIterator:
        yield tentative(first)
        await until(lambda: srv.requests)
        yield SpeechResumed(0.0)
        whole = Utterance(np.concatenate([first.samples, said(0.2, 1.0).samples]), 0.0, 2.0)
        yield tentative(whole)
        yield whole
        await until(lambda: finished)

    voice = RecordingVoice()
    async with OpenAIServer(Script(deltas=("一半的回答。",), first_token_delay_s=1.0),
                            Script(deltas=("房价还行。",))) as srv:
        records, port = await converse(srv, WordsAsr(), voice, events, tmp_path)
    chats = [r for r in srv.requests if r.method == "POST"]
    assert len(chats) == 2 and chats[0].client_disconnected and "一半的回答。" not in voice.spoken
    assert [m["content"] for m in chats[1].body["messages"][1:]] == ["我想问滨海新区的房价"]
    [record] = records
    assert record["turn"] == 1 and record["user_text"] == "我想问滨海新区的房价" and record["abandoned"] == 1
    assert record["heard_text"] == "房价还行。"


async def test_a_barge_in_then_a_pause_reaches_the_llm_as_one_request(tmp_path):
    """Turn 1 is heard; the user barges in with "我想问", pauses (that part is endpointed and its
    turn is thinking) and goes on: the LLM gets "我想问滨海新区的房价" after the cut reply."""
    async def events(port, finished, done) -> AsyncIterator:
        yield said(0.3, 0.0)  # 你好
        await until(lambda: port.rendered >= 16000)
        yield SpeechStarted(5.0)
        yield said(0.1, 5.0)  # 我想问: barge-in
        yield SpeechStarted(6.7)  # ... goes on before anything of turn 2 was heard
        yield said(0.2, 6.7)  # 滨海新区的房价
        await until(lambda: finished and finished[-1].user_text == "我想问滨海新区的房价")

    voice = RecordingVoice()
    reply = ("你好呀，", "今天过得怎么样？", "有什么想聊的吗？")
    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05), Script(deltas=("好的。",))) as srv:
        records, _ = await converse(srv, WordsAsr(), voice, events, tmp_path)
    history = [r for r in srv.requests if r.method == "POST"][-1].body["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"] == "你好" and history[2]["content"].endswith("（被打断）")
    assert history[3]["content"] == "我想问滨海新区的房价"
    first, *between, last = records  # the half, if its turn had started, ends "continued" with nothing heard
    assert first["interrupted"] and not last["interrupted"] and last["user_text"] == "我想问滨海新区的房价"
    assert all(r["continued"] and r["heard_text"] == "" for r in between)
    assert voice.spoken[-1] == "好的。" and voice.spoken.count("好的。") == 1


async def test_a_pause_while_thinking_joins_the_two_halves_and_a_later_pause_is_a_new_turn(tmp_path):
    """"我想问" is endpointed, its turn waits for the LLM; the user goes on: one request with both
    halves, the first one's reply never played. After that reply is heard, "你好" is a turn of its own."""
    async def events(port, finished, done) -> AsyncIterator:
        yield said(0.1, 0.0)
        await asyncio.sleep(0.2)  # the LLM is slow to answer: still thinking
        yield SpeechStarted(1.7)
        yield said(0.2, 1.7)
        await until(lambda: finished and finished[-1].user_text == "我想问滨海新区的房价")
        yield said(0.3, 9.0)
        await until(lambda: len(finished) >= 3 or finished[-1].user_text == "你好")

    voice = RecordingVoice()
    async with OpenAIServer(Script(deltas=("一半的回答。",), first_token_delay_s=1.0),
                            Script(deltas=("房价还行。",)), Script(deltas=("你好。",))) as srv:
        records, _ = await converse(srv, WordsAsr(), voice, events, tmp_path)
    chats = [r for r in srv.requests if r.method == "POST"]
    assert chats[0].client_disconnected and "一半的回答。" not in voice.spoken
    assert [m["content"] for m in chats[-1].body["messages"][1:]] == ["我想问滨海新区的房价", "房价还行。", "你好"]
    assert records[0]["continued"] and records[0]["heard_text"] == ""


class EchoAsr(ScriptedAsr):
    """Hears the reply's own words in an utterance of value 0.5 (its echo), else the scripted texts."""

    def __init__(self, echo: str, *results):
        super().__init__(*results)
        self.echo = echo

    def transcribe(self, samples, hotwords=(), timestamps=True):
        if len(samples) and samples[0] == 0.5:
            return Transcript(self.echo)
        return super().transcribe(samples, hotwords, timestamps)


def echo(start: float) -> Utterance:
    return Utterance(np.full(16000, 0.5, dtype=np.float32), start, start + 1.0)


@pytest.mark.parametrize("heard_as", ["今天过得怎么样", "今天过得怎么样。", "今天過得怎麼樣"])
async def test_the_replys_echo_over_it_is_dropped_and_the_reply_plays_on(tmp_path, heard_as):
    """The echo cancellers let some of the reply through: an onset pauses it, and the utterance
    (recognised as the reply's own words, or their Traditional homophones) is never sent: the reply
    resumes and is heard whole, and no turn is recorded for the echo."""
    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000 * 1.6)
        yield SpeechStarted(5.0)
        yield echo(5.0)
        await done.wait()

    reply = ("你好呀，", "今天过得怎么样？", "有什么想聊的吗？")
    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05)) as srv:
        records, port = await converse(srv, EchoAsr(heard_as, "讲讲"), RecordingVoice(), events, tmp_path)
    assert len([r for r in srv.requests if r.method == "POST"]) == 1
    assert len(records) == 1 and not records[0]["interrupted"] and records[0]["heard_text"] == "".join(reply)
    assert port.rendered == sum(1600 * len(s) for s in reply), "audio was skipped or repeated around the pause"


async def test_the_replys_tail_heard_after_it_ended_is_no_turn(tmp_path):
    """The last words come back late (a speaker slower than the echo window allowed for)."""
    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await done.wait()
        yield echo(9.0)
        await asyncio.sleep(0.3)  # the echo's recognition and its check
        done.clear()
        yield UTTERANCE
        await done.wait()

    async with OpenAIServer(Script(deltas=("广州的房地产中介协会做了分析。",)), Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, EchoAsr("分析", "讲讲", "几点了"), RecordingVoice(), events, tmp_path)
    chats = [r for r in srv.requests if r.method == "POST"]
    assert [c.body["messages"][-1]["content"] for c in chats] == ["讲讲", "几点了"]
    assert [r["user_text"] for r in records] == ["讲讲", "几点了"]


async def test_a_user_who_repeats_the_reply_later_is_answered(tmp_path):
    """Words the speaker said longer ago than any echo path are the user's, even the reply's own."""
    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await done.wait()
        done.clear()
        await asyncio.sleep(3.5)  # wall time: beyond the echo's reach (1 s utterance + 0.6 s + 1.5 s)
        yield echo(20.0)
        await done.wait()

    async with OpenAIServer(Script(deltas=("广州的房地产中介协会做了分析。",)), Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, EchoAsr("分析", "讲讲"), RecordingVoice(), events, tmp_path)
    assert [r["user_text"] for r in records] == ["讲讲", "分析"]


async def test_a_barge_in_with_other_words_cuts_the_reply_after_its_recognition(tmp_path):
    """Over the reply, words that are not its own: a barge-in, recognised before the reply is cut."""
    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000 * 1.6)
        yield SpeechStarted(5.0)
        yield said(0.1, 5.0)
        await until(lambda: len(finished) >= 2)

    reply = ("你好呀，", "今天过得怎么样？", "有什么想聊的吗？")
    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05), Script(deltas=("好。",))) as srv:
        records, _ = await converse(srv, EchoAsr("x", "讲讲", "换一首歌"), RecordingVoice(), events, tmp_path)
    history = [r for r in srv.requests if r.method == "POST"][-1].body["messages"]
    assert records[0]["interrupted"] and records[1]["user_text"] == "换一首歌"
    assert history[2]["content"].endswith("（被打断）") and history[3]["content"] == "换一首歌"


async def test_noise_over_the_reply_recognised_as_nothing_lets_it_play_on(tmp_path):
    async def events(port, finished, done) -> AsyncIterator:
        yield UTTERANCE
        await until(lambda: port.rendered >= 16000 * 0.6)
        yield SpeechStarted(3.0)
        yield said(0.1, 3.0)
        await until(lambda: len(finished) >= 2)

    reply = ("你好呀，", "今天过得怎么样？")
    async with OpenAIServer(Script(deltas=reply, delta_delay_s=0.05)) as srv:
        records, _ = await converse(srv, ScriptedAsr("讲讲", "嗯。"), RecordingVoice(), events, tmp_path)
    noise, answered = records  # the noise's turn ends first, with nothing to send
    assert not noise["user_text"] and noise["reply_text"] == ""
    assert answered["heard_text"] == "".join(reply) and not answered["interrupted"]
