"""The one parser of funasr-shaped results both Paraformer engines go through, and the join rule."""

from voiceloop.asr.base import Sentence
from voiceloop.asr.results import join_words, parse_results


def test_words_join_with_a_space_only_between_two_western_ends():
    assert join_words(["今天", "天气", "好"]) == "今天天气好"
    assert join_words(["play", "some", "jazz"]) == "play some jazz"
    assert join_words(["打开", "wifi", "设置", "OK"]) == "打开wifi设置OK"
    assert join_words(["iPhone", "15", "", "多少钱"]) == "iPhone 15多少钱"


def test_sentence_info_timestamps_and_bare_text_all_give_timed_sentences():
    with_info = [{"text": "你好。再见。", "sentence_info": [
        {"text": "你好。", "start": 10, "end": 500}, {"text": "再 见。", "start": 600, "end": 1300}]}]
    assert parse_results(with_info, 1000) == (
        "你好。再见。", (Sentence("你好。", 10, 500), Sentence("再见。", 600, 1000)))
    tokens = [{"text": "今 天 好", "timestamp": [[30, 200], [200, 380], [380, 700]]}]
    assert parse_results(tokens, 2000) == ("今天好", (Sentence("今天好", 30, 700),))
    assert parse_results([{"text": "嗯"}, {"text": "  "}], 800) == ("嗯", (Sentence("嗯", 0, 800),))
    assert parse_results([], 800) == ("", ())
