"""The doubt gate on real engines: an onset heard over the speaker by AEC3 alone waits for a fresh
canceller's verdict; the echo is rejected, the user let through, nothing of theirs dropped."""

from __future__ import annotations

import numpy as np
import pytest
from support.recordings import ZH
from support.simroom import normalize_speech

from voiceloop.audio.decode import decode_file
from voiceloop.audio.doubt import DoubtGate
from voiceloop.audio.frames import FRAME_SAMPLES
from voiceloop.audio.hindsight import Hindsight
from voiceloop.audio.port import Captured
from voiceloop.audio.speech import (
    SpeechDiscarded,
    SpeechPossible,
    SpeechRejected,
    SpeechStarted,
    Tentative,
    Utterance,
)
from voiceloop.config import AecConfig, VadConfig

_DELAY = 800  # samples: a 50 ms echo path


def _signals(user_db: float | None, seconds: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """(reference, mic): a Mandarin reply and its echo, with a user from 3.0 s on when `user_db`."""
    n = int(seconds * 16000)
    reply = np.resize(normalize_speech(decode_file(ZH / "funasr_csharp_1.wav"), -32.0), n)
    mic = np.zeros(n, np.float32)
    mic[_DELAY:] = 0.5 * reply[:-_DELAY]
    mic += np.random.default_rng(1).normal(0, 1e-4, n).astype(np.float32)
    if user_db is not None:
        user = normalize_speech(decode_file(ZH / "aishell1_BAC009S0724W0121.wav"), user_db)[:48000]
        mic[48000:48000 + len(user)] += user
    return reply.astype(np.float32), mic


def _run(ref: np.ndarray, mic: np.ndarray, script: dict[float, list], double_talk_at: float | None = None):
    """Frames through the gate, `script`'s events (by frame time) into `step`; what comes out, timed."""
    hindsight = Hindsight(AecConfig(noise_suppression=False), VadConfig())
    frames = [Captured(mic[k:k + FRAME_SAMPLES], k / 16000) for k in range(0, len(mic), FRAME_SAMPLES)]
    refs = {float(k * FRAME_SAMPLES): ref[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES] for k in range(len(frames))}
    gate, out = DoubtGate(VadConfig()), []
    for k, item in enumerate(frames):
        if gate.busy:
            gate.feed(item, refs[float(k * FRAME_SAMPLES)])
        context = [(f, float(j * FRAME_SAMPLES)) for j, f in enumerate(frames[:k + 1]) if f.t >= item.t - 3.0]
        doubtful = (lambda context=context: hindsight.check(context, refs.__getitem__, None))
        events = script.get(round(item.t, 2), [])
        out += [(item.t, ev) for ev in gate.step(events, item.t, doubtful, item.t == double_talk_at)]
    return out + [(None, ev) for ev in gate.finish()]


def _speech_script(end_t: float = 5.5) -> dict[float, list]:
    return {3.0: [SpeechPossible(3.0)], 3.06: [SpeechStarted(3.0)], 4.5: [Tentative(np.zeros(1), 3.0, 4.5)],
            end_t + 0.6: [Utterance(np.zeros(1), 3.0, end_t)]}


def test_the_echo_alone_only_turns_the_reply_down_and_is_rejected_when_it_ends():
    out = _run(*_signals(None), _speech_script())
    assert [type(ev) for _, ev in out] == [SpeechPossible, SpeechRejected]
    assert out[1][1] == SpeechRejected(5.5)  # nothing withheld went out: no cut, no Tentative, no Utterance


def test_the_user_over_the_echo_stops_the_reply_before_they_finish_and_keeps_every_event():
    out = _run(*_signals(-26.0), _speech_script())
    kinds = [type(ev) for _, ev in out]
    assert kinds == [SpeechPossible, SpeechStarted, Tentative, Utterance], out
    started_at = out[1][0]
    assert 3.4 <= started_at <= 4.2, out  # an early verdict, long before the utterance's end (6.1 s)
    assert out[1][1] == SpeechStarted(3.0)


def test_the_double_talk_detector_hearing_the_user_ends_the_doubt_at_once():
    out = _run(*_signals(None), _speech_script(), double_talk_at=3.2)
    assert [(t, type(ev)) for t, ev in out[:2]] == [(3.0, SpeechPossible), (pytest.approx(3.2), SpeechStarted)]
    assert [type(ev) for _, ev in out[2:]] == [Tentative, Utterance]


def test_speech_too_short_to_be_an_utterance_is_a_rejection_not_a_cut():
    out = _run(*_signals(None), {3.0: [SpeechPossible(3.0)], 3.06: [SpeechStarted(3.0)],
                                 3.5: [SpeechDiscarded(3.0, 3.2)]})
    assert [type(ev) for _, ev in out] == [SpeechPossible, SpeechRejected]
