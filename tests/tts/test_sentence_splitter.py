"""Sentence splitting of streamed LLM text: boundaries, the early first clause, chunking invariance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceloop.tts.sentences import SentenceSplitter

# Replies in the shapes a chat model streams: Chinese prose, quotes, numbers, English, Markdown.
REPLIES = [
    "好的！今天北京的天气非常好，气温在二十度左右，非常适合出门散步。你有什么打算吗？",
    "我们今天来聊聊一个非常有意思的话题就是人工智能，它正在改变我们的生活，而且越来越快。",
    "他说：“你明天去吗？”我说：“去！”然后我们就出发了……路上花了3.5个小时。",
    "价格是3.14元. Mr. Smith paid 1,000 dollars. That is a lot! Isn't it? Yes; it is.",
    "步骤如下：\n1. 打开设置\n2. 点击“网络”\n3. 重启路由器。\n完成后再试一次。",
    "## 总结\n\n**重点**是多喝水。下面是代码：\n```python\nprint('a. b。c')\nx = 2.5\n```\n运行即可。",
    "嗯，这个问题（其实很常见）可以这样解决。首先……其次！最后？",
]

EXPECTED = {
    0: ["好的！", "今天北京的天气非常好，气温在二十度左右，非常适合出门散步。", "你有什么打算吗？"],
    1: ["我们今天来聊聊一个非常有意思的话题就是人工智能，", "它正在改变我们的生活，而且越来越快。"],
    2: ["他说：“你明天去吗？”", "我说：“去！”", "然后我们就出发了……", "路上花了3.5个小时。"],
    3: ["价格是3.14元.", "Mr. Smith paid 1,000 dollars.", "That is a lot!", "Isn't it?", "Yes;", "it is."],
    4: ["步骤如下：", "1. 打开设置", "2. 点击“网络”", "3. 重启路由器。", "完成后再试一次。"],
    5: ["## 总结", "**重点**是多喝水。", "下面是代码：",
        "```python\nprint('a. b。c')\nx = 2.5\n```", "运行即可。"],
    6: ["嗯，这个问题（其实很常见）可以这样解决。", "首先……", "其次！", "最后？"],
}


def split_all(text: str, cuts: list[int], first: int = 20) -> list[str]:
    s = SentenceSplitter(first)
    out: list[str] = []
    prev = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        out += s.push(text[prev:cut])
        prev = cut
    return out + s.flush()


@pytest.mark.parametrize("index", sorted(EXPECTED))
def test_realistic_replies_whole(index):
    assert split_all(REPLIES[index], []) == EXPECTED[index]


@pytest.mark.parametrize("index", sorted(EXPECTED))
def test_realistic_replies_one_character_at_a_time(index):
    text = REPLIES[index]
    assert split_all(text, list(range(1, len(text)))) == EXPECTED[index]


@settings(max_examples=150, deadline=None)
@given(index=st.sampled_from(sorted(EXPECTED)), data=st.data())
def test_any_chunking_gives_the_same_sentences(index, data):
    text = REPLIES[index]
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=40))
    assert split_all(text, cuts) == EXPECTED[index]


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("你好天气，,。.!？…”）3 aA\n`")), max_size=60), data=st.data())
def test_chunking_invariance_on_arbitrary_text_and_nothing_is_lost(text, data):
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    whole = split_all(text, [], first=6)
    assert split_all(text, cuts, first=6) == whole
    assert "".join(whole).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_sentence_is_emitted_as_soon_as_the_next_delta_starts():
    s = SentenceSplitter(20)
    assert s.push("你好。") == []  # a closing quote might still follow
    assert s.push("今") == ["你好。"]
    assert s.push("天”") == []
    assert s.flush() == ["今天”"]


def test_first_clause_splits_at_a_comma_only_for_the_first_sentence():
    s = SentenceSplitter(8)
    out = s.push("这是一个比较长的开头，后面还有内容。第二句也很长很长很长，不会在逗号处切开。")
    assert out + s.flush() == ["这是一个比较长的开头，", "后面还有内容。", "第二句也很长很长很长，不会在逗号处切开。"]


def test_short_reply_with_a_comma_is_not_split():
    s = SentenceSplitter(20)
    assert s.push("好的，没问题") == []
    assert s.flush() == ["好的，没问题"]


def test_flush_resets_for_the_next_reply():
    s = SentenceSplitter(4)
    s.push("一二三四五，六")
    s.flush()
    assert s.push("七八九十一，二。三") == ["七八九十一，", "二。"]


def _lines_run(text: str, delta: int, budget: int) -> int:
    """Push `text` in `delta`-character pieces and flush; the number of lines of the splitter's
    module that ran (a count of its work that no machine's speed or load changes). Fails as soon
    as it passes `budget`."""
    import sys

    import voiceloop.tts.sentences as module

    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count > budget:
                raise AssertionError(f"the splitter ran more than {budget} lines for {len(text)} characters")
        return local

    def calls(frame, event, arg):
        return local if frame.f_code.co_filename == module.__file__ else None

    splitter = module.SentenceSplitter(20)
    sys.settrace(calls)
    try:
        for at in range(0, len(text), delta):
            splitter.push(text[at:at + delta])
        splitter.flush()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("unit", ["没有标点的很长的一段话", "no full stop here ", "版本v1.2和3.14，", "Mr. Mrs. ",
                                  "```\nx = 1  # code\n"],
                         ids=["no-punctuation", "english-words", "dots-and-commas", "abbreviations", "code-block"])
def test_work_grows_linearly_with_text_that_never_ends_a_sentence(unit):
    """100 kB pushed a few characters at a time: linear work, not a rescan of the buffer per delta."""
    head = "开头。"  # so commas after it are no longer first-clause cuts
    small = head + unit * (10_000 // len(unit))
    large = head + unit * (100_000 // len(unit))
    per_char = _lines_run(small, 7, budget=60 * len(small)) / len(small)
    assert _lines_run(large, 7, budget=int(2 * per_char * len(large))) <= 2 * per_char * len(large)
