"""The endpointer is a pure function of (frame seconds, probability): no audio needed."""

from __future__ import annotations

import pytest

from voiceloop.audio.endpoint import Endpointer
from voiceloop.audio.speech import (
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechPossible,
    SpeechRejected,
    SpeechResumed,
    SpeechStarted,
)
from voiceloop.config import VadConfig

CFG = VadConfig(threshold=0.5, start_ms=60, pause_ms=60, end_silence_ms=600, min_utterance_ms=250, max_utterance_s=5.0,
                speculate_ms=0)
EARLY = VadConfig(threshold=0.5, start_ms=60, pause_ms=10, end_silence_ms=600, min_utterance_ms=250, max_utterance_s=5.0,
                  speculate_ms=0)
SPECULATE = VadConfig(threshold=0.5, start_ms=60, pause_ms=60, end_silence_ms=600, min_utterance_ms=250,
                      max_utterance_s=5.0, speculate_ms=200)


def feed(ep: Endpointer, pattern: list[tuple[float, float]], playing: bool = True) -> list[tuple[float, object]]:
    """pattern: (seconds, probability) stretches fed as 10 ms frames; returns (time, event)."""
    out, t = [], 0.0
    for seconds, prob in pattern:
        for _ in range(round(seconds / 0.01)):
            t += 0.01
            out += [(round(t, 2), ev) for ev in ep.step(0.01, prob, playing)]
    return out


def test_onset_after_start_ms_then_end_after_silence():
    events = feed(Endpointer(CFG), [(1.0, 0.0), (2.0, 0.9), (1.0, 0.0)])
    assert [type(ev) for _, ev in events] == [SpeechStarted, SpeechEnded]
    (t_onset, onset), (t_end, end) = events
    assert onset.t == pytest.approx(1.0) and t_onset == pytest.approx(1.06)
    assert (end.start_t, end.end_t) == (pytest.approx(1.0), pytest.approx(3.0))
    assert t_end == pytest.approx(3.6)


def test_short_blip_never_starts_and_short_speech_is_discarded():
    assert feed(Endpointer(CFG), [(0.05, 0.9), (1.0, 0.0)]) == []
    events = [ev for _, ev in feed(Endpointer(CFG), [(0.2, 0.9), (1.0, 0.0)])]
    assert events == [SpeechStarted(0.0), SpeechDiscarded(0.0, pytest.approx(0.2))]


def test_pause_shorter_than_end_silence_keeps_one_utterance():
    events = [ev for _, ev in feed(Endpointer(CFG), [(1.0, 0.9), (0.5, 0.1), (1.0, 0.9), (1.0, 0.0)])]
    assert events == [SpeechStarted(0.0), SpeechEnded(0.0, pytest.approx(2.5))]


def test_hysteresis_keeps_speech_between_thresholds():
    events = [ev for _, ev in feed(Endpointer(CFG), [(0.5, 0.9), (1.0, 0.4), (1.0, 0.0)])]
    assert events == [SpeechStarted(0.0), SpeechEnded(0.0, pytest.approx(1.5))]


def test_max_utterance_cuts_and_continues():
    events = [ev for _, ev in feed(Endpointer(CFG), [(12.0, 0.9), (1.0, 0.0)])]
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]
    assert events[1] == SpeechEnded(0.0, pytest.approx(5.0))
    assert events[2] == SpeechStarted(pytest.approx(5.0))
    assert events[-1].end_t == pytest.approx(12.0)


def test_hangover_is_taken_off_the_end_and_finish_flushes():
    ep = Endpointer(CFG, hangover_s=0.1)
    events = [ev for _, ev in feed(ep, [(1.0, 0.9), (0.2, 0.0)])]
    assert events == [SpeechStarted(0.0)] and ep.in_speech
    assert ep.finish() == [SpeechEnded(0.0, pytest.approx(0.9))]
    assert ep.finish() == [] and not ep.in_speech


def test_onset_lag_moves_the_start_back_not_the_report():
    events = feed(Endpointer(CFG, onset_lag_s=0.03), [(1.0, 0.0), (1.0, 0.9), (1.0, 0.0)])
    (t_onset, onset), (_, end) = events
    assert onset == SpeechStarted(pytest.approx(0.97)) and t_onset == pytest.approx(1.06)
    assert end.start_t == pytest.approx(0.97)


def test_a_possible_onset_comes_at_the_first_speech_frame_and_is_confirmed_or_rejected_once():
    events = feed(Endpointer(EARLY, onset_lag_s=0.03), [(1.0, 0.0), (0.03, 0.9), (0.5, 0.0), (1.0, 0.9), (1.0, 0.0)])
    assert [(t, type(ev)) for t, ev in events] == [
        (1.01, SpeechPossible), (1.23, SpeechRejected),  # a 30 ms blip: announced, taken back after 200 ms quiet
        (1.54, SpeechPossible), (1.59, SpeechStarted), (3.13, SpeechEnded)]
    assert events[0][1] == SpeechPossible(pytest.approx(0.97)) and events[1][1] == SpeechRejected(pytest.approx(0.97))
    assert events[2][1].t == events[3][1].t == events[4][1].start_t == pytest.approx(1.5)


def test_once_announced_a_possible_onset_outlasts_quiet_until_the_dip_can_be_heard():
    """A reply turned down at the first sign reaches the microphone quieter only after its buffer and
    the echo path: 150 ms of quiet under the still-loud echo keeps the reply down, and the user's
    speech after it is the same possible onset, now confirmed (no up-down-up-down)."""
    pattern = [(1.0, 0.0), (0.03, 0.9), (0.15, 0.2), (0.03, 0.9), (0.12, 0.2), (1.0, 0.9), (1.0, 0.0)]
    told = feed(Endpointer(EARLY), pattern)
    assert [type(ev) for _, ev in told] == [SpeechPossible, SpeechStarted, SpeechEnded]
    quiet = [type(ev) for _, ev in feed(Endpointer(EARLY), pattern, playing=False)]
    assert quiet == [SpeechStarted, SpeechEnded]  # nothing playing: no announcement, the same onset
    assert told[1][1] == SpeechStarted(pytest.approx(1.33))


def test_a_soft_onset_that_flickers_for_a_window_is_one_possible_onset_then_speech():
    events = feed(Endpointer(EARLY), [(1.0, 0.0), (0.03, 0.9), (0.04, 0.2), (1.0, 0.9), (1.0, 0.0)])
    assert [(t, type(ev)) for t, ev in events] == [(1.01, SpeechPossible), (1.13, SpeechStarted), (2.67, SpeechEnded)]
    assert events[1][1].t == events[2][1].start_t == pytest.approx(1.07)


def test_a_possible_onset_is_rejected_at_the_end_of_the_stream_and_never_after_an_onset():
    ep = Endpointer(EARLY)
    assert [ev for _, ev in feed(ep, [(0.02, 0.9)])] == [SpeechPossible(0.0)]
    assert ep.finish() == [SpeechRejected(0.0)] and ep.finish() == []
    events = [type(ev) for _, ev in feed(Endpointer(EARLY), [(0.2, 0.9), (0.02, 0.0), (1.0, 0.0)])]
    assert events == [SpeechPossible, SpeechStarted, SpeechDiscarded]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="frame_s"):
        Endpointer(CFG).step(0.0, 0.5)
    with pytest.raises(ValueError, match="hangover_s"):
        Endpointer(CFG, hangover_s=-1)


def test_events_are_on_the_origins_clock():
    events = [ev for _, ev in feed(Endpointer(EARLY, origin=5000.0), [(1.0, 0.0), (0.03, 0.9), (0.2, 0.0),
                                                                     (1.0, 0.9), (0.1, 0.0), (1.0, 0.0)])]
    assert events == [SpeechPossible(pytest.approx(5001.0)), SpeechRejected(pytest.approx(5001.0)),
                      SpeechPossible(pytest.approx(5001.23)), SpeechStarted(pytest.approx(5001.23)),
                      SpeechEnded(pytest.approx(5001.23), pytest.approx(5002.23))]


def test_with_nothing_playing_no_possible_onset_is_announced_and_onsets_come_as_they_would():
    pattern = [(1.0, 0.0), (0.03, 0.9), (0.04, 0.2), (1.0, 0.9), (1.0, 0.0), (0.02, 0.9), (1.0, 0.0)]
    quiet, playing = Endpointer(EARLY), Endpointer(EARLY)
    heard, out = [], []
    t = 0.0
    for seconds, prob in pattern:
        for _ in range(round(seconds / 0.01)):
            t += 0.01
            heard += [(round(t, 2), ev) for ev in quiet.step(0.01, prob, playing=False)]
            out += [(round(t, 2), ev) for ev in playing.step(0.01, prob, playing=True)]
    assert heard == [(t, ev) for t, ev in out if not isinstance(ev, SpeechPossible | SpeechRejected)]
    assert [type(ev) for _, ev in heard] == [SpeechStarted, SpeechEnded]
    assert [type(ev) for _, ev in out] == [SpeechPossible, SpeechStarted, SpeechEnded, SpeechPossible, SpeechRejected]


def test_a_pause_of_speculate_ms_is_announced_with_the_end_the_utterance_will_have():
    events = feed(Endpointer(SPECULATE), [(1.0, 0.0), (2.0, 0.9), (1.0, 0.0)])
    assert [(t, type(ev)) for t, ev in events] == [(1.06, SpeechStarted), (3.2, SpeechPaused), (3.6, SpeechEnded)]
    paused, ended = events[1][1], events[2][1]
    assert (paused.start_t, paused.end_t) == pytest.approx((ended.start_t, ended.end_t))


def test_speech_after_the_pause_resumes_and_the_end_comes_later_with_the_whole_utterance():
    events = feed(Endpointer(SPECULATE), [(1.0, 0.0), (1.0, 0.9), (0.3, 0.0), (1.0, 0.9), (1.0, 0.0)])
    kinds = [(t, type(ev)) for t, ev in events]
    assert kinds == [(1.06, SpeechStarted), (2.2, SpeechPaused), (2.31, SpeechResumed), (3.5, SpeechPaused),
                     (3.9, SpeechEnded)]
    assert events[-1][1].start_t == pytest.approx(1.0) and events[-1][1].end_t == pytest.approx(3.3)
    assert events[2][1].start_t == pytest.approx(1.0)


@pytest.mark.parametrize("speculate_ms", [0, 600, 900])
def test_speculation_is_off_at_zero_or_at_the_end_silence(speculate_ms):
    cfg = VadConfig(pause_ms=60, end_silence_ms=600, speculate_ms=speculate_ms)
    events = feed(Endpointer(cfg), [(1.0, 0.0), (2.0, 0.9), (1.0, 0.0)])
    assert [type(ev) for _, ev in events] == [SpeechStarted, SpeechEnded]


def test_no_pause_is_announced_for_a_sound_too_short_to_be_an_utterance():
    events = feed(Endpointer(SPECULATE), [(1.0, 0.0), (0.15, 0.9), (1.0, 0.0)])
    assert [type(ev) for _, ev in events] == [SpeechStarted, SpeechDiscarded]
