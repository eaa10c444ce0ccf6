"""The whole front end in a simulated room: real Mandarin, echo louder than the user, bursty callbacks."""

from __future__ import annotations

import numpy as np
import pytest
from support.room_clips import REPLY_CLIPS, USER_CLIPS, clip, run_frontend
from support.simroom import RoomSpec, SimulatedRoom, normalize_speech

from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.speech import SpeechPossible, SpeechStarted, Tentative, Utterance
from voiceloop.config import Config, VadConfig

pytestmark = pytest.mark.slow  # long simulated rooms through the whole front end

TOLERANCE_S = 0.1


@pytest.mark.parametrize("delay_s", [0.0, 0.15])
async def test_each_user_utterance_comes_out_once_with_accurate_bounds(delay_s):
    script, t = [], 1.0
    for name in USER_CLIPS:
        samples = clip(name)
        script.append((t, samples))
        t += len(samples) / 16000 + 1.5
    room = SimulatedRoom(RoomSpec(delay_s=delay_s, snr_db=30.0, duration_s=t + 1.0), script)
    cfg = Config(vad=VadConfig(speculate_ms=200))
    events = [ev for _, ev in await run_frontend(room, FrontEnd(cfg))]
    utterances = [ev for ev in events if isinstance(ev, Utterance)]
    assert len(utterances) == len(USER_CLIPS)
    for utt, (start, end) in zip(utterances, room.truth.user_speech):
        assert abs(utt.start_t - start) <= TOLERANCE_S and abs(utt.end_t - end) <= TOLERANCE_S, (utt.start_t, utt.end_t, start, end)
        preroll = Config().vad.preroll_ms / 1000
        assert len(utt.samples) == pytest.approx((utt.end_t - utt.start_t + preroll + 0.2) * 16000, abs=320)
        assert np.sqrt(np.mean(utt.samples**2)) > 10 ** (-45 / 20)
    # Each is announced in its final pause (vad.speculate_ms) with the very samples it ends with.
    for i, ev in enumerate(events):
        if isinstance(ev, Utterance):
            before = events[i - 1]
            assert isinstance(before, Tentative) and (before.start_t, before.end_t) == (ev.start_t, ev.end_t)
            assert np.array_equal(before.samples, ev.samples)


async def test_twenty_replies_played_louder_than_the_user_give_no_utterance():
    replies = [normalize_speech(clip(REPLY_CLIPS[i % len(REPLY_CLIPS)]), -32.0) for i in range(20)]
    plays, t = [], 0.5
    for reply in replies:
        plays.append((t, reply))
        t += len(reply) / 16000 + 0.4
    room = SimulatedRoom(RoomSpec(delay_s=0.1, echo_gain_db=6.0, snr_db=30.0, duration_s=t + 1.0,
                                  render_block=3, capture_block=2))
    events = await run_frontend(room, FrontEnd(Config()), plays)
    assert len(room.truth.playback) == 20
    assert [(round(t, 2), ev) for t, ev in events if isinstance(ev, (Utterance, SpeechStarted))] == []


@pytest.mark.parametrize("user", [0, 1])
async def test_user_barging_in_during_playback_still_comes_out(user):
    """Double-talk with the echo 6 dB over the user. AEC3's suppressor holds the user back while
    the echo is strong, so the onset comes late (measured 0.1-0.7 s here); as the daemon does, the
    playback is cleared on `SpeechStarted`, and the rest of the utterance comes out clean."""
    reply = normalize_speech(clip(REPLY_CLIPS[0]), -32.0)
    room = SimulatedRoom(RoomSpec(delay_s=0.06, duration_s=12.0), [(4.0, clip(USER_CLIPS[user]))])
    front, events = FrontEnd(Config()), []
    await room.play(reply)
    async for ev in frontend_events(room.frames(), front):
        if isinstance(ev, SpeechStarted):
            room.clear()
        events.append(ev)
    (start, end), = room.truth.user_speech
    utterances = [ev for ev in events if isinstance(ev, Utterance)]
    assert [type(ev) for ev in events] == [SpeechPossible, SpeechStarted, Utterance]
    assert events[0].t <= events[1].t
    assert 0 <= utterances[0].start_t - start <= 0.8
    assert abs(utterances[0].end_t - end) <= TOLERANCE_S
    assert room.truth.playback[0].interrupted and room.truth.playback[0].end_t == pytest.approx(events[1].t, abs=1.0)


async def test_room_clear_stops_playback_and_logs_it():
    reply = normalize_speech(clip(REPLY_CLIPS[1]), -32.0)
    room = SimulatedRoom(RoomSpec(duration_s=3.0))
    await room.play(reply)
    dropped = None
    async for item in room.frames():
        if room.now >= 1.0 and dropped is None:
            dropped = room.clear()
    assert dropped == len(reply) - 100 * 160  # exactly the unplayed rest: 1 s was rendered
    (span,) = room.truth.playback
    assert span.start_t == 0.0 and span.interrupted and span.end_t == pytest.approx(1.0)
    assert room.truth.clears == [(pytest.approx(1.0), dropped)]
