"""Whisper's Chinese output is normalised to what the rest of the pipeline expects."""

from __future__ import annotations

import pytest

from voiceloop.asr.whisper import fullwidth_punctuation


@pytest.mark.parametrize("raw, expected", [
    ("你好吗?今天天气不错,你的心情怎么样?", "你好吗？今天天气不错，你的心情怎么样？"),
    ("好.", "好。"),
    ("价格是3.5元", "价格是3.5元"),
    ("版本 3.14 和 v1.2", "版本 3.14 和 v1.2"),
    ("he said: ok, fine.", "he said: ok, fine."),
])
def test_ascii_punctuation_after_hanzi_becomes_fullwidth(raw, expected):
    assert fullwidth_punctuation(raw) == expected
