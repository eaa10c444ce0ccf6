"""<think> blocks never reach the voice, however the stream splits the tags."""

from __future__ import annotations

import pytest

from voiceloop.llm.think import ThinkFilter


def run(deltas) -> str:
    f = ThinkFilter()
    return "".join(f.push(d) for d in deltas) + f.flush()


REPLY = "<think>用户问天气。\n我应该简短。</think>今天晴天，<b>不</b>冷。<think>再想想</think>就这样。"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_every_split_of_the_stream_gives_the_same_visible_text(size):
    deltas = [REPLY[i:i + size] for i in range(0, len(REPLY), size)]
    assert run(deltas) == "今天晴天，<b>不</b>冷。就这样。"


def test_every_single_cut_point():
    for i in range(len(REPLY) + 1):
        assert run([REPLY[:i], REPLY[i:]]) == "今天晴天，<b>不</b>冷。就这样。", i


def test_unterminated_block_swallows_the_rest_and_plain_text_passes_untouched():
    assert run(["好的。<think>想了很久", "还没想完"]) == "好的。"
    assert run(["a < b, 1 <", "2 and <thin", "g>"]) == "a < b, 1 <2 and <thing>"
    assert run(["结尾是 <thi"]) == "结尾是 <thi"
