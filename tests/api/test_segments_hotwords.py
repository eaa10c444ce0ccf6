"""Cutting long audio at pauses, and the run-time hotwords file: pure logic and real files, no server."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from voiceloop.asr.segments import MAX_SEGMENT_S, MIN_SEGMENT_S, cut_points, split_at_pauses
from voiceloop.audio.decode import decode_file
from voiceloop.engines.hotwords import HotwordStore, split_hotwords
from support.recordings import ZH

STEP = 512 / 16000  # seconds per VAD window


def test_cuts_fall_in_the_pauses_and_no_segment_is_too_long():
    # 3 s speech, 0.5 s pause, 3 s speech, 0.5 s pause, 3 s speech (in 32 ms windows)
    pattern = [1.0] * 94 + [0.0] * 16 + [1.0] * 94 + [0.0] * 16 + [1.0] * 94
    probs = np.array(pattern, np.float32)
    segments = cut_points(probs, probs.size * 512)
    assert len(segments) == 3 and all(s.has_speech for s in segments)
    assert segments[0].start == 0 and segments[-1].end == probs.size * 512
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    for seg, pause_start in zip(segments, (94, 204)):
        assert pause_start * 512 <= seg.end <= (pause_start + 16) * 512  # inside the pause


def test_speech_without_pauses_is_cut_at_the_limit_and_silence_is_marked():
    probs = np.concatenate([np.ones(500, np.float32), np.zeros(300, np.float32)])
    segments = cut_points(probs, probs.size * 512)
    assert all((s.end - s.start) / 16000 <= MAX_SEGMENT_S + 0.05 for s in segments)
    assert all((s.end - s.start) / 16000 >= MIN_SEGMENT_S - 0.05 for s in segments[:-1])
    assert not segments[-1].has_speech and segments[0].has_speech


def test_real_speech_is_cut_between_recordings():
    gap = np.zeros(16000, np.float32)
    a = decode_file(ZH / "aishell1_BAC009S0724W0121.wav")[: 3 * 16000]  # 3 s: the pause is in the first window
    b = decode_file(ZH / "aishell1_BAC009S0764W0121.wav")
    segments = split_at_pauses(np.concatenate([a, gap, b]))
    assert sum(s.end - s.start for s in segments) == a.size + gap.size + b.size
    boundary = a.size + gap.size // 2
    assert abs(segments[0].end - boundary) < 0.5 * 16000, segments


def test_hotwords_file_is_reread_when_it_changes_and_written_atomically(tmp_path):
    store = HotwordStore(str(tmp_path / "sub" / "hotwords.txt"))
    assert store.current() == ()  # no file yet
    assert store.save(("达摩院", "魔搭", "达摩院")) == ("达摩院", "魔搭")
    assert (tmp_path / "sub" / "hotwords.txt").read_text(encoding="utf-8") == "达摩院\n魔搭\n"
    assert store.current() == ("达摩院", "魔搭")
    path = tmp_path / "sub" / "hotwords.txt"
    path.write_text("北京, 上海\n杭州\n", encoding="utf-8")  # edited by hand
    os.utime(path, ns=(1, 1))  # a different stamp even within one clock tick
    assert store.current() == ("北京", "上海", "杭州")
    assert [p.name for p in path.parent.iterdir()] == ["hotwords.txt"]  # no temp files left


@pytest.mark.parametrize("words, problem", [(("two words",), "without spaces"), (("x" * 51,), "at most 50")])
def test_unusable_hotwords_are_refused_with_the_reason(tmp_path, words, problem):
    with pytest.raises(ValueError, match=problem):
        HotwordStore(str(tmp_path / "h.txt")).save(words)
    with pytest.raises(ValueError, match="asr.hotwords_file is empty"):
        HotwordStore("").save(("a",))


def test_split_hotwords_accepts_chinese_and_western_separators():
    assert split_hotwords("达摩院，魔搭、北京 上海,杭州;深圳\n广州") == ("达摩院", "魔搭", "北京", "上海", "杭州", "深圳", "广州")
