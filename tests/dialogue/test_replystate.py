"""The reply's state machine as a table (pure), then `Turn.step` doing what each state means to a
real Playout on a recording port."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from support.scripted_port import ScriptedPort

from voiceloop.audio.speech import Utterance
from voiceloop.audio.port import DUCK_GAIN
from voiceloop.dialogue.playout import Playout
from voiceloop.dialogue.replystate import Reply, Signal, transition
from voiceloop.dialogue.turn import Turn

P, D, H, U, C, J = Reply.PLAYING, Reply.DOUBTED, Reply.HELD, Reply.UNHEARD, Reply.CUT, Reply.JOINED
POS, REJ, STA, DIS, UTT, ON, CUT = (Signal.POSSIBLE, Signal.REJECTED, Signal.STARTED, Signal.DISCARDED,
                                    Signal.UTTERANCE, Signal.PLAY_ON, Signal.CUT)

# (state, signal, heard, barge_in) -> state
TABLE = [
    # a possible onset pauses a reply, its rejection resumes it
    (P, POS, True, True, D), (P, POS, False, True, D), (D, REJ, True, True, P), (P, REJ, True, True, P),
    (D, POS, True, True, D), (D, DIS, True, True, D),
    # a speech onset holds it: heard decides between a barge-in candidate and a user who only paused
    (P, STA, True, True, H), (P, STA, False, True, U), (D, STA, True, True, H), (D, STA, False, True, U),
    (H, STA, True, True, H), (U, STA, False, True, U), (H, POS, True, True, H), (H, REJ, True, True, H),
    # a cough: plays on
    (H, DIS, True, True, P), (U, DIS, False, True, P), (P, DIS, True, True, P),
    # an utterance: recognised over a heard reply, joined with an unheard one
    (H, UTT, True, True, H), (U, UTT, False, True, J), (P, UTT, True, True, H), (P, UTT, False, True, J),
    (D, UTT, True, True, H), (D, UTT, False, True, J),
    # what the utterance over a held reply turned out to be
    (H, ON, True, True, P), (H, CUT, True, True, C), (U, CUT, False, True, C), (P, CUT, True, True, C),
    (D, ON, True, True, P),
    # barge-in off: a heard reply is never paused, an utterance over it is ignored
    (P, POS, True, False, P), (P, STA, True, False, P), (P, UTT, True, False, P), (P, REJ, True, False, P),
    # ... but the user who only paused before the reply was heard is still joined
    (P, POS, False, False, D), (P, STA, False, False, U), (U, UTT, False, False, J), (P, UTT, False, False, J),
    (H, DIS, True, False, P), (H, UTT, True, False, H),
    # over is over
    *[(end, sig, heard, True, end) for end in (C, J) for sig in Signal for heard in (True, False)],
]


@pytest.mark.parametrize(("state", "signal", "heard", "barge_in", "expected"), TABLE,
                         ids=[f"{s.value}-{g.value}-{'heard' if h else 'unheard'}-{'barge' if b else 'nobarge'}"
                              for s, g, h, b, _ in TABLE])
def test_transition_table(state, signal, heard, barge_in, expected):
    assert transition(state, signal, heard=heard, barge_in=barge_in) is expected


def test_every_state_and_signal_has_an_answer_and_only_cut_and_join_are_over():
    for state in Reply:
        for signal in Signal:
            for heard in (True, False):
                for barge_in in (True, False):
                    new = transition(state, signal, heard=heard, barge_in=barge_in)
                    assert isinstance(new, Reply)
                    assert new.over == (state.over or signal is Signal.CUT or new is Reply.JOINED)


async def _live_turn(port: ScriptedPort) -> Turn:
    turn = Turn(1, Utterance(np.zeros(160, np.float32), 0.0, 0.01), Playout(port))
    turn.task = asyncio.create_task(asyncio.Event().wait())
    turn.playout.begin("你好，我是语音助手。")
    await turn.playout.add(np.full(16000, 0.1, np.float32))
    for _ in range(5):
        await asyncio.sleep(0)  # the feeder queues the sentence on the port
    return turn


async def test_a_turn_pauses_resumes_and_is_cancelled_as_its_state_says():
    port = ScriptedPort()
    turn = await _live_turn(port)
    assert port.queued == 16000
    assert turn.step(Signal.POSSIBLE) is D and not turn.playout.paused and port.clears == []
    assert port.ducks == [DUCK_GAIN] and port.queued == 16000  # turned down, still playing
    assert turn.step(Signal.REJECTED) is P and port.ducks == [DUCK_GAIN, 1.0]
    assert turn.step(Signal.POSSIBLE) is D and port.ducks[-1] == DUCK_GAIN
    assert turn.step(Signal.STARTED) is U and turn.playout.paused  # nothing heard yet
    assert port.clears == [16000] and port.ducks[-1] == 1.0  # silenced; full level for what comes next
    assert turn.step(Signal.DISCARDED) is P and not turn.playout.paused
    assert turn.step(Signal.UTTERANCE) is J
    with pytest.raises(asyncio.CancelledError):
        await turn.task
    assert turn.step(Signal.PLAY_ON) is J  # a finished turn stays as it ended


async def test_a_heard_reply_is_held_then_plays_on_from_the_first_sample_not_heard():
    port = ScriptedPort()
    turn = await _live_turn(port)
    port.render(8000)  # half a second left the speaker
    assert turn.step(Signal.STARTED) is H and turn.playout.heard_s() == pytest.approx(0.5)
    assert port.queued == 0
    assert turn.step(Signal.PLAY_ON) is P
    for _ in range(5):
        await asyncio.sleep(0)
    assert port.queued == 8000  # the unheard half, queued again
    assert turn.step(Signal.CUT) is C
    with pytest.raises(asyncio.CancelledError):
        await turn.task
