"""What the user heard, accounted from what really left the speaker (scripted AudioPort, no audio)."""

from __future__ import annotations

import asyncio

import numpy as np
from support.scripted_port import ScriptedPort

from voiceloop.dialogue.playout import Playout

S1, S2, S3 = "今天天气很好。", "我们去公园吧。", "记得带上雨伞和水。"


def ramp(start: int, n: int) -> np.ndarray:
    """Distinct sample values, so what was played can be checked for gaps and repeats."""
    return np.arange(start, start + n, dtype=np.float32)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def sentence(p: Playout, text: str, start: int, n: int) -> None:
    p.begin(text)
    await p.add(ramp(start, n))
    p.end_sentence()


async def test_whole_reply_heard():
    port = ScriptedPort()
    p = Playout(port)
    await sentence(p, S1, 0, 1600)
    await sentence(p, S2, 1600, 1600)
    drained = asyncio.create_task(p.drain())
    await settle()
    port.render(3200)
    await asyncio.wait_for(drained, 1)
    p.stop()
    assert p.heard_text() == S1 + S2 and p.text() == S1 + S2
    assert np.array_equal(port.heard, ramp(0, 3200))


async def test_cut_mid_sentence_keeps_the_heard_share_of_its_characters():
    port = ScriptedPort()
    p = Playout(port)
    await sentence(p, S1, 0, 1400)
    await sentence(p, S2, 1400, 1400)
    await settle()
    port.render(1400 + 600)  # S1 and 3/7 of S2
    assert p.pause() == (1400 + 600) / 16000
    assert port.clears == [800] and port.queued == 0  # silenced at once, on the pause itself
    p.stop()
    assert p.heard_text() == S1 + S2[:3]


async def test_a_sentence_still_being_queued_at_the_cut_counts_only_what_was_played():
    """S3's TTS has delivered 0.2 s of audio when the user cuts in: that is all that was heard of it,
    and its share of the text is estimated from its length in characters (0.2 s each)."""
    port = ScriptedPort()
    p = Playout(port)
    await sentence(p, S1, 0, 1600)
    p.begin(S3)
    await p.add(ramp(1600, 3200))  # 0.2 s of a 9-character sentence (~1.8 s when done)
    await settle()
    port.render(1600 + 3200)
    p.pause()
    p.stop()
    heard = p.heard_text()
    assert heard.startswith(S1) and 0 < len(heard) - len(S1) < 3, heard
    assert p.text() == S1 + S3


async def test_nothing_rendered_nothing_heard_when_the_speaker_is_gone():
    port = ScriptedPort()
    port.gone = True
    p = Playout(port)
    await sentence(p, S1, 0, 1600)
    await asyncio.wait_for(p.drain(), 1)
    p.stop()
    assert p.heard_samples() == 0 and p.heard_text() == ""
    assert p.text() == S1


async def test_pause_then_resume_plays_on_from_the_first_unheard_sample():
    port = ScriptedPort()
    p = Playout(port)
    await sentence(p, S1, 0, 3200)
    await settle()
    port.render(1000)
    p.pause()
    await sentence(p, S2, 3200, 1600)  # TTS goes on while paused: held, not played
    await settle()
    assert port.queued == 0 and port.render(500) == 0
    p.resume()
    drained = asyncio.create_task(p.drain())
    await settle()
    port.render(10_000)
    await asyncio.wait_for(drained, 1)
    p.stop()
    assert np.array_equal(port.heard, ramp(0, 4800)), "a gap or a repeat at the resume point"
    assert p.heard_text() == S1 + S2


async def test_a_play_blocked_on_a_full_speaker_delivers_nothing_after_the_pause():
    port = ScriptedPort(capacity=1000)
    p = Playout(port)
    await sentence(p, S1, 0, 1600)
    await sentence(p, S2, 1600, 1600)  # the feeder's second play() waits for room
    await settle()
    assert port.queued == 1600
    p.pause()
    await settle()
    port.render(10_000)
    assert port.queued == 0 and len(port.heard) == 0
    p.stop()
    assert p.heard_text() == ""


async def test_drain_waits_through_a_pause_and_stop_ends_it():
    port = ScriptedPort()
    p = Playout(port)
    await sentence(p, S1, 0, 1600)
    await settle()
    p.pause()
    drained = asyncio.create_task(p.drain())
    await settle()  # every task that could finish it has run: none does while paused
    assert not drained.done()
    p.stop()
    await asyncio.wait_for(drained, 1)


async def test_tts_cannot_run_more_than_a_few_seconds_ahead_of_the_speaker():
    port = ScriptedPort(capacity=16000)
    p = Playout(port)
    p.begin(S1)
    for i in range(6):  # 2 s in the port, 4 s waiting: the limit
        await asyncio.wait_for(p.add(ramp(i * 16000, 16000)), 1)
    adding = asyncio.create_task(p.add(ramp(6 * 16000, 16000)))
    await settle()
    assert not adding.done()
    port.render(16000)
    await asyncio.wait_for(adding, 1)
