"""The last line of defence: a transcript that repeats what the speaker played is its echo."""

from __future__ import annotations

import pytest

from voiceloop.dialogue.echotext import match_echo, syllables

PLAYED = "好的，我听到了你说的话。广州的房地产中介协会做了分析。今天气温是-5℃，风力3级。"


@pytest.mark.parametrize("heard", [
    "分析",  # the reply's last word, come back late
    "广州的房地产中介协会",  # a stretch of it
    "廣州的房地產中介協會",  # Traditional characters (Whisper's habit)
    "广州地房地产中戒协会",  # homophones and a wrong character
    "我听到了你说的",  # one syllable short
    "今天气温是零下五摄氏度",  # numbers as the voice read them
    "今天气温是零下5摄氏度",  # ... or with the digit the recogniser writes
])
def test_the_replys_own_words_are_echo(heard):
    assert match_echo(heard, PLAYED) is not None


@pytest.mark.parametrize("heard", [
    "换一首歌",
    "甚至出现交易几乎停滞的情况",
    "广州天气怎么样",  # the same topic in the user's own words
    "我想问滨海新区的房价",
    "",
])
def test_the_users_own_words_are_not(heard):
    assert match_echo(heard, PLAYED) is None


def test_nothing_played_nothing_matched():
    assert match_echo("分析", "") is None


def test_recognisers_confusions_fold_together():
    assert syllables("知识") == syllables("资私") == ["zi", "si"]
    assert syllables("陈情") == syllables("层琴") == ["cen", "qin"]
    assert syllables("WiFi 5G") == ["wifi", "wu", "g"]


def test_a_partial_repeat_reports_the_stretch_and_its_distance():
    found = match_echo("协会做了分期", PLAYED)
    assert found is not None and found.syllables == 6 and found.distance == 1
    assert found.played == "xie hui zuo le fen xi"
